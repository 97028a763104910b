"""Several independent readers per item: a worklist with ``readers_per_item`` N > 1 lets at most N
readers work on each of its resources, and hides each reader's labels from the other readers
until the item is complete (all N readers marked it ``annotated`` or ``closed``).

Invariants held by the database and one lock:

* a reader takes a slot 1..N of an item when they open it or first annotate it; the next free
  slot is chosen under :func:`~datamint.server.db.locks.serialize` on the item, the primary key
  (worklist, resource, slot) keeps one reader per slot and the unique (worklist, resource, user)
  one slot per reader, so 16 readers racing for a 3-reader item leave exactly 3 slots taken;
* the item's completion row is written once, by the request that marks the N-th reader done,
  under the same lock, reading N under a share lock of the worklist row;
* resetting a reader's status frees their slot (:func:`release`), and the item is no longer
  complete when fewer than N readers are then done;
* changing ``readers_per_item`` (under the worklist's row lock) completes the items that already
  have the new N readers done (:func:`complete_reached`); items complete before stay complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.models import User
from datamint.server.auth.service import Principal
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, ValidationFailedError
from datamint.server.projects.models import ProjectMember
from datamint.server.worklists.models import ItemCompletion, ReaderSlot, Worklist

MAX_READERS = 20
DONE_STATUSES = ("annotated", "closed")


def check_readers(value: int | None, project_id: str | None) -> int | None:
    """A valid ``readers_per_item`` (1..20; more than one only in a project's worklist)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_READERS:
        raise ValidationFailedError(f"readers_per_item must be an integer from 1 to {MAX_READERS}, got {value!r}")
    if value > 1 and project_id is None:
        raise ValidationFailedError("Several readers per item need a project's worklist: pass project")
    return value


def is_multi(worklist: Worklist | None) -> bool:
    """Whether the worklist asks for several readers per item."""
    return worklist is not None and (worklist.readers_per_item or 1) > 1


def claim(session: Session, worklist: Worklist, resource_id: str, user_id: str) -> int | None:
    """Give the user a reader slot on the item (the one they hold, or the next free one).

    Returns:
        The slot number (``None`` for single-reader worklists).

    Raises:
        ConflictError: The item already has its N readers.
    """
    if not is_multi(worklist):
        return None
    mine = select(ReaderSlot.slot).where(ReaderSlot.worklist_id == worklist.id,
                                         ReaderSlot.resource_id == resource_id, ReaderSlot.user_id == user_id)
    held = session.scalar(mine)
    if held is not None:
        return held
    wanted = worklist.readers_per_item
    worklist_id = worklist.id
    locks.serialize(session, "reader-slots", worklist_id, resource_id)
    held = session.scalar(mine)
    if held is not None:
        return held
    taken = {slot: uid for slot, uid in session.execute(
        select(ReaderSlot.slot, ReaderSlot.user_id).where(ReaderSlot.worklist_id == worklist_id,
                                                          ReaderSlot.resource_id == resource_id))}
    free = [n for n in range(1, wanted + 1) if n not in taken]
    if not free:
        emails = sorted(session.scalars(select(User.email).where(User.id.in_(list(taken.values())))))
        raise ConflictError(f"This resource already has its {wanted} readers ({', '.join(emails)}); "
                            "pick another resource of the worklist")
    session.add(ReaderSlot(worklist_id=worklist_id, resource_id=resource_id, slot=free[0], user_id=user_id))
    session.flush()
    return free[0]


def finish(session: Session, worklist: Worklist, resource_id: str, user_id: str) -> bool:
    """Mark the user's reading of the item done (claiming a slot first if needed); complete the
    item when all N readers are done.

    Returns:
        Whether the item is complete.
    """
    if not is_multi(worklist):
        return False
    claim(session, worklist, resource_id, user_id)
    worklist_id = worklist.id
    locks.serialize(session, "reader-slots", worklist_id, resource_id)
    # N as committed: a change of readers_per_item (which holds the row lock) ends first, then
    # counts this reader's done slot or is counted by it (:func:`complete_reached`)
    wanted = session.scalar(select(Worklist.readers_per_item).where(Worklist.id == worklist_id)
                            .with_for_update(read=True)) or 1
    slots = session.scalars(select(ReaderSlot).where(ReaderSlot.worklist_id == worklist_id,
                                                     ReaderSlot.resource_id == resource_id)).all()
    now = utcnow()
    for slot in slots:
        if slot.user_id == user_id and slot.done_at is None:
            slot.done_at = now
    done = sum(1 for s in slots if s.done_at is not None)
    complete = session.get(ItemCompletion, (worklist_id, resource_id)) is not None
    if done >= wanted and not complete:
        session.add(ItemCompletion(worklist_id=worklist_id, resource_id=resource_id, completed_at=now))
        complete = True
    session.flush()
    return complete


def release(session: Session, worklists: Sequence[Worklist], resource_id: str, user_id: str) -> int:
    """Free the user's reader slot on the item in these worklists (their status was reset): another
    reader may take it; an item complete before is not complete any more when fewer than its N
    readers are then done (its readers read blind again until it is).

    Returns:
        How many slots were freed.
    """
    freed = 0
    for worklist in sorted((w for w in worklists if is_multi(w)), key=lambda w: w.id):
        locks.serialize(session, "reader-slots", worklist.id, resource_id)
        gone = session.execute(delete(ReaderSlot).where(ReaderSlot.worklist_id == worklist.id,
                                                        ReaderSlot.resource_id == resource_id,
                                                        ReaderSlot.user_id == user_id)).rowcount or 0
        if not gone:
            continue
        freed += gone
        done = session.scalar(select(func.count()).select_from(ReaderSlot).where(
            ReaderSlot.worklist_id == worklist.id, ReaderSlot.resource_id == resource_id,
            ReaderSlot.done_at.is_not(None))) or 0
        if done < worklist.readers_per_item:
            session.execute(delete(ItemCompletion).where(ItemCompletion.worklist_id == worklist.id,
                                                         ItemCompletion.resource_id == resource_id))
    return freed


def complete_reached(session: Session, worklist: Worklist) -> int:
    """Complete the items of the worklist that have ``readers_per_item`` readers done and no
    completion yet (after N was lowered). Call it holding the worklist's row lock.

    Returns:
        How many items became complete.
    """
    if not is_multi(worklist):
        return 0
    completed = exists().where(ItemCompletion.worklist_id == ReaderSlot.worklist_id,
                               ItemCompletion.resource_id == ReaderSlot.resource_id)
    reached = list(session.scalars(
        select(ReaderSlot.resource_id).where(ReaderSlot.worklist_id == worklist.id, ReaderSlot.done_at.is_not(None),
                                             ~completed)
        .group_by(ReaderSlot.resource_id).having(func.count() >= worklist.readers_per_item)
        .order_by(ReaderSlot.resource_id)))
    now = utcnow()
    session.add_all(ItemCompletion(worklist_id=worklist.id, resource_id=rid, completed_at=now) for rid in reached)
    session.flush()
    return len(reached)


def blind_worklist_ids(session: Session, me: Principal) -> list[str]:
    """Multi-reader worklists in which the caller reads blind: a member who may annotate but not
    review (admins, managers and reviewers see every reader's labels)."""
    if me.is_admin:
        return []
    rows = session.execute(select(Worklist.id, ProjectMember.roles)
                           .join(ProjectMember, ProjectMember.project_id == Worklist.project_id)
                           .where(ProjectMember.user_id == me.user_id, Worklist.readers_per_item > 1))
    review = policy.ProjectAction.REVIEW
    return [wid for wid, roles in rows if not policy.project_allowed(me, list(roles or []), review)]


def progress(session: Session, worklist: Worklist) -> dict[str, Any]:
    """Reader slots of every item of a worklist: ``{resource_id: {readers: [...], complete}}``."""
    out: dict[str, Any] = {}
    rows = session.execute(select(ReaderSlot, User.email).join(User, User.id == ReaderSlot.user_id)
                           .where(ReaderSlot.worklist_id == worklist.id)
                           .order_by(ReaderSlot.resource_id, ReaderSlot.slot))
    for slot, email in rows:
        entry = out.setdefault(slot.resource_id, {"readers": [], "complete": False})
        entry["readers"].append({"slot": slot.slot, "email": email, "done_at": iso(slot.done_at)})
    for rid in session.scalars(select(ItemCompletion.resource_id).where(ItemCompletion.worklist_id == worklist.id)):
        out.setdefault(rid, {"readers": [], "complete": False})["complete"] = True
    return out

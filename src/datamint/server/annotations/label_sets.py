"""Label sets: which set an annotation belongs to, the sets of a project, and promotion of labels
from one set into another (a model's predictions into ground truth, with their provenance).

Every annotation belongs to one label set, named by a string:

* ``ground-truth`` (the default; always exists);
* ``model:<model id>`` for predictions of a model (the default of ``is_model`` annotations);
* ``reader:<email>`` for each reader of a worklist that asks for several readers per item (the
  default of their annotations there; nobody may write into another reader's set);
* ``consensus`` for the consensus of several readers;
* any other name registered in the project first (``POST /projects/{id}/labelsets``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamint.server.annotations import masks
from datamint.server.annotations import repository as repo
from datamint.server.annotations.masks import PendingBlobs
from datamint.server.annotations.models import Annotation, LabelSet
from datamint.server.auth.service import Principal
from datamint.server.db import locks
from datamint.server.db.base import iso, new_id, utcnow
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.projects.models import Project

GROUND_TRUTH = "ground-truth"
CONSENSUS = "consensus"
MODEL_PREFIX = "model:"
READER_PREFIX = "reader:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,99}$")
KINDS = ("ground_truth", "model", "reader", "consensus", "custom")


def kind_of(name: str) -> str:
    """``ground_truth``, ``model``, ``reader``, ``consensus`` or ``custom``."""
    if name == GROUND_TRUTH:
        return "ground_truth"
    if name == CONSENSUS:
        return "consensus"
    if name.startswith(MODEL_PREFIX):
        return "model"
    if name.startswith(READER_PREFIX):
        return "reader"
    return "custom"


def check_name(name: Any, where: str = "label_set") -> str:
    """A well-formed label-set name, or 422 saying what a name may hold."""
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise ValidationFailedError(f"{where}: {name!r} is not a label-set name; use 1-100 characters among "
                                    "letters, digits and . _ : @ + - (starting with a letter or digit)")
    return name.strip()


def model_set(model_id: str | None) -> str:
    """The label set of a model's predictions."""
    return (MODEL_PREFIX + (model_id or "unknown"))[:100]


def reader_set(email: str) -> str:
    """The label set of one reader."""
    return (READER_PREFIX + email.lower())[:100]


def resolve(session: Session, me: Principal, project_id: str | None, requested: str | None, *, is_model: bool,
            model_id: str | None, multi_reader: bool, where: str) -> str:
    """The label set of a new annotation.

    Args:
        requested: The set the client asked for (``None``: the default).
        multi_reader: The annotation is made in a worklist with several readers per item.

    Raises:
        ValidationFailedError: Unknown custom set, or another reader's set.
    """
    if requested is None:
        if is_model:
            return model_set(model_id)
        return reader_set(me.email) if multi_reader else GROUND_TRUTH
    name = check_name(requested, where)
    kind = kind_of(name)
    if kind == "reader" and name != reader_set(me.email):
        raise ValidationFailedError(f"{where}: {name!r} is another reader's label set; yours is "
                                    f"{reader_set(me.email)!r}")
    if multi_reader and not is_model and name != reader_set(me.email):
        raise ValidationFailedError(f"{where}: this worklist has several readers per item; your labels go to "
                                    f"{reader_set(me.email)!r} (leave label_set out)")
    if kind == "custom" and project_id is not None and _registered(session, project_id, name) is None:
        raise ValidationFailedError(f"{where}: label set {name!r} does not exist in the project; create it "
                                    "first (POST /projects/{id}/labelsets) or use 'ground-truth'")
    return name


def _registered(session: Session, project_id: str, name: str) -> LabelSet | None:
    return session.scalar(select(LabelSet).where(LabelSet.project_id == project_id, LabelSet.name == name))


def list_sets(session: Session, project: Project) -> list[dict[str, Any]]:
    """The project's label sets: ``ground-truth``, the registered ones and those its annotations use,
    each with its number of live annotations."""
    counts = dict(session.execute(
        select(Annotation.label_set, func.count()).where(repo.project_scope(session, project.id),
                                                         Annotation.deleted.is_(False))
        .group_by(Annotation.label_set)).all())
    rows = {r.name: r for r in session.scalars(select(LabelSet).where(LabelSet.project_id == project.id))}
    names = sorted(set(counts) | set(rows) | {GROUND_TRUTH}, key=lambda n: (n != GROUND_TRUTH, n))
    return [_wire(project, name, rows.get(name), int(counts.get(name, 0))) for name in names]


def _wire(project: Project, name: str, row: LabelSet | None, count: int) -> dict[str, Any]:
    return {"name": name, "project_id": project.id, "kind": kind_of(name),
            "description": row.description if row else "", "annotation_count": count,
            "registered": row is not None or name == GROUND_TRUTH,
            "created_at": iso(row.created_at) if row else None, "created_by": row.created_by if row else None}


def get_set(session: Session, project: Project, name: str) -> dict[str, Any]:
    """One label set of the project (404 when neither registered nor used)."""
    for entry in list_sets(session, project):
        if entry["name"] == name:
            return entry
    raise NotFoundError("Label set")


def create_set(session: Session, me: Principal, project: Project, name: str, description: str) -> dict[str, Any]:
    """Register a label set in the project.

    Raises:
        ConflictError: The name exists already (``ground-truth`` always does).
        ValidationFailedError: A malformed name, or another reader's set.
    """
    name = check_name(name, "name")
    if name == GROUND_TRUTH:
        raise ConflictError("Label set 'ground-truth' already exists in every project")
    if kind_of(name) == "reader":
        raise ValidationFailedError("Reader label sets ('reader:...') are made by multi-reader worklists")
    locks.serialize(session, "label-set", project.id, name)
    if _registered(session, project.id, name) is not None:
        raise ConflictError(f"Label set {name!r} already exists in project {project.name!r}")
    row = LabelSet(customer_id=me.customer_id, project_id=project.id, name=name, description=description or "",
                   created_by=me.email)
    session.add(row)
    session.flush()
    return _wire(project, name, row, 0)


def delete_set(session: Session, me: Principal, project: Project, name: str) -> int:
    """Remove a label set: its row, and its live annotations in the project (soft-deleted).

    Returns:
        How many annotations were deleted.
    """
    if name == GROUND_TRUTH:
        raise ValidationFailedError("The 'ground-truth' label set cannot be deleted")
    get_set(session, project, name)
    row = _registered(session, project.id, name)
    if row is not None:
        session.delete(row)
    doomed = session.scalars(select(Annotation).where(repo.project_scope(session, project.id),
                                                      Annotation.label_set == name,
                                                      Annotation.deleted.is_(False))).all()
    repo.mark_deleted(doomed, me.email, utcnow())
    return len(doomed)


def promote(session: Session, pending: PendingBlobs, me: Principal, sources: Sequence[Annotation],
            target: str) -> list[Annotation]:
    """Copy annotations into another label set; each copy remembers its source (``promoted_from``),
    model and origin, and gets its own copy of the mask. Sources that are deleted, already in
    ``target`` or already promoted into it are skipped.

    Returns:
        The new annotations.
    """
    target = check_name(target, "to")
    if kind_of(target) in ("reader", "model"):
        raise ValidationFailedError(f"Promote into 'ground-truth', 'consensus' or a custom set, not {target!r}")
    if not sources:
        return []
    already = set(session.scalars(select(Annotation.promoted_from).where(
        Annotation.promoted_from.in_([a.id for a in sources]), Annotation.label_set == target,
        Annotation.deleted.is_(False))))
    chosen = [a for a in sources if not a.deleted and a.label_set != target and a.id not in already]
    plans: list[tuple[Annotation, str, str | None]] = []
    blobs: list[tuple[str, bytes]] = []
    for source in chosen:
        new = new_id()
        key = None
        if source.file_key:
            key = masks.mask_key(me.customer_id, new, masks.StoredMask(b"", source.file_mimetype or masks.NIFTI))
            blobs.append((key, pending.store.get(source.file_key)))
        plans.append((source, new, key))
    if blobs:
        pending.put_all(blobs)
    now = utcnow()
    copies = []
    skip = {"id", "label_set", "promoted_from", "file_key", "created_at", "created_by", "created_by_id",
            "updated_at", "status", "approved_at", "approved_by"}
    for i, (source, new, key) in enumerate(plans):
        values = {c.key: getattr(source, c.key) for c in Annotation.__table__.columns if c.key not in skip}
        copy = Annotation(**values, id=new, label_set=target, promoted_from=source.id, file_key=key,
                          created_at=now + timedelta(microseconds=i), created_by=me.email, created_by_id=me.user_id,
                          updated_at=None, status="new", approved_at=None, approved_by=None)
        session.add(copy)
        copies.append(copy)
    pending.settle()
    session.flush()
    return copies


"""Work statuses of annotators on resources (opened, annotated, closed) and reviewers' decisions
(approved, revision_request) with their review messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server.auth import service as auth_service
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.resources import service as resources_service
from datamint.server.workflow.scope import Scope
from datamint.server.worklists import readers, service
from datamint.server.worklists import repository as repo
from datamint.server.worklists.models import ReviewMessage, Worklist
from datamint.server.worklists.schemas import ANNOTATOR_STATUSES, WorkStatusBody
from datamint.server.workunits import recorder as workunits


def status_wire(row: Any, email: str, filename: str) -> dict[str, Any]:
    """One work status on the wire."""
    return {"worklist_id": row.worklist_id, "annotation_worklist_id": row.worklist_id, "resource_id": row.resource_id,
            "resource_filename": filename, "user_id": row.user_id, "email": email, "annotator": email,
            "status": row.status, "updated_at": iso(row.updated_at), "updated_by": row.updated_by}


def _annotator_id(session: Session, me: Principal, ref: str | None) -> str | None:
    return auth_service.get_user(session, me, ref).id if ref else None


def _readable_annotator(session: Session, scope: Scope, ref: str | None) -> tuple[bool, str | None]:
    """Whose rows the caller may read: ``(True, None)`` everyone's, ``(True, id)`` one annotator's,
    ``(False, None)`` nobody's (another annotator's, asked without statistics access)."""
    user_id = _annotator_id(session, scope.me, ref)
    if scope.allowed(ProjectAction.STATISTICS_READ):
        return True, user_id
    scope.require(ProjectAction.READ)
    return user_id in (None, scope.me.user_id), scope.me.user_id


def set_status(session: Session, scope: Scope, worklist: Worklist, resource_id: str,
               body: WorkStatusBody) -> list[dict[str, Any]]:
    """Set a work status on a resource of a worklist.

    Annotators set ``opened``/``annotated``/``closed`` on their own work (managers may set it for
    an ``annotator``); reviewers set ``approved``/``revision_request`` on an ``annotator``'s work
    (needed when several annotators worked on the resource) with an optional message.

    Returns:
        Every status of the resource in the worklist.

    Raises:
        ValidationFailedError: The resource is not in the worklist, or the annotator is ambiguous.
    """
    me = scope.me
    resource = resources_service.visible_resource(session, me, resource_id)
    if not service.has_resource(session, worklist, resource.id):
        raise ValidationFailedError(f"Resource {resource.id} is not part of worklist {worklist.name!r}")
    now = utcnow()
    if body.status in ANNOTATOR_STATUSES:
        target = _annotator_id(session, me, body.annotator)
        if target is None or target == me.user_id:
            scope.require(ProjectAction.ANNOTATE)
            target = me.user_id
        else:
            scope.require(ProjectAction.MANAGE)
    else:
        scope.require(ProjectAction.REVIEW)
        target = _annotator_id(session, me, body.annotator)
        current = {row.user_id for row, _, _ in repo.statuses(session, [worklist.id], resource_id=resource.id)}
        if target is None:
            if len(current) != 1:
                raise ValidationFailedError("Say whose work you review: send 'annotator' (an email); "
                                            f"{len(current)} annotators have worked on this resource")
            target = next(iter(current))
        elif target not in current:  # a decision on work that is not there
            raise ValidationFailedError(f"{body.annotator} has no work status on this resource in this worklist: "
                                        "there is no work of theirs to review")
    locks.serialize(session, "work-status", worklist.id, resource.id, target)  # one row per annotator
    if body.status not in ANNOTATOR_STATUSES:
        repo.add_review(session, ReviewMessage(worklist_id=worklist.id, resource_id=resource.id, annotator_id=target,
                                               status=body.status, message=body.message, path=body.path,
                                               created_by=me.email, created_at=now))
    if body.status == "opened":
        readers.claim(session, worklist, resource.id, target)  # opening an item takes a reader's place
    elif body.status in readers.DONE_STATUSES:
        readers.finish(session, worklist, resource.id, target)
    repo.set_status(session, worklist.id, resource.id, target, body.status, me.email, now)
    workunits.record(session, customer_id=me.customer_id, user_id=me.user_id, email=me.email, resource_id=resource.id,
                     action="status" if body.status in ANNOTATOR_STATUSES else "review",
                     project_id=worklist.project_id, worklist_id=worklist.id, now=now)
    session.flush()
    return [status_wire(row, email, name) for row, email, name in
            repo.statuses(session, [worklist.id], resource_id=resource.id)]


def statuses(session: Session, scope: Scope, status: str | None, user_ref: str | None,
             resource_id: str | None) -> list[dict[str, Any]]:
    """Work statuses of the scope; callers without statistics access see only their own."""
    readable, user_id = _readable_annotator(session, scope, user_ref)
    if not readable:
        return []
    rows = repo.statuses(session, scope.worklist_ids, status or None, user_id,
                         check_uuid(resource_id, "resource") if resource_id else None)
    return [status_wire(row, email, name) for row, email, name in rows]


def reset_status(session: Session, scope: Scope, resource_id: str, email: str) -> dict[str, Any]:
    """Forget an annotator's status (and so its review state) on a resource; in a worklist with
    several readers per item, also free their reader slot (:func:`readers.release`)."""
    scope.require(ProjectAction.MANAGE)
    resource = resources_service.visible_resource(session, scope.me, resource_id)
    user = auth_service.get_user(session, scope.me, email)
    for worklist_id in sorted(scope.worklist_ids):  # the locks set_status takes, in its order
        locks.serialize(session, "work-status", worklist_id, resource.id, user.id)
    freed = readers.release(session, scope.worklists, resource.id, user.id)
    removed = repo.delete_statuses(session, scope.worklist_ids, resource.id, user.id)
    if removed == 0 and freed == 0:
        raise NotFoundError("Status", f"Status not found: {user.email} has no status on this resource")
    return {"resource_id": resource.id, "email": user.email, "removed": removed}


def review_messages(session: Session, scope: Scope, annotator: str | None, resource_id: str | None,
                    statuses_in: Sequence[str] | None) -> list[dict[str, Any]]:
    """Reviewers' decisions, oldest first; annotators without statistics access see only theirs."""
    readable, annotator_id = _readable_annotator(session, scope, annotator)
    if not readable:
        return []
    rows = repo.reviews(session, scope.worklist_ids, annotator_id,
                        check_uuid(resource_id, "resource") if resource_id else None, statuses_in)
    return [{"id": r.id, "worklist_id": r.worklist_id, "resource_id": r.resource_id, "annotator": email,
             "annotator_email": email, "annotator_id": r.annotator_id, "status": r.status, "message": r.message,
             "path": r.path, "created_at": iso(r.created_at), "created_by": r.created_by, "reviewer": r.created_by}
            for r, email in rows]

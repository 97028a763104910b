"""Label status of each resource of a project, per label set, and the transitions allowed.

A resource's labels in one label set move through a small workflow (absent row: ``unlabeled``)::

    unlabeled  -> prelabeled | labeled | skipped
    prelabeled -> labeled | skipped | unlabeled
    labeled    -> reviewed | rejected | unlabeled
    rejected   -> labeled | skipped
    skipped    -> labeled | unlabeled
    reviewed   -> verified (only where the project enables it) | rejected
    verified   -> rejected

Annotators (``project.annotate``) set ``prelabeled``, ``labeled``, ``skipped`` and ``unlabeled``;
reviewers (``project.review``) set ``reviewed``, ``rejected`` and ``verified``. A change is made
under a lock on (project, resource, label set): two changes at once are applied one after the
other, and the second is judged from the first one's result. Each change is kept in
``label_status_events`` (and in the audit trail).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import label_sets
from datamint.server.audit import recorder as audit
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.projects.models import Project
from datamint.server.quality.models import LABEL_STATUSES, LabelStatus, LabelStatusEvent
from datamint.server.resources import membership
from datamint.server.resources.models import ProjectResource, Resource
from datamint.server.workunits import recorder as workunits

UNLABELED = "unlabeled"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "unlabeled": ("prelabeled", "labeled", "skipped"),
    "prelabeled": ("labeled", "skipped", "unlabeled"),
    "labeled": ("reviewed", "rejected", "unlabeled"),
    "rejected": ("labeled", "skipped"),
    "skipped": ("labeled", "unlabeled"),
    "reviewed": ("verified", "rejected"),
    "verified": ("rejected",),
}
REVIEW_STATUSES = ("reviewed", "rejected", "verified")


def allowed_next(project: Project, current: str) -> list[str]:
    """The statuses reachable from ``current`` in this project."""
    return [s for s in TRANSITIONS[current] if s != "verified" or project.enable_label_status_verified]


def resource_in_project(session: Session, project: Project, resource_id: str) -> str:
    """The resource's id when it is in the project (404 otherwise)."""
    rid = check_uuid(resource_id, "resource")
    if session.get(ProjectResource, (project.id, rid)) is None:
        raise NotFoundError("Resource", f"Resource not found in project {project.name!r}")
    return rid


def _row(session: Session, project_id: str, resource_id: str, label_set: str) -> LabelStatus | None:
    return session.get(LabelStatus, (project_id, resource_id, label_set), populate_existing=True)


def get(session: Session, project: Project, resource_id: str, label_set: str) -> dict[str, Any]:
    """A resource's status in a label set, the statuses it may go to, and its history."""
    rid = resource_in_project(session, project, resource_id)
    name = label_sets.check_name(label_set)
    row = _row(session, project.id, rid, name)
    status = row.status if row else UNLABELED
    events = session.scalars(select(LabelStatusEvent).where(
        LabelStatusEvent.project_id == project.id, LabelStatusEvent.resource_id == rid,
        LabelStatusEvent.label_set == name).order_by(LabelStatusEvent.created_at, LabelStatusEvent.id)).all()
    return {"project_id": project.id, "resource_id": rid, "label_set": name, "status": status,
            "version": row.version if row else 0, "allowed_next": allowed_next(project, status),
            "updated_at": iso(row.updated_at) if row else None, "updated_by": row.updated_by if row else None,
            "history": [{"from": e.from_status, "to": e.to_status, "at": iso(e.created_at), "by": e.created_by}
                        for e in events]}


def set_status(session: Session, me: Principal, project: Project, roles: list[str] | None, resource_id: str,
               label_set: str, status: str, expected: str | None = None) -> dict[str, Any]:
    """Move a resource's label status along an allowed transition.

    Args:
        expected: The status the caller believes is current; when given and different, 409.

    Raises:
        ValidationFailedError: Unknown status, a transition that is not allowed (the message lists
            the allowed ones), or ``verified`` in a project that does not enable it.
        ForbiddenError: A reviewer's status set without ``project.review`` (or another without
            ``project.annotate``).
        ConflictError: ``expected`` is not the current status.
    """
    if status not in LABEL_STATUSES:
        raise ValidationFailedError(f"Unknown label status {status!r}; use one of {', '.join(LABEL_STATUSES)}")
    if status == "verified" and not project.enable_label_status_verified:
        raise ValidationFailedError("The status 'verified' is not enabled in this project; a manager can enable "
                                    "it (enable_label_status_verified=true)")
    action = policy.ProjectAction.REVIEW if status in REVIEW_STATUSES else policy.ProjectAction.ANNOTATE
    policy.require_project(me, roles, action)
    rid = resource_in_project(session, project, resource_id)
    name = label_sets.check_name(label_set)
    project_id = project.id
    locks.serialize(session, "label-status", project_id, rid, name)  # one transition at a time
    project = session.get(Project, project_id)  # type: ignore[assignment]
    row = _row(session, project_id, rid, name)
    current = row.status if row else UNLABELED
    if expected is not None and expected != current:
        raise ConflictError(f"The label status is {current!r}, not {expected!r}: someone changed it; reload")
    allowed = allowed_next(project, current)
    if status not in allowed:
        raise ValidationFailedError(f"Cannot change the label status from {current!r} to {status!r}; "
                                    f"allowed from {current!r}: {', '.join(allowed) or 'nothing'}")
    now = utcnow()
    if row is None:
        row = LabelStatus(project_id=project_id, resource_id=rid, label_set=name, status=status, version=1,
                          updated_at=now, updated_by=me.email)
        session.add(row)
    else:
        row.status, row.version, row.updated_at, row.updated_by = status, row.version + 1, now, me.email
    session.add(LabelStatusEvent(project_id=project_id, resource_id=rid, label_set=name, from_status=current,
                                 to_status=status, created_at=now, created_by=me.email))
    workunits.record(session, customer_id=me.customer_id, user_id=me.user_id, email=me.email, resource_id=rid,
                     action="review" if status in REVIEW_STATUSES else "status", project_id=project_id,
                     label_set=name, now=now)
    audit.describe(session, entity_type="resource", entity_id=rid,
                   details={"label_set": name, "from_status": current, "to_status": status})
    session.flush()
    return get(session, project, rid, name)


def resource_ids_with(session: Session, project_id: str, label_set: str, status: str) -> set[str]:
    """Ids of the project's resources whose status in ``label_set`` is ``status`` (the filter of
    ``GET /projects/{id}/resources?label_status=``)."""
    project = session.get(Project, project_id)
    assert project is not None
    return {row["resource_id"] for row in listing(session, project, label_set, status)}


def listing(session: Session, project: Project, label_set: str, status: str | None) -> list[dict[str, Any]]:
    """The project's resources with their status in a label set (``status`` filters; ``unlabeled``
    finds resources without a status row too)."""
    name = label_sets.check_name(label_set)
    if status is not None and status not in LABEL_STATUSES:
        raise ValidationFailedError(f"Unknown label status {status!r}; use one of {', '.join(LABEL_STATUSES)}")
    stmt = (select(Resource.id, Resource.filename, LabelStatus.status, LabelStatus.updated_at, LabelStatus.updated_by)
            .join(ProjectResource, ProjectResource.resource_id == Resource.id)
            .outerjoin(LabelStatus, (LabelStatus.project_id == project.id) & (LabelStatus.resource_id == Resource.id)
                       & (LabelStatus.label_set == name))
            .where(ProjectResource.project_id == project.id, Resource.deleted.is_(False))
            .order_by(Resource.created_at, Resource.id))
    if status == UNLABELED:
        stmt = stmt.where(or_(LabelStatus.status.is_(None), LabelStatus.status == UNLABELED))
    elif status is not None:
        stmt = stmt.where(LabelStatus.status == status)
    return [{"resource_id": rid, "filename": filename, "label_set": name, "status": current or UNLABELED,
             "updated_at": iso(at), "updated_by": by} for rid, filename, current, at, by in session.execute(stmt)]


if resource_ids_with not in membership.LABEL_STATUS_FILTERS:
    membership.LABEL_STATUS_FILTERS.append(resource_ids_with)

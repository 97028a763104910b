"""SQL of the worklists area: worklists, their resources and annotators, work statuses, reviews."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from datamint.server.auth.models import User
from datamint.server.resources.models import ProjectResource, Resource
from datamint.server.worklists.models import ReviewMessage, Worklist, WorklistAnnotator, WorklistResource, WorkStatus


def get(session: Session, customer_id: str, worklist_id: str) -> Worklist | None:
    """The worklist with this id in this organization."""
    worklist = session.get(Worklist, worklist_id)
    return worklist if worklist is not None and worklist.customer_id == customer_id else None


def of_projects(session: Session, project_ids: Sequence[str]) -> Sequence[Worklist]:
    """Worklists of these projects, oldest first."""
    if not project_ids:
        return []
    return session.scalars(select(Worklist).where(Worklist.project_id.in_(list(project_ids)))
                           .order_by(Worklist.created_at, Worklist.id)).all()


def resource_ids(session: Session, worklist_ids: Sequence[str]) -> dict[str, list[str]]:
    """Live resource ids of each worklist, in the order they were added."""
    out: dict[str, list[str]] = {wid: [] for wid in worklist_ids}
    if not worklist_ids:
        return out
    rows = session.execute(select(WorklistResource.worklist_id, WorklistResource.resource_id)
                           .join(Resource, Resource.id == WorklistResource.resource_id)
                           .where(WorklistResource.worklist_id.in_(list(worklist_ids)), Resource.deleted.is_(False))
                           .order_by(WorklistResource.added_at, WorklistResource.resource_id))
    for wid, rid in rows:
        out[wid].append(rid)
    return out


def has_resource(session: Session, worklist_id: str, resource_id: str) -> bool:
    """Whether the resource is in the worklist."""
    return session.get(WorklistResource, (worklist_id, resource_id)) is not None


def project_resource_ids(session: Session, project_id: str) -> list[str]:
    """Live resource ids of a project, oldest first (the resources of its default worklist)."""
    return list(session.scalars(select(Resource.id).join(ProjectResource, ProjectResource.resource_id == Resource.id)
                                .where(ProjectResource.project_id == project_id, Resource.deleted.is_(False))
                                .order_by(Resource.created_at, Resource.id)))


def in_project(session: Session, project_id: str, resource_id: str) -> bool:
    """Whether the resource is in the project."""
    return session.get(ProjectResource, (project_id, resource_id)) is not None


def add_resources(session: Session, worklist_id: str, ids: Sequence[str]) -> int:
    """Add resources (already present ones are skipped); returns how many were added."""
    present = set(session.scalars(select(WorklistResource.resource_id).where(
        WorklistResource.worklist_id == worklist_id, WorklistResource.resource_id.in_(list(ids))))) if ids else set()
    new = [rid for rid in dict.fromkeys(ids) if rid not in present]
    session.add_all(WorklistResource(worklist_id=worklist_id, resource_id=rid) for rid in new)
    return len(new)


def remove_resources(session: Session, worklist_id: str, ids: Sequence[str]) -> None:
    """Remove resources from a worklist."""
    if ids:
        session.execute(delete(WorklistResource).where(WorklistResource.worklist_id == worklist_id,
                                                       WorklistResource.resource_id.in_(list(ids))))


def annotators(session: Session, worklist_ids: Sequence[str]) -> dict[str, list[tuple[WorklistAnnotator, User]]]:
    """Annotators of each worklist with their user rows, by email."""
    out: dict[str, list[tuple[WorklistAnnotator, User]]] = {wid: [] for wid in worklist_ids}
    if not worklist_ids:
        return out
    rows = session.execute(select(WorklistAnnotator, User).join(User, User.id == WorklistAnnotator.user_id)
                           .where(WorklistAnnotator.worklist_id.in_(list(worklist_ids))).order_by(User.email))
    for annotator, user in rows:
        out[annotator.worklist_id].append((annotator, user))
    return out


def get_annotator(session: Session, worklist_id: str, user_id: str) -> WorklistAnnotator | None:
    """One annotator assignment."""
    return session.get(WorklistAnnotator, (worklist_id, user_id))


def get_status(session: Session, worklist_id: str, resource_id: str, user_id: str) -> WorkStatus | None:
    """Where one annotator is with one resource."""
    return session.get(WorkStatus, (worklist_id, resource_id, user_id))


def set_status(session: Session, worklist_id: str, resource_id: str, user_id: str, status: str, by: str,
               at: datetime) -> WorkStatus:
    """Insert or update a work status."""
    row = get_status(session, worklist_id, resource_id, user_id)
    if row is None:
        row = WorkStatus(worklist_id=worklist_id, resource_id=resource_id, user_id=user_id, status=status,
                         updated_at=at, updated_by=by)
        session.add(row)
    else:
        row.status, row.updated_at, row.updated_by = status, at, by
    return row


def delete_statuses(session: Session, worklist_ids: Sequence[str], resource_id: str, user_id: str) -> int:
    """Forget an annotator's statuses on a resource in these worklists."""
    if not worklist_ids:
        return 0
    result = session.execute(delete(WorkStatus).where(WorkStatus.worklist_id.in_(list(worklist_ids)),
                                                      WorkStatus.resource_id == resource_id,
                                                      WorkStatus.user_id == user_id))
    return int(result.rowcount or 0)


def statuses(session: Session, worklist_ids: Sequence[str], status: str | None = None, user_id: str | None = None,
             resource_id: str | None = None) -> Sequence[Any]:
    """Work statuses of worklists with the annotator's email and the resource's filename."""
    if not worklist_ids:
        return []
    conds: list[ColumnElement[bool]] = [WorkStatus.worklist_id.in_(list(worklist_ids))]
    for column, value in ((WorkStatus.status, status), (WorkStatus.user_id, user_id),
                          (WorkStatus.resource_id, resource_id)):
        if value is not None:
            conds.append(column == value)
    return session.execute(select(WorkStatus, User.email, Resource.filename)
                           .join(User, User.id == WorkStatus.user_id)
                           .join(Resource, Resource.id == WorkStatus.resource_id)
                           .where(*conds).order_by(WorkStatus.updated_at, WorkStatus.resource_id)).all()


def add_review(session: Session, review: ReviewMessage) -> None:
    """Record a reviewer's decision."""
    session.add(review)


def reviews(session: Session, worklist_ids: Sequence[str], annotator_id: str | None, resource_id: str | None,
            statuses_in: Sequence[str] | None) -> Sequence[Any]:
    """Review messages of worklists (oldest first) with the annotator's email."""
    if not worklist_ids:
        return []
    conds: list[ColumnElement[bool]] = [ReviewMessage.worklist_id.in_(list(worklist_ids))]
    if annotator_id is not None:
        conds.append(ReviewMessage.annotator_id == annotator_id)
    if resource_id is not None:
        conds.append(ReviewMessage.resource_id == resource_id)
    if statuses_in:
        conds.append(ReviewMessage.status.in_(list(statuses_in)))
    return session.execute(select(ReviewMessage, User.email).join(User, User.id == ReviewMessage.annotator_id)
                           .where(*conds).order_by(ReviewMessage.created_at, ReviewMessage.id)).all()

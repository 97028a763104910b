"""SQL of the annotations area: lookups, bulk insert, search, soft delete, renames and aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Select, String, and_, any_, cast, func, or_, select
from sqlalchemy.orm import Session

from datamint.server.annotations.models import Annotation
from datamint.server.annotations.validation import VALUE_TYPES
from datamint.server.projects.models import Project
from datamint.server.resources.models import ProjectResource, Resource


def get(session: Session, customer_id: str, annotation_id: str) -> Annotation | None:
    """The annotation with this id in this organization (deleted ones included)."""
    annotation = session.get(Annotation, annotation_id)
    return annotation if annotation is not None and annotation.customer_id == customer_id else None


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add annotation rows (they carry their ids); the ORM batches them into one executemany,
    and the audit trail sees each one."""
    session.add_all(Annotation(**row) for row in rows)
    session.flush()


@dataclass
class SearchFilters:
    """Filters of ``POST /annotations/search`` after parsing (``None``: no filter)."""

    resource_ids: list[str] | None = None
    """Resources to search (all of the caller's organization: the service checks them)."""
    annotation_type: str | None = None
    created_by: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    worklist_id: str | None = None
    dataset_id: str | None = None
    project_id: str | None = None
    status: str | None = None
    source: str | None = None
    identifiers: list[str] | None = None
    model_id: str | None = None
    deleted: str = "exclude"
    include_model: bool = True
    model_only: bool = False
    label_sets: list[str] | None = None
    visible_projects: list[str] | None = field(default=None)
    """Projects whose annotations the caller may see; ``None`` means all (organization admins)."""
    hidden: ColumnElement[bool] | None = None
    """What the caller may see of multi-reader worklists (other readers' labels stay hidden)."""


def project_scope(session: Session, project_id: str) -> ColumnElement[bool]:
    """Annotations that belong to a project: on its resources, in one of its worklists or in none.

    On PostgreSQL the project's resource ids are fetched first and matched as one array
    parameter: with a sub-select the planner, lacking statistics on a freshly loaded table (no
    ANALYZE yet), can pick a nested loop that is thousands of times slower.
    """
    owned = or_(Annotation.project_id == project_id, Annotation.project_id.is_(None))
    in_project = select(ProjectResource.resource_id).where(ProjectResource.project_id == project_id)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(in_project))
        return and_(Annotation.resource_id == any_(cast(ids, ARRAY(String(36)))), owned)
    return and_(Annotation.resource_id.in_(in_project), owned)


def _conditions(session: Session, customer_id: str, f: SearchFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.resource_ids is not None:
        # The caller passes only resources of this organization; filtering on customer_id as well
        # would let the planner pick the organization-wide index over the per-resource one.
        conds.append(Annotation.resource_id == f.resource_ids[0] if len(f.resource_ids) == 1
                     else Annotation.resource_id.in_(f.resource_ids))
    else:
        conds.append(Annotation.customer_id == customer_id)
    if f.deleted == "exclude":
        conds.append(Annotation.deleted.is_(False))
    elif f.deleted == "only":
        conds.append(Annotation.deleted.is_(True))
    for column, value in ((Annotation.type, f.annotation_type), (Annotation.created_by, f.created_by),
                          (Annotation.worklist_id, f.worklist_id), (Annotation.status, f.status),
                          (Annotation.source, f.source), (Annotation.model_id, f.model_id)):
        if value is not None:
            conds.append(column == value)
    if f.created_from is not None:
        conds.append(Annotation.created_at >= f.created_from)
    if f.created_to is not None:
        conds.append(Annotation.created_at < f.created_to)
    if f.identifiers:
        conds.append(Annotation.identifier.in_(f.identifiers))
    if not f.include_model:
        conds.append(Annotation.is_model.is_(False))
    if f.model_only:
        conds.append(Annotation.is_model.is_(True))
    if f.project_id is not None:
        conds.append(project_scope(session, f.project_id))
    if f.dataset_id is not None:

        projects = select(Project.id).where(Project.dataset_id == f.dataset_id, Project.customer_id == customer_id)
        conds.append(Annotation.resource_id.in_(
            select(ProjectResource.resource_id).where(ProjectResource.project_id.in_(projects))))
    if f.visible_projects is not None:
        conds.append(or_(Annotation.project_id.is_(None), Annotation.project_id.in_(f.visible_projects)))
    if f.label_sets:
        conds.append(Annotation.label_set.in_(f.label_sets))
    if f.hidden is not None:
        conds.append(f.hidden)
    return conds


def owned_resource_ids(session: Session, customer_id: str, resource_ids: Sequence[str]) -> set[str]:
    """The ids among ``resource_ids`` of resources of this organization (one indexed lookup per 1000)."""
    found: set[str] = set()
    ids = list(resource_ids)
    for start in range(0, len(ids), 1000):
        found.update(session.scalars(select(Resource.id).where(Resource.id.in_(ids[start:start + 1000]),
                                                                 Resource.customer_id == customer_id)))
    return found


def search(session: Session, customer_id: str, f: SearchFilters, offset: int, limit: int
           ) -> tuple[Sequence[Annotation], int]:
    """One page of matching annotations, oldest first, and the number of matches."""
    conds = _conditions(session, customer_id, f)
    total = session.scalar(select(func.count(Annotation.id)).where(*conds)) or 0
    if total <= offset:
        return [], int(total)
    rows = session.scalars(select(Annotation).where(*conds).order_by(Annotation.created_at, Annotation.id)
                           .offset(offset).limit(limit)).all()
    return rows, int(total)


def resource_names(session: Session, resource_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """(filename, modality) of each resource."""
    if not resource_ids:
        return {}
    rows = session.execute(select(Resource.id, Resource.filename, Resource.modality)
                           .where(Resource.id.in_(list(resource_ids))))
    return {rid: (name, modality) for rid, name, modality in rows}


def mark_deleted(annotations: Sequence[Annotation], by: str, at: datetime) -> None:
    """Soft-delete annotations (already deleted ones keep their first deletion)."""
    for annotation in annotations:
        if not annotation.deleted:
            annotation.deleted, annotation.deleted_at, annotation.deleted_by = True, at, by


def rename_identifier(session: Session, worklist_id: str, old: str, new: str) -> int:
    """Rename the segmentations of a worklist labelled ``old``; returns how many changed."""
    rows = session.scalars(select(Annotation).where(Annotation.worklist_id == worklist_id,
                                                    Annotation.identifier == old,
                                                    Annotation.type == "segmentation")).all()
    for row in rows:
        row.identifier = new
    return len(rows)


def frame_annotations(session: Session, customer_id: str, resource_id: str, identifier: str | None,
                      kind: str | None, worklist_id: str | None, created_by: str | None) -> Sequence[Annotation]:
    """Live frame-scope value annotations of a resource, by frame (for ``/frame-ranges``)."""
    conds: list[ColumnElement[bool]] = [Annotation.customer_id == customer_id, Annotation.resource_id == resource_id,
                                        Annotation.deleted.is_(False), Annotation.scope == "frame",
                                        Annotation.type.in_(VALUE_TYPES)]
    if identifier is not None:
        conds.append(Annotation.identifier == identifier)
    if kind is not None:
        conds.append(Annotation.type == kind)
    if worklist_id is not None:
        conds.append(Annotation.worklist_id == worklist_id)
    if created_by is not None:
        conds.append(Annotation.created_by == created_by)
    return session.scalars(select(Annotation).where(*conds).order_by(Annotation.frame_index, Annotation.created_at)
                           ).all()


def annotated_resources() -> Select[Any]:
    """Ids of resources that have at least one live annotation (for ``/resources/not-annotated``)."""
    return select(Annotation.resource_id).where(Annotation.deleted.is_(False))


def model_names(session: Session, project_id: str) -> list[str]:
    """Distinct model names referenced by a project's live annotations, sorted."""
    rows = session.scalars(select(Annotation.model_id).distinct().where(
        project_scope(session, project_id), Annotation.deleted.is_(False), Annotation.model_id.is_not(None)))
    return sorted(r for r in rows if r)

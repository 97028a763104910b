"""A project across areas: creating one also adds its resources (``resources``) and creates its
worklist (``worklists``); its wire shape counts its resources and names its worklists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server.errors import ConflictError, ValidationFailedError
from datamint.server.identity import Principal
from datamint.server.projects import service as projects
from datamint.server.projects.models import Project
from datamint.server.projects.schemas import ProjectCreate, ProjectUpdate
from datamint.server.resources import repository as resources_repo
from datamint.server.resources import service as resources
from datamint.server.worklists import service as worklists
from datamint.server.worklists.specs import clean_segmentation_data


def to_wire_many(session: Session, rows: Sequence[Project]) -> list[dict[str, Any]]:
    """Wire dicts of several projects (wire protocol §5.1), their counts fetched in one query."""
    ids = [p.id for p in rows]
    counts = resources_repo.count_project_resources(session, ids)
    worklist_info = worklists.project_info(session, ids)
    return [{**projects.wire(p, counts.get(p.id, 0)), **worklist_info[p.id]} for p in rows]


def to_wire(session: Session, project: Project) -> dict[str, Any]:
    """The wire shape of one project."""
    return to_wire_many(session, [project])[0]


def list_projects(session: Session, me: Principal, include_archived: bool, offset: int, limit: int
                  ) -> tuple[list[dict[str, Any]], int]:
    """The projects the caller can see, as wire dicts, and their total."""
    rows, total = projects.visible_projects(session, me, include_archived, offset, limit)
    return to_wire_many(session, rows), total


def name_taken(session: Session, me: Principal, name: str, other: Project) -> ConflictError:
    """The 409 for a project name that ``other`` holds: the existing project is attached only when
    the caller can see it; otherwise the answer says nothing but that the name is taken."""
    existing = to_wire(session, other) if projects.sees(session, me, other) else None
    return ConflictError(f"A project named {name!r} already exists", existing=existing)


def create_project(session: Session, me: Principal, body: ProjectCreate) -> Project:
    """Create a project with its dataset, its resources and its worklist; the creator manages it.

    Raises:
        ConflictError: A project with this name exists in the organization (archived ones
            included, as the official client checks); the existing project is attached.
        ValidationFailedError: A resource is deleted, or the label schema is invalid.
    """
    name = projects.clean_name(body.name)
    existing = projects.name_holder(session, me, name)
    if existing is not None:
        raise name_taken(session, me, name, existing)
    found = resources.visible_resources(session, me, body.resource_ids) if body.resource_ids else []
    deleted = [r.id for r in found if r.deleted]
    if deleted:
        raise ValidationFailedError(f"Resource {deleted[0]} is deleted; restore it before adding it to a project")
    segmentation = clean_segmentation_data(body.segmentationData.model_dump() if body.segmentationData else None)
    project = projects.create_project(session, me, name, body, segmentation)
    if found:
        resources_repo.add_to_project(session, project.id, [r.id for r in found], me.email)
        session.flush()
    worklists.create_for_project(session, me, project,
                                 body.annotation_set.model_dump() if body.annotation_set else None, segmentation)
    return project


def update_project(session: Session, me: Principal, project_id: str, body: ProjectUpdate) -> Project:
    """Change a project's name, description, flags, label schema or pinned metrics (managers and
    admins); a new name must be free, a new label schema valid."""
    project = projects.editable_project(session, me, project_id)
    changes = body.model_dump(exclude_unset=True)
    name = None
    if changes.get("name") is not None:
        name = projects.clean_name(changes["name"])
        other = projects.name_holder(session, me, name)
        if other is not None and other.id != project.id:
            raise name_taken(session, me, name, other)
    segmentation = None
    if changes.get("segmentationData") is not None:
        segmentation = clean_segmentation_data(changes["segmentationData"], project.segmentation_data)
    return projects.update_project(project, changes, name, segmentation)

"""Rules for projects: visibility, unique names, archive/restore, and the wire shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.projects import repository as repo
from datamint.server.projects.models import Dataset, Project, ProjectMember
from datamint.server.projects.schemas import ProjectCreate, ProjectUpdate
from datamint.server.resources import repository as resource_repo
from datamint.server.resources import service as resource_service
from datamint.server.worklists.specs import clean_segmentation_data


def visible_project(session: Session, me: Principal, project_id: str) -> tuple[Project, list[str] | None]:
    """The project and the caller's roles in it; 404 when it does not exist or the caller
    is neither a member nor an organization admin."""
    project = repo.get_project(session, me.customer_id, check_uuid(project_id, "project"))
    if project is None:
        raise NotFoundError("Project")
    member = repo.get_member(session, project.id, me.user_id)
    roles = list(member.roles) if member else None
    if roles is None and not me.is_admin:
        raise NotFoundError("Project")
    return project, roles


def sees(session: Session, me: Principal, project: Project) -> bool:
    """Whether the caller may see ``project`` (a member, or an admin of its organization)."""
    return project.customer_id == me.customer_id and (
        me.is_admin or repo.get_member(session, project.id, me.user_id) is not None)


def name_taken(session: Session, me: Principal, name: str, other: Project) -> ConflictError:
    """The 409 for a project name that ``other`` holds: the existing project is attached only when
    the caller can see it; otherwise the answer says nothing but that the name is taken."""
    existing = to_wire(session, other) if sees(session, me, other) else None
    return ConflictError(f"A project named {name!r} already exists", existing=existing)


def list_projects(
    session: Session, me: Principal, include_archived: bool, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The projects the caller can see, as wire dicts, and their total."""
    rows, total = repo.list_projects(
        session, me.customer_id, None if me.is_admin else me.user_id, include_archived, offset, limit
    )
    return to_wire_many(session, rows), total


def create_project(session: Session, me: Principal, body: ProjectCreate) -> Project:
    """Create a project (with its dataset); the creator becomes its manager.

    Raises:
        ConflictError: A project with this name exists in the organization (archived ones
            included, as the official client checks); the existing project is attached.
    """
    name = _clean_name(body.name)
    locks.serialize(session, "project-name", me.customer_id, name)
    existing = repo.get_by_name(session, me.customer_id, name)
    if existing is not None:
        raise name_taken(session, me, name, existing)
    resources = resource_service.visible_resources(session, me, body.resource_ids) if body.resource_ids else []
    deleted = [r.id for r in resources if r.deleted]
    if deleted:
        raise ValidationFailedError(f"Resource {deleted[0]} is deleted; restore it before adding it to a project")
    dataset = Dataset(customer_id=me.customer_id, name=name, description=body.description or "",
                      created_by=me.email)
    session.add(dataset)
    session.flush()
    seg = clean_segmentation_data(body.segmentationData.model_dump() if body.segmentationData else None)
    project = Project(
        customer_id=me.customer_id,
        name=name,
        description=body.description,
        created_by=me.email,
        dataset_id=dataset.id,
        is_active_learning=body.is_active_learning,
        two_up_display=body.two_up_display,
        require_review=body.require_review,
        segmentation_data=seg,
        pinned_metrics=[],
    )
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=me.user_id, roles=["PROJECT_MANAGER"]))
    if resources:
        resource_repo.add_to_project(session, project.id, [r.id for r in resources], me.email)
    session.flush()
    from datamint.server.worklists import service as worklists_service

    worklists_service.create_for_project(session, me, project,
                                         body.annotation_set.model_dump() if body.annotation_set else None, seg)
    return project


def update_project(session: Session, me: Principal, project_id: str, body: ProjectUpdate) -> Project:
    """Change a project's name, description, flags or pinned metrics (managers and admins)."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    changes = body.model_dump(exclude_unset=True)
    locks.lock_row(session, Project, project.id)  # a read-modify-write of its JSON fields
    if changes.get("name") is not None:
        name = _clean_name(changes["name"])
        locks.serialize(session, "project-name", me.customer_id, name)
        other = repo.get_by_name(session, me.customer_id, name)
        if other is not None and other.id != project.id:
            raise name_taken(session, me, name, other)
        project.name = name
    if changes.get("segmentationData") is not None:
        project.segmentation_data = clean_segmentation_data(changes["segmentationData"], project.segmentation_data)
    for key in ("description", "is_active_learning", "two_up_display", "require_review", "enable_label_status_verified",
                "pinned_metrics", "most_recent_experiment"):
        if key in changes and (changes[key] is not None or key in ("description", "most_recent_experiment")):
            setattr(project, key, changes[key])
    project.updated_at = utcnow()
    return project


def archive_project(session: Session, me: Principal, project_id: str) -> None:
    """Archive (soft-delete) a project; it can be restored."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    if not project.archived:
        project.archived = True
        project.archived_at = utcnow()
        project.archived_by = me.email


def restore_project(session: Session, me: Principal, project_id: str) -> Project:
    """Bring an archived project back."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    project.archived = False
    project.archived_at = None
    project.archived_by = None
    project.updated_at = utcnow()
    return project


def _clean_name(name: str) -> str:
    """``name`` stripped; a 422 when nothing is left."""
    name = name.strip()
    if not name:
        raise ValidationFailedError("Project name must not be blank")
    return name


def to_wire_many(session: Session, projects: Sequence[Project]) -> list[dict[str, Any]]:
    """Wire dicts of several projects, with their counts fetched in one query."""
    from datamint.server.worklists import service as worklists_service

    ids = [p.id for p in projects]
    counts = repo.count_resources(session, ids)
    worklists = worklists_service.project_info(session, ids)
    return [{**_wire(p, counts.get(p.id, 0)), **worklists[p.id]} for p in projects]


def to_wire(session: Session, project: Project) -> dict[str, Any]:
    """The wire shape of one project (wire protocol §5.1)."""
    return to_wire_many(session, [project])[0]


def _wire(p: Project, resource_count: int) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "created_at": iso(p.created_at),
        "created_by": p.created_by,
        "updated_at": iso(p.updated_at),
        "customer_id": p.customer_id,
        "dataset_id": p.dataset_id,
        "archived": p.archived,
        "archived_at": iso(p.archived_at),
        "archived_by": p.archived_by,
        "resource_count": resource_count,
        "is_active_learning": p.is_active_learning,
        "two_up_display": p.two_up_display,
        "require_review": p.require_review,
        "enable_label_status_verified": p.enable_label_status_verified,
        "segmentationData": p.segmentation_data,
        "pinned_metrics": list(p.pinned_metrics or []),
        "most_recent_experiment": p.most_recent_experiment,
        "annotators": [],
    }

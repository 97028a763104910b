"""Rules for projects: visibility, unique names, archive/restore, and the project's own wire fields.

What spans areas (creating a project also adds its resources and creates its worklist; its wire
shape counts its resources and names its worklists) is composed in :mod:`datamint.server.flows.projects`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.projects import repository as repo
from datamint.server.projects.models import Dataset, Project, ProjectMember
from datamint.server.projects.schemas import ProjectCreate


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


def visible_projects(session: Session, me: Principal, include_archived: bool, offset: int, limit: int
                     ) -> tuple[Sequence[Project], int]:
    """The projects the caller can see, and their total."""
    return repo.list_projects(session, me.customer_id, None if me.is_admin else me.user_id, include_archived,
                              offset, limit)


def name_holder(session: Session, me: Principal, name: str) -> Project | None:
    """The project of the caller's organization named ``name`` (archived ones included), if any;
    the name stays reserved by the caller's transaction (a lock) until it ends."""
    locks.serialize(session, "project-name", me.customer_id, name)
    return repo.get_by_name(session, me.customer_id, name)


def create_project(session: Session, me: Principal, name: str, body: ProjectCreate,
                   segmentation_data: dict[str, Any]) -> Project:
    """Create a project row with its dataset; the creator becomes its manager.

    ``name`` is already cleaned and checked free (:func:`name_holder`); ``segmentation_data``
    already cleaned by the worklists' label rules. The flow that calls this adds the rest.
    """
    dataset = Dataset(customer_id=me.customer_id, name=name, description=body.description or "",
                      created_by=me.email)
    session.add(dataset)
    session.flush()
    project = Project(
        customer_id=me.customer_id,
        name=name,
        description=body.description,
        created_by=me.email,
        dataset_id=dataset.id,
        is_active_learning=body.is_active_learning,
        two_up_display=body.two_up_display,
        require_review=body.require_review,
        segmentation_data=segmentation_data,
        pinned_metrics=[],
    )
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=me.user_id, roles=["PROJECT_MANAGER"]))
    session.flush()
    return project


def editable_project(session: Session, me: Principal, project_id: str) -> Project:
    """The project, locked for a read-modify-write of its fields (managers and admins)."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    locks.lock_row(session, Project, project.id)  # a read-modify-write of its JSON fields
    return project


def update_project(project: Project, changes: dict[str, Any], name: str | None,
                   segmentation_data: dict[str, Any] | None) -> Project:
    """Apply a project's changes: ``name`` (cleaned, checked free) and ``segmentation_data``
    (cleaned) when they change, then the plain fields of ``changes``."""
    if name is not None:
        project.name = name
    if segmentation_data is not None:
        project.segmentation_data = segmentation_data
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


def clean_name(name: str) -> str:
    """``name`` stripped; a 422 when nothing is left."""
    name = name.strip()
    if not name:
        raise ValidationFailedError("Project name must not be blank")
    return name


def wire(p: Project, resource_count: int) -> dict[str, Any]:
    """The project's own wire fields (wire protocol §5.1); the flow adds its worklists'."""
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

"""Projects endpoints (wire protocol §4.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from datamint.server import policy
from datamint.server.common.pagination import PageDep, envelope
from datamint.server.deps import CurrentUser, SessionDep, UnitOfWork
from datamint.server.flows import projects as flows
from datamint.server.projects import member_service, service
from datamint.server.projects.schemas import MemberSet, ProjectCreate, ProjectUpdate

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("")
def list_projects(
    session: SessionDep,
    me: CurrentUser,
    page: PageDep,
    includeArchived: Annotated[bool, Query(description="Include archived (deleted) projects")] = False,  # noqa: N803
) -> dict[str, Any]:
    """The projects the caller can see, paginated."""
    policy.require(me, policy.Action.PROJECTS_READ)
    items, total = flows.list_projects(session, me, includeArchived, page.offset, page.limit)
    return envelope(items, total)


@router.post("", status_code=201)
def create_project(body: ProjectCreate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Create a project; 409 with the existing project when the name is taken."""
    policy.require(me, policy.Action.PROJECTS_CREATE)
    project = flows.create_project(session, me, body)
    return flows.to_wire(session, project)


@router.get("/{project_id}")
def get_project(project_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One project (archived ones too)."""
    project, _ = service.visible_project(session, me, project_id)
    return flows.to_wire(session, project)


@router.patch("/{project_id}")
def update_project(project_id: str, body: ProjectUpdate, session: UnitOfWork,
                   me: CurrentUser) -> dict[str, Any]:
    """Change a project's name, description, flags or pinned metrics."""
    project = flows.update_project(session, me, project_id, body)
    return flows.to_wire(session, project)


@router.delete("/{project_id}", status_code=204)
def delete_project(project_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Archive a project (restorable with ``POST /projects/{id}/restore``)."""
    service.archive_project(session, me, project_id)
    return Response(status_code=204)


@router.post("/{project_id}/restore")
def restore_project(project_id: str, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Restore an archived project."""
    project = service.restore_project(session, me, project_id)
    return flows.to_wire(session, project)


@router.get("/{project_id}/members")
def list_project_members(project_id: str, session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """The project's members and their roles (a bare list)."""
    return member_service.list_members(session, me, project_id)


@router.post("/{project_id}/members/{user_id}")
def set_project_member(project_id: str, user_id: str, body: MemberSet, session: UnitOfWork,
                       me: CurrentUser) -> dict[str, Any]:
    """Add a user (by id or email) to the project, or replace its roles there."""
    member = member_service.set_member(session, me, project_id, user_id, body.roles, body.expertise_level,
                                       body.status)
    return member


@router.delete("/{project_id}/members/{user_id}", status_code=204)
def remove_project_member(project_id: str, user_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Remove a user from the project; the last manager cannot be removed."""
    member_service.remove_member(session, me, project_id, user_id)
    return Response(status_code=204)

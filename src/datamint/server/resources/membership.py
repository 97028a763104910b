"""Which resources belong to which project (``/projects/{id}/resources``), and upload channels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.db import locks
from datamint.server.errors import BadRequestError
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project
from datamint.server.resources import repository as repo
from datamint.server.resources import service, wire


def managed_project(session: Session, me: Principal, project_id: str, *, lock: bool = False) -> Project:
    """A project the caller may change (404 for non-members, 403 without the manager role).

    Args:
        lock: Also lock the project's row until the transaction ends (before changing what it
            holds), and check it again under the lock.
    """
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    if lock:
        locks.lock_row(session, Project, project.id)
    if project.archived:
        raise BadRequestError(f"Project {project.name!r} is archived; restore it before changing its resources")
    return project


def update_project_resources(session: Session, me: Principal, project_id: str, to_add: Sequence[str],
                             to_delete: Sequence[str], all_files_selected: bool) -> dict[str, Any]:
    """Add and remove resources of a project in one transaction.

    Args:
        to_add: Resources to add (already present ones are skipped).
        to_delete: Resources to remove (absent ones are ignored).
        all_files_selected: Add every live resource of the organization.

    Returns:
        ``{"project_id", "added", "removed", "resource_count"}``.

    Raises:
        NotFoundError: A listed resource does not exist in the organization (nothing changes).
        BadRequestError: A resource to add is deleted.
    """
    project = managed_project(session, me, project_id, lock=True)
    adding = service.visible_resources(session, me, to_add) if to_add else []
    removing = service.visible_resources(session, me, to_delete) if to_delete else []
    deleted = [r.id for r in adding if r.deleted]
    if deleted:
        raise BadRequestError(f"Resource {deleted[0]} is deleted; restore it before adding it to a project")
    added = repo.add_to_project(session, project.id, [r.id for r in adding], me.email)
    if all_files_selected:
        repo.add_all_to_project(session, me.customer_id, project.id, me.email)
    if removing:
        repo.remove_from_project(session, project.id, [r.id for r in removing])
    session.flush()
    count = repo.count_project_resources(session, [project.id])[project.id]
    return {"project_id": project.id, "added": added, "removed": len(removing), "resource_count": count}


#: ``(session, project_id, label_set, status) -> ids of the project's resources with that label
#: status`` — plugged in by the label-quality area (``quality.label_status``), which sits above this one.
LABEL_STATUS_FILTERS: list[Callable[[Session, str, str, str], set[str]]] = []


def project_resources(session: Session, me: Principal, project_id: str, label_status: str | None = None,
                      label_set: str = "ground-truth") -> list[dict[str, Any]]:
    """Every live resource of a project, as wire dicts (a bare list, not paginated); with
    ``label_status``, only those with that status in ``label_set``."""
    project, _ = visible_project(session, me, project_id)
    rows = repo.project_resources(session, project.id)
    if label_status is not None:
        for keep in LABEL_STATUS_FILTERS:
            wanted = keep(session, project.id, label_set, label_status)
            rows = [r for r in rows if r.id in wanted]
    return wire.to_wire_many(session, rows)


def list_channels(session: Session, me: Principal, channel_name: str | None, project_name: str | None,
                  offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of upload channels with their resources, and the number of channels."""
    policy.require(me, policy.Action.RESOURCES_READ)
    project_id = None
    if project_name:
        ids = service.visible_project_ids(session, me, [project_name])
        if not ids:
            return [], 0
        project_id = ids[0]
    groups, total = repo.list_channels(session, me.customer_id, channel_name, project_id, offset, limit)
    members = repo.channel_members(session, me.customer_id, [g[0] for g in groups], project_id)
    return [wire.channel_to_wire(name, first, last, members.get(name, [])) for name, first, last, _ in groups], total

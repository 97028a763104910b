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
from datamint.server.resources import service, wire, wire_json


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


#: Resources whose JSON one statement of :func:`.wire_json.resources_json` writes (a project's are
#: read in chunks: each chunk's texts are joined before the next is read, and the statement stays
#: the size of a listing page's).
JSON_CHUNK = 5000


def project_resources_json(session: Session, me: Principal, project_id: str, label_status: str | None = None,
                           label_set: str = "ground-truth") -> bytes:
    """Every live resource of a project, oldest first, as the JSON text of a bare array (not
    paginated); with ``label_status``, only those with that status in ``label_set``.

    The database writes each resource's object (:mod:`.wire_json`, the fields and values of
    :func:`.wire.to_wire_many`); Python only joins the texts. The ids and their JSON are two
    statements (as in ``GET /resources``): on PostgreSQL (read committed) a resource deleted
    between the two is still listed, as it now is (``deleted: true``); a row gone is left out.
    """
    project, _ = visible_project(session, me, project_id)
    ids = repo.project_resource_ids(session, project.id)
    if label_status is not None:
        for keep in LABEL_STATUS_FILTERS:
            wanted = keep(session, project.id, label_set, label_status)
            ids = [rid for rid in ids if rid in wanted]
    parts: list[bytes] = []  # each chunk encoded at once: the body is held twice at most, not three times
    for start in range(0, len(ids), JSON_CHUNK):
        chunk = ids[start:start + JSON_CHUNK]
        written = wire_json.resources_json(session, chunk)
        text = ",".join(written[rid] for rid in chunk if rid in written)
        if text:
            parts.append(text.encode())
    return b"[" + b",".join(parts) + b"]"


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

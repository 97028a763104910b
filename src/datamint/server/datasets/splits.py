"""Project splits (wire §4.1): which resource of a project is in which named split.

Assigning a resource to a split ends its previous assignment (``deleted_at``/``deleted_by``)
rather than overwriting it, so ``as_of_timestamp`` can list the splits in force at any time.
Reading splits needs ``project.read``; assigning them ``project.manage``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.common.times import parse_time
from datamint.server.datasets import repository as repo
from datamint.server.datasets.models import ProjectResourceSplit
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project
from datamint.server.resources import service as resources_service


def to_wire(split: ProjectResourceSplit) -> dict[str, Any]:
    """The wire shape of ProjectResourceSplit (wire §5.4)."""
    return {"id": split.id, "split_name": split.split_name, "project_id": split.project_id,
            "resource_id": split.resource_id, "created_at": iso(split.created_at), "created_by": split.created_by,
            "deleted_at": iso(split.deleted_at), "deleted_by": split.deleted_by}


def _split_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > 100:
        raise ValidationFailedError("split_name must be 1-100 characters, such as 'train', 'val' or 'test'")
    return cleaned


def list_splits(session: Session, me: Principal, project_id: str, split_name: str | None,
                as_of_timestamp: str | None) -> list[dict[str, Any]]:
    """The project's split assignments in force now, or at ``as_of_timestamp``."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.READ)
    name = _split_name(split_name) if split_name is not None else None
    as_of = parse_time(as_of_timestamp, "as_of_timestamp")
    return [to_wire(s) for s in repo.list_splits(session, project.id, name, as_of)]


def assign(session: Session, me: Principal, project_id: str, resource_ids: list[str], split_name: str
           ) -> dict[str, Any]:
    """Put resources of the project into ``split_name`` (ending their previous assignment).

    Assignments of one project happen under its row lock, so concurrent requests apply one after
    the other; the database also holds "one current split per resource" (a partial unique index).

    Raises:
        NotFoundError: A resource that does not exist for the caller (other organizations' included).
        ValidationFailedError: Bad split name, or a resource that is not in the project.
    """
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    name = _split_name(split_name)
    ids = [r.id for r in resources_service.visible_resources(session, me, list(dict.fromkeys(resource_ids)))]
    locks.lock_row(session, Project, project.id)
    members = repo.project_resource_ids(session, project.id, ids)
    outside = [rid for rid in ids if rid not in members]
    if outside:
        raise ValidationFailedError(f"Resource {outside[0]} is not in project {project.name!r}"
                                    + (f" (and {len(outside) - 1} more)" if len(outside) > 1 else "")
                                    + "; add it to the project first")
    current = repo.active_splits(session, project.id, ids)
    now = utcnow()
    assigned = 0
    for rid in ids:
        previous = current.get(rid)
        if previous is not None and previous.split_name == name:
            continue
        if previous is not None:
            previous.deleted_at, previous.deleted_by = now, me.email
        session.add(ProjectResourceSplit(project_id=project.id, resource_id=rid, split_name=name, created_at=now,
                                         created_by=me.email))
        assigned += 1
    session.flush()
    return {"project_id": project.id, "split_name": name, "assigned": assigned, "unchanged": len(ids) - assigned}


def resource_split(session: Session, me: Principal, project_id: str, resource_id: str) -> dict[str, Any]:
    """The current split of one resource of the project.

    Raises:
        NotFoundError: The resource has no split (the official client reads this as "none").
    """
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.READ)
    rid = check_uuid(resource_id, "resource")
    split = repo.active_splits(session, project.id, [rid]).get(rid)
    if split is None:
        raise NotFoundError("Resource split", f"Resource split not found: resource {rid} is in no split of "
                            f"project {project.name!r}")
    return to_wire(split)

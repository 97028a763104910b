"""Rules for project membership: who is in a project with which roles.

Managers (and organization admins) add members, change their roles and remove them; a
project always keeps at least one manager. Every change of a project's members happens under the
project's row lock (:func:`lock_project`), so two changes cannot both take "the other" manager away,
and deleting a user who is a project's last manager is refused as well.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth import service as users
from datamint.server.auth.models import User
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.projects import repository as repo
from datamint.server.projects.models import Project, ProjectMember
from datamint.server.projects.service import visible_project

MANAGER = "PROJECT_MANAGER"


def check_project_roles(roles: list[str] | None) -> list[str]:
    """``roles`` deduplicated in canonical order, or a 422 when empty or unknown."""
    if not roles:
        raise ValidationFailedError(f"Give at least one project role: {list(policy.PROJECT_ROLES)}")
    bad = [r for r in roles if r not in policy.PROJECT_ROLES]
    if bad:
        raise ValidationFailedError(f"Unknown project role(s) {bad}; allowed: {list(policy.PROJECT_ROLES)}")
    return [r for r in policy.PROJECT_ROLES if r in roles]


def list_members(session: Session, me: Principal, project_id: str) -> list[dict[str, Any]]:
    """The members of a project with their roles.

    Raises:
        NotFoundError: The project is not visible to the caller.
        ForbiddenError: The caller's project roles do not include reading members.
    """
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MEMBERS_READ)
    return [member_to_wire(m, u) for m, u in repo.list_members(session, project.id)]


def set_member(
    session: Session,
    me: Principal,
    project_id: str,
    user_ref: str,
    roles: list[str],
    expertise_level: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Add a user of the organization to a project, or replace its roles there.

    Args:
        user_ref: The user's id or email.

    Raises:
        NotFoundError: The project or the user is not visible to the caller.
        ForbiddenError: The caller may not manage the project's members.
        ValidationFailedError: Unknown roles.
        ConflictError: The change would leave the project without a manager.
    """
    project, my_roles = visible_project(session, me, project_id)
    policy.require_project(me, my_roles, policy.ProjectAction.MEMBERS_MANAGE)
    user = _member_user(session, me, user_ref)
    roles = check_project_roles(roles)
    lock_project(session, project)
    if MANAGER not in roles:
        _keep_a_manager(session, project, user)
    member = upsert_member(session, project, user, roles, expertise_level, status)
    return member_to_wire(member, user)


def remove_member(session: Session, me: Principal, project_id: str, user_ref: str) -> None:
    """Remove a user from a project.

    Raises:
        NotFoundError: The project, the user or the membership does not exist for the caller.
        ConflictError: The user is the project's last manager.
    """
    project, my_roles = visible_project(session, me, project_id)
    policy.require_project(me, my_roles, policy.ProjectAction.MEMBERS_MANAGE)
    user = _member_user(session, me, user_ref)
    lock_project(session, project)
    member = repo.get_member(session, project.id, user.id)
    if member is None:
        raise NotFoundError("Project member")
    _keep_a_manager(session, project, user)
    session.delete(member)


def lock_project(session: Session, project: Project) -> None:
    """Lock ``project``'s row until the transaction ends: its members (and everything else read
    from it) are read again under the lock."""
    locks.lock_row(session, Project, project.id)


def upsert_member(
    session: Session,
    project: Project,
    user: User,
    roles: list[str],
    expertise_level: str | None = None,
    status: str | None = None,
) -> ProjectMember:
    """Create or update ``user``'s membership of ``project`` (no permission check; the caller
    holds :func:`lock_project`)."""
    member = repo.get_member(session, project.id, user.id)
    if member is None:
        member = ProjectMember(project_id=project.id, user_id=user.id, roles=roles,
                               expertise_level=expertise_level, status=status or "active")
        session.add(member)
    else:
        member.roles = roles
        if expertise_level is not None:
            member.expertise_level = expertise_level
        if status is not None:
            member.status = status
    session.flush()
    return member


def member_to_wire(member: ProjectMember, user: User) -> dict[str, Any]:
    """The wire shape of a membership (wire protocol §4.1, ``get_members``)."""
    return {
        "project_id": member.project_id,
        "user_id": user.id,
        "email": user.email,
        "roles": list(member.roles or []),
        "expertise_level": member.expertise_level,
        "status": member.status,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "created_at": iso(member.created_at),
    }


def _member_user(session: Session, me: Principal, user_ref: str) -> User:
    ref = (user_ref or "").strip()
    if "@" not in ref:
        ref = check_uuid(ref, "user")
    return users.get_user(session, me, ref)


def _keep_a_manager(session: Session, project: Project, leaving: User) -> None:
    """Refuse a change that would take the last manager's role away from ``leaving`` (the caller
    holds :func:`lock_project`)."""
    managers = [u.id for m, u in repo.list_members(session, project.id) if MANAGER in (m.roles or [])]
    if managers == [leaving.id]:
        raise ConflictError(
            f"{leaving.email} is the last {MANAGER} of project {project.name!r}; "
            "give another member that role first"
        )


def keep_projects_managed(session: Session, user: User) -> None:
    """Before ``user`` is deleted: refuse when it is the last manager of a project.

    Raises:
        ConflictError: Naming the projects that would be left without a manager.
    """
    locked: set[str] = set()
    while True:  # lock the projects it manages; read again in case it became a manager meanwhile
        managed = {m.project_id for m in repo.memberships_of(session, user.id) if MANAGER in (m.roles or [])}
        if managed <= locked:
            break
        locks.lock_rows(session, Project, sorted(managed - locked))
        locked |= managed
    orphaned = []
    for project_id in sorted(managed):
        members = repo.list_members(session, project_id)
        if [u.id for m, u in members if MANAGER in (m.roles or [])] == [user.id]:
            orphaned.append(session.get(Project, project_id).name)  # type: ignore[union-attr]
    if orphaned:
        names = ", ".join(repr(n) for n in sorted(orphaned)[:5]) + (" ..." if len(orphaned) > 5 else "")
        raise ConflictError(f"{user.email} is the last {MANAGER} of project(s) {names}; give another member that "
                            "role first")


if keep_projects_managed not in users.USER_REMOVAL_CHECKS:
    users.USER_REMOVAL_CHECKS.append(keep_projects_managed)

"""The permission table, enforced in one place.

Routers call :func:`require` with the caller and the action; the table below says which
organization roles may do what. Project-level roles (manager, reviewer, annotator) refine the
project-scoped actions and are checked by :func:`require_project_role`.
"""

from __future__ import annotations

from enum import Enum

from datamint.server.auth.service import Principal
from datamint.server.errors import ForbiddenError


class Action(str, Enum):
    """Everything a caller may be allowed to do at organization level."""

    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    PROJECTS_READ = "projects.read"
    PROJECTS_CREATE = "projects.create"
    PROJECTS_MANAGE = "projects.manage"


#: Organization role → actions it grants.
ORG_TABLE: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "member": frozenset({Action.USERS_READ, Action.PROJECTS_READ, Action.PROJECTS_CREATE}),
}


def allowed(principal: Principal, action: Action) -> bool:
    """Whether any of the caller's organization roles grants ``action``."""
    return any(action in ORG_TABLE.get(role, frozenset()) for role in principal.roles)


def require(principal: Principal, action: Action) -> None:
    """Raise 403 unless the caller may perform ``action``."""
    if not allowed(principal, action):
        raise ForbiddenError(f"Your role(s) {list(principal.roles)} do not allow '{action.value}'; ask an admin")


class ProjectAction(str, Enum):
    """Actions on one project, granted by the caller's roles in that project."""

    READ = "project.read"
    MANAGE = "project.manage"


PROJECT_ROLES = ("PROJECT_MANAGER", "PROJECT_REVIEWER", "PROJECT_ANNOTATOR")

#: Project role → actions it grants. Organization admins may do everything in every project.
PROJECT_TABLE: dict[str, frozenset[ProjectAction]] = {
    "PROJECT_MANAGER": frozenset(ProjectAction),
    "PROJECT_REVIEWER": frozenset({ProjectAction.READ}),
    "PROJECT_ANNOTATOR": frozenset({ProjectAction.READ}),
}


def project_allowed(principal: Principal, member_roles: list[str] | None, action: ProjectAction) -> bool:
    """Whether the caller, holding ``member_roles`` in the project (None: not a member), may act."""
    if principal.is_admin:
        return True
    return any(action in PROJECT_TABLE.get(role, frozenset()) for role in (member_roles or ()))


def require_project(principal: Principal, member_roles: list[str] | None, action: ProjectAction) -> None:
    """Raise 403 unless the caller may perform ``action`` in the project.

    Callers first make sure non-members get 404 (they must not learn the project exists).
    """
    if not project_allowed(principal, member_roles, action):
        raise ForbiddenError(
            f"Your project role(s) {member_roles or []} do not allow '{action.value}'; ask a project manager"
        )

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
    RESOURCES_READ = "resources.read"
    RESOURCES_UPLOAD = "resources.upload"
    RESOURCES_TAG = "resources.tag"
    RESOURCES_PUBLISH = "resources.publish"
    RESOURCES_DELETE = "resources.delete"
    ANNOTATIONS_WRITE = "annotations.write"
    """Create, change and delete one's own annotations on resources outside any project worklist."""
    ANNOTATIONS_REVIEW = "annotations.review"
    """Approve, change or delete anybody's annotations outside any project worklist."""


#: Organization role → actions it grants.
#:
#: Resources: admins and members may list, read, download, upload and tag every resource of their
#: organization. Publishing, deleting and restoring a resource are granted to members only for the
#: resources they uploaded themselves (:data:`OWN_ONLY`); admins may do them on any resource.
ORG_TABLE: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "member": frozenset({
        Action.USERS_READ, Action.PROJECTS_READ, Action.PROJECTS_CREATE, Action.RESOURCES_READ,
        Action.RESOURCES_UPLOAD, Action.RESOURCES_TAG, Action.RESOURCES_PUBLISH, Action.RESOURCES_DELETE,
        Action.ANNOTATIONS_WRITE,
    }),
}

#: Organization role → actions it grants only on entities the caller created.
OWN_ONLY: dict[str, frozenset[Action]] = {
    "member": frozenset({Action.RESOURCES_PUBLISH, Action.RESOURCES_DELETE}),
}


def allowed(principal: Principal, action: Action) -> bool:
    """Whether any of the caller's organization roles grants ``action``."""
    return any(action in ORG_TABLE.get(role, frozenset()) for role in principal.roles)


def require(principal: Principal, action: Action) -> None:
    """Raise 403 unless the caller may perform ``action``."""
    if not allowed(principal, action):
        raise ForbiddenError(f"Your role(s) {list(principal.roles)} do not allow '{action.value}'; ask an admin")


def allowed_on(principal: Principal, action: Action, owner_user_id: str | None) -> bool:
    """Whether the caller may perform ``action`` on an entity created by ``owner_user_id``."""
    for role in principal.roles:
        if action not in ORG_TABLE.get(role, frozenset()):
            continue
        if action not in OWN_ONLY.get(role, frozenset()) or owner_user_id == principal.user_id:
            return True
    return False


def require_on(principal: Principal, action: Action, owner_user_id: str | None, thing: str = "entity") -> None:
    """Raise 403 unless the caller may perform ``action`` on an entity created by ``owner_user_id``.

    Args:
        principal: The caller.
        action: What the caller wants to do.
        owner_user_id: Id of the user who created the entity.
        thing: What the entity is, for the message (e.g. ``"resource"``).
    """
    require(principal, action)
    if not allowed_on(principal, action, owner_user_id):
        raise ForbiddenError(f"Your role(s) {list(principal.roles)} allow '{action.value}' only on the "
                             f"{thing}s you created; ask an admin")


class ProjectAction(str, Enum):
    """Actions on one project, granted by the caller's roles in that project."""

    READ = "project.read"
    """See the project, its resources, worklists, annotations and one's own assignments."""
    MANAGE = "project.manage"
    """Change, archive and restore the project; add and remove its resources."""
    ANNOTATE = "project.annotate"
    """Create, change and delete one's own annotations and work statuses in the project's worklists."""
    REVIEW = "project.review"
    """Approve annotations, request revisions, change or delete anybody's annotations in the project."""
    STATISTICS_READ = "project.statistics.read"
    """Read the project's progress, annotator statistics, statuses and review messages of everybody."""
    EXPORT = "project.export"
    """Download the project's annotations (CSV / XLSX)."""
    MANAGE_WORKLISTS = "project.worklists.manage"
    """Create and change worklists: specs, label groups, resources, annotators."""


PROJECT_ROLES = ("PROJECT_MANAGER", "PROJECT_REVIEWER", "PROJECT_ANNOTATOR")

#: Project role → actions it grants. Organization admins may do everything in every project.
PROJECT_TABLE: dict[str, frozenset[ProjectAction]] = {
    "PROJECT_MANAGER": frozenset(ProjectAction),
    "PROJECT_REVIEWER": frozenset({
        ProjectAction.READ, ProjectAction.REVIEW, ProjectAction.STATISTICS_READ, ProjectAction.EXPORT,
    }),
    "PROJECT_ANNOTATOR": frozenset({ProjectAction.READ, ProjectAction.ANNOTATE}),
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


#: What any organization member may do in a worklist that belongs to no project (its creator and
#: the organization's admins may do everything there).
FREE_WORKLIST_ACTIONS = frozenset({ProjectAction.READ, ProjectAction.ANNOTATE})


def require_worklist(principal: Principal, member_roles: list[str] | None, action: ProjectAction, *,
                     in_project: bool, is_creator: bool) -> None:
    """Raise 403 unless the caller may perform ``action`` in a worklist.

    A worklist of a project follows the project's table (:func:`require_project`). A worklist
    outside any project is managed by its creator and the organization's admins; other members
    may read it and annotate in it.

    Args:
        principal: The caller.
        member_roles: The caller's roles in the worklist's project (None: not a member).
        action: What the caller wants to do.
        in_project: Whether the worklist belongs to a project.
        is_creator: Whether the caller created the worklist.
    """
    if in_project:
        require_project(principal, member_roles, action)
        return
    if principal.is_admin or is_creator:
        return
    if action not in FREE_WORKLIST_ACTIONS or (action is ProjectAction.ANNOTATE
                                               and not allowed(principal, Action.ANNOTATIONS_WRITE)):
        raise ForbiddenError(f"Only the worklist's creator or an admin may do '{action.value}' in it")


def require_annotation_change(principal: Principal, member_roles: list[str] | None, *, in_project: bool,
                              is_author: bool) -> None:
    """Raise 403 unless the caller may change or delete an annotation.

    Authors change their own annotations (``ANNOTATE`` in the annotation's project, or
    ``annotations.write`` outside projects); reviewers, managers and admins change anybody's
    (``REVIEW`` in the project, ``annotations.review`` outside projects).
    """
    if in_project:
        require_project(principal, member_roles, ProjectAction.ANNOTATE if is_author else ProjectAction.REVIEW)
        return
    require(principal, Action.ANNOTATIONS_WRITE if is_author else Action.ANNOTATIONS_REVIEW)


def require_annotation_review(principal: Principal, member_roles: list[str] | None, *, in_project: bool) -> None:
    """Raise 403 unless the caller may approve an annotation (``REVIEW`` / ``annotations.review``)."""
    if in_project:
        require_project(principal, member_roles, ProjectAction.REVIEW)
    else:
        require(principal, Action.ANNOTATIONS_REVIEW)

"""The permission model, enforced in one place.

Two tables decide every permission question of the server:

* :data:`ORG_TABLE`: organization role (``admin``, ``member``) → the :class:`Action` values it
  grants. Routers call :func:`require` before touching organization-wide data.
* :data:`PROJECT_TABLE`: project role (``PROJECT_MANAGER``, ``PROJECT_REVIEWER``,
  ``PROJECT_ANNOTATOR``) → the :class:`ProjectAction` values it grants inside that project.
  Services first resolve the project with ``projects.service.visible_project`` (404 for
  outsiders, who must not learn that the project exists), then call :func:`require_project`.
  Organization admins hold every project action in every project of their organization.

``docs/permissions.md`` shows both tables and, per route, the status each kind of caller gets;
``tests/server/test_policy.py`` checks that the document and these tables agree, and
``tests/e2e/test_authorization_matrix.py`` checks the running server against the route table.
Never decide a permission with an ``if`` elsewhere: add an action here instead.
"""

from __future__ import annotations

from enum import Enum

from datamint.server.errors import ForbiddenError
from datamint.server.identity import Principal


class Action(str, Enum):
    """Organization-level actions, granted by organization roles (:data:`ORG_TABLE`)."""

    USERS_READ = "users.read"
    """List and view the users of the organization."""
    USERS_MANAGE = "users.manage"
    """Create, change and delete users; invite people; manage other users' API keys."""
    KEYS_MANAGE_OWN = "keys.manage_own"
    """Create, list and revoke one's own API keys."""
    AUDIT_READ = "audit.read"
    """Read the organization's audit trail."""
    PROJECTS_READ = "projects.read"
    """List the projects one is a member of (admins: all projects)."""
    PROJECTS_CREATE = "projects.create"
    """Create a project (its creator becomes its manager)."""
    RESOURCES_READ = "resources.read"
    """List, view and download the organization's resources (files) and channels."""
    RESOURCES_UPLOAD = "resources.upload"
    """Upload resources and change their tags and metadata."""
    RESOURCES_PUBLISH = "resources.publish"
    """Move resources from the inbox to published."""
    RESOURCES_DELETE = "resources.delete"
    """Delete (and restore) resources."""
    ANNOTATIONS_WRITE = "annotations.write"
    """Create, change and delete one's own annotations outside any project."""
    ANNOTATIONS_REVIEW = "annotations.review"
    """Approve, change or delete anybody's annotations outside any project."""
    DICOM_MANAGE = "dicom.manage"
    """Read and change how DICOM is received over the network (anonymization, calling AE titles)."""


#: Organization role → actions it grants.
ORG_TABLE: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "member": frozenset({
        Action.USERS_READ,
        Action.KEYS_MANAGE_OWN,
        Action.PROJECTS_READ,
        Action.PROJECTS_CREATE,
        Action.RESOURCES_READ,
        Action.RESOURCES_UPLOAD,
        Action.RESOURCES_PUBLISH,
        Action.ANNOTATIONS_WRITE,
    }),
}


class ProjectAction(str, Enum):
    """Actions inside one project, granted by the caller's roles in it (:data:`PROJECT_TABLE`)."""

    READ = "project.read"
    """See the project, its resources, worklists and one's own assignments."""
    MANAGE = "project.manage"
    """Change, archive and restore the project; add and remove its resources; manage worklists."""
    MEMBERS_READ = "project.members.read"
    """List the project's members and their roles."""
    MEMBERS_MANAGE = "project.members.manage"
    """Add members, change their roles, remove them."""
    ANNOTATE = "project.annotate"
    """Create, change and delete one's own annotations in the project."""
    REVIEW = "project.review"
    """Approve annotations or request their revision."""
    STATISTICS_READ = "project.statistics.read"
    """Read the project's progress and annotator statistics."""
    EXPORT = "project.export"
    """Export or download the project's annotations and dataset."""
    JOBS = "project.jobs"
    """See, follow and cancel every background job of the project (anyone's)."""
    MODELS = "project.models"
    """Track experiments and runs, register models and deploy them (MLflow writes, deploys)."""
    PREDICT = "project.predict"
    """Run the project's deployed models on its data (inference jobs)."""


PROJECT_ROLES = ("PROJECT_MANAGER", "PROJECT_REVIEWER", "PROJECT_ANNOTATOR")

#: Project role → actions it grants. Organization admins hold every project action.
PROJECT_TABLE: dict[str, frozenset[ProjectAction]] = {
    "PROJECT_MANAGER": frozenset(ProjectAction),
    "PROJECT_REVIEWER": frozenset({
        ProjectAction.READ,
        ProjectAction.MEMBERS_READ,
        ProjectAction.REVIEW,
        ProjectAction.STATISTICS_READ,
        ProjectAction.EXPORT,
        ProjectAction.PREDICT,
    }),
    "PROJECT_ANNOTATOR": frozenset({
        ProjectAction.READ,
        ProjectAction.ANNOTATE,
    }),
}


def allowed(principal: Principal, action: Action) -> bool:
    """Whether any of the caller's organization roles grants ``action``."""
    return any(action in ORG_TABLE.get(role, frozenset()) for role in principal.roles)


def require(principal: Principal, action: Action) -> None:
    """Raise 403 unless the caller's organization roles grant ``action``.

    Raises:
        ForbiddenError: No role of the caller grants the action.
    """
    if not allowed(principal, action):
        raise ForbiddenError(f"Your role(s) {list(principal.roles)} do not allow '{action.value}'; "
                             "ask an admin")


def project_allowed(principal: Principal, member_roles: list[str] | None, action: ProjectAction) -> bool:
    """Whether the caller, holding ``member_roles`` in the project (None: not a member), may act."""
    if principal.is_admin:
        return True
    return any(action in PROJECT_TABLE.get(role, frozenset()) for role in (member_roles or ()))


def require_project(principal: Principal, member_roles: list[str] | None, action: ProjectAction) -> None:
    """Raise 403 unless the caller may perform ``action`` in the project.

    Callers first make sure non-members get 404 (they must not learn the project exists).

    Raises:
        ForbiddenError: None of the caller's project roles grants the action.
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


def may_see_job(principal: Principal, project_roles: list[str] | None, *, is_creator: bool) -> bool:
    """Whether the caller may see, follow and cancel a job of its organization.

    Its creator may; so may whoever holds ``project.jobs`` in the job's project (its managers) and
    the organization's admins. Everybody else gets 404 for it.

    Args:
        principal: The caller.
        project_roles: The caller's roles in the job's project (None: not a member, or no project).
        is_creator: Whether the caller created the job.
    """
    return is_creator or project_allowed(principal, project_roles, ProjectAction.JOBS)


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

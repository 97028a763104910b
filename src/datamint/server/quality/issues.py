"""Issues: a comment thread pinned to a resource (optionally at a frame and a point, in a label
set), open or closed.

Who may do what:

* read: whoever can read the resource (every member of the organization); listing a project's
  issues needs to see the project;
* open an issue: whoever can read the resource; in a project, its members;
* comment: for an issue of a project, its members (others get 404, as for any project data);
  outside projects, whoever can read the resource;
* close, reopen or edit the description: the issue's author, the project's reviewers and
  managers (``project.review``), organization admins;
* delete: the author, a project manager, an organization admin.

Status changes go open → closed → open ... one at a time: the change locks the issue's row, and
asking for the status it already has is a 409 that says so. Each change is also a comment of the
thread (with ``status`` set), so the thread tells who closed and reopened it and when.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import label_sets
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, ForbiddenError, NotFoundError, ValidationFailedError
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project
from datamint.server.quality.models import ISSUE_STATUSES, Issue, IssueComment
from datamint.server.resources import service as resources_service
from datamint.server.resources.models import ProjectResource
from datamint.server.workunits import recorder as workunits

MAX_TEXT = 20000


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailedError(f"'{what}' must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ValidationFailedError(f"'{what}' is longer than {MAX_TEXT} characters")
    return value.strip()


def _point(value: Any) -> list[float] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) not in (2, 3)
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in value)):
        raise ValidationFailedError(f"'point' must be [x, y] or [x, y, z] (pixel coordinates), got {value!r}")
    return [float(c) for c in value]


def _project_roles(session: Session, me: Principal, issue: Issue) -> list[str] | None:
    """The caller's roles in the issue's project; 404 for non-members (changing a project's issue
    is project data, like any other)."""
    if issue.project_id is None:
        return None
    return visible_project(session, me, issue.project_id)[1]


def _may(session: Session, me: Principal, issue: Issue, action: policy.ProjectAction) -> bool:
    roles = _project_roles(session, me, issue)
    if issue.created_by_id == me.user_id or me.is_admin:
        return True
    return issue.project_id is not None and policy.project_allowed(me, roles, action)


def visible_issue(session: Session, me: Principal, issue_id: str) -> Issue:
    """An issue whose resource the caller can read (404 otherwise)."""
    issue = session.get(Issue, check_uuid(issue_id, "issue"))
    if issue is None or issue.customer_id != me.customer_id:
        raise NotFoundError("Issue")
    resources_service.visible_resource(session, me, issue.resource_id)
    return issue


def create(session: Session, me: Principal, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Open (or record as closed) an issue on a resource.

    Body keys: ``description`` (required), ``status`` (``open`` default), ``project_id``,
    ``frame_index``, ``point`` ([x, y] or [x, y, z]), ``label_set``.
    """
    resource = resources_service.visible_resource(session, me, resource_id)
    if resource.deleted:
        raise ValidationFailedError(f"Resource {resource.id} is deleted; restore it before opening issues on it")
    description = _text(body.get("description"), "description")
    status = body.get("status") or "open"
    if status not in ISSUE_STATUSES:
        raise ValidationFailedError(f"Unknown issue status {status!r}; use 'open' or 'closed'")
    project_id = body.get("project_id")
    if project_id:
        project, _ = visible_project(session, me, str(project_id))
        if session.get(ProjectResource, (project.id, resource.id)) is None:
            raise ValidationFailedError(f"Resource {resource.id} is not in project {project.name!r}")
        project_id = project.id
    frame = body.get("frame_index")
    if frame is not None:
        frames = int((resource.file_metadata or {}).get("frame_count") or 1)
        if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames:
            raise ValidationFailedError(f"frame_index {frame!r} is out of range: the resource has {frames} frame(s)")
    label_set = label_sets.check_name(body["label_set"]) if body.get("label_set") else None
    now = utcnow()
    issue = Issue(customer_id=me.customer_id, project_id=project_id or None, resource_id=resource.id,
                  label_set=label_set, frame_index=frame, point=_point(body.get("point")), description=description,
                  status=status, created_at=now, created_by=me.email, created_by_id=me.user_id,
                  closed_at=now if status == "closed" else None, closed_by=me.email if status == "closed" else None)
    session.add(issue)
    workunits.record(session, customer_id=me.customer_id, user_id=me.user_id, email=me.email,
                     resource_id=resource.id, action="issue", project_id=issue.project_id, now=now)
    session.flush()
    return to_wire(session, issue)


def update(session: Session, me: Principal, issue_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change an issue's description and/or status (close, reopen), one change at a time.

    Raises:
        ForbiddenError: The caller is not the author, a reviewer of its project or an admin.
        ConflictError: The issue already has the requested status.
    """
    issue = visible_issue(session, me, issue_id)
    if not _may(session, me, issue, policy.ProjectAction.REVIEW):
        raise ForbiddenError("Only the issue's author, the project's reviewers and managers, or an admin may "
                             "change it; add a comment instead")
    issue = locks.lock_row(session, Issue, issue.id)  # type: ignore[assignment]
    now = utcnow()
    if "status" in body and body["status"] is not None:
        status = body["status"]
        if status not in ISSUE_STATUSES:
            raise ValidationFailedError(f"Unknown issue status {status!r}; use 'open' or 'closed'")
        if status == issue.status:
            raise ConflictError(f"The issue is already {status}; "
                                f"{'reopen' if status == 'closed' else 'close'} it instead, or reload")
        issue.status = status
        issue.closed_at, issue.closed_by = (now, me.email) if status == "closed" else (None, None)
        session.add(IssueComment(issue_id=issue.id, text=str(body.get("comment") or ""), status=status,
                                 created_at=now, created_by=me.email))
    if body.get("description") is not None:
        issue.description = _text(body["description"], "description")
    issue.updated_at = now
    session.flush()
    return to_wire(session, issue)


def comment(session: Session, me: Principal, issue_id: str, text: Any) -> dict[str, Any]:
    """Add a comment to an issue's thread (members of its project; anyone for issues outside projects)."""
    issue = visible_issue(session, me, issue_id)
    _project_roles(session, me, issue)
    now = utcnow()
    session.add(IssueComment(issue_id=issue.id, text=_text(text, "text"), created_at=now, created_by=me.email))
    issue.updated_at = now
    workunits.record(session, customer_id=me.customer_id, user_id=me.user_id, email=me.email,
                     resource_id=issue.resource_id, action="issue", project_id=issue.project_id, now=now)
    session.flush()
    return to_wire(session, issue)


def delete(session: Session, me: Principal, issue_id: str) -> None:
    """Delete an issue and its thread (its author, a project manager or an admin)."""
    issue = visible_issue(session, me, issue_id)
    if not _may(session, me, issue, policy.ProjectAction.MANAGE):
        raise ForbiddenError("Only the issue's author, a project manager or an admin may delete it; close it instead")
    session.delete(issue)


def listing(session: Session, *, project: Project | None = None, resource_id: str | None = None,
            status: str | None = None) -> list[dict[str, Any]]:
    """Issues of a project and/or a resource, newest first (``status`` ``open``/``closed`` filters)."""
    if status is not None and status not in ISSUE_STATUSES:
        raise ValidationFailedError(f"Unknown issue status {status!r}; use 'open' or 'closed'")
    stmt = select(Issue)
    if project is not None:
        stmt = stmt.where(Issue.project_id == project.id)
    if resource_id is not None:
        stmt = stmt.where(Issue.resource_id == resource_id)
    if status is not None:
        stmt = stmt.where(Issue.status == status)
    issues = session.scalars(stmt.order_by(Issue.created_at.desc(), Issue.id)).all()
    return _wire_many(session, issues)


def to_wire(session: Session, issue: Issue) -> dict[str, Any]:
    """An issue with its thread."""
    return _wire_many(session, [issue])[0]


def _wire_many(session: Session, issues: Any) -> list[dict[str, Any]]:
    ids = [i.id for i in issues]
    threads: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for c in session.scalars(select(IssueComment).where(IssueComment.issue_id.in_(ids))
                                 .order_by(IssueComment.created_at, IssueComment.id)):
            threads[c.issue_id].append({"id": c.id, "text": c.text, "status": c.status,
                                        "created_at": iso(c.created_at), "created_by": c.created_by})
    return [{"id": i.id, "uuid": i.id, "resource_id": i.resource_id, "sample_uuid": i.resource_id,
             "project_id": i.project_id, "label_set": i.label_set, "frame_index": i.frame_index, "point": i.point,
             "description": i.description, "status": i.status, "created_at": iso(i.created_at),
             "created_by": i.created_by, "updated_at": iso(i.updated_at), "closed_at": iso(i.closed_at),
             "closed_by": i.closed_by, "comments": threads[i.id]} for i in issues]

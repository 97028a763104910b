"""Issues on resources (``api.resources.add_issue`` ...): a comment thread pinned to a resource,
optionally at a frame and a point, open or closed (the Segments.ai seed's issues, on our resources)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from datamint.api.endpoints.resources_core import ResourcesCore
from datamint.api.entity_base_api import entity_id

if TYPE_CHECKING:

    from datamint.entities.project import Project
    from datamint.entities.resource import Resource

IssueStatus = Literal["open", "closed"]


class ResourceIssues(ResourcesCore):
    """Issue methods of ``ResourcesApi``."""


    def add_issue(self, resource: str | Resource, description: str, status: IssueStatus = "open",
                  project: str | Project | None = None, frame_index: int | None = None,
                  point: list[float] | None = None, label_set: str | None = None) -> dict[str, Any]:
        """Open an issue on a resource.

        Args:
            resource: The resource id or Resource instance.
            description: What is wrong (e.g. ``'Lesion on slice 42 is not segmented'``).
            status: ``'open'`` (default) or ``'closed'``.
            project: The project the issue is about (id or Project), if any.
            frame_index: The frame (slice) it points at.
            point: ``[x, y]`` or ``[x, y, z]`` in pixel coordinates of that frame.
            label_set: The label set it is about.

        Returns:
            The issue, with its ``id`` and (empty) ``comments`` thread.

        Example:
            >>> issue = api.resources.add_issue(ct, 'Missed lesion', frame_index=42, point=[120, 88])
        """
        body: dict[str, Any] = {"description": description, "status": status, "frame_index": frame_index,
                                "point": point, "label_set": label_set,
                                "project_id": entity_id(project) if project is not None else None}
        return self._request("POST", f"/resources/{entity_id(resource)}/issues",
                             json={k: v for k, v in body.items() if v is not None}).json()

    def get_issues(self, resource: str | Resource, status: IssueStatus | None = None) -> list[dict[str, Any]]:
        """The issues of a resource, newest first (``status`` filters)."""
        params = {"status": status} if status else {}
        return self._request("GET", f"/resources/{entity_id(resource)}/issues", params=params).json()

    def get_issue(self, issue_id: str) -> dict[str, Any]:
        """One issue with its comment thread."""
        return self._request("GET", f"/issues/{issue_id}").json()

    def update_issue(self, issue_id: str, description: str | None = None, status: IssueStatus | None = None,
                     comment: str | None = None) -> dict[str, Any]:
        """Edit an issue, close it or reopen it.

        Args:
            issue_id: The issue's id.
            description: A new description.
            status: ``'closed'`` to close, ``'open'`` to reopen.
            comment: A note kept with the status change in the thread.

        Raises:
            httpx.HTTPStatusError: 409 when the issue already has that status.
        """
        body = {"description": description, "status": status, "comment": comment}
        return self._request("PATCH", f"/issues/{issue_id}",
                             json={k: v for k, v in body.items() if v is not None}).json()

    def comment_issue(self, issue_id: str, text: str) -> dict[str, Any]:
        """Add a comment to an issue's thread; returns the issue."""
        return self._request("POST", f"/issues/{issue_id}/comments", json={"text": text}).json()

    def delete_issue(self, issue_id: str) -> None:
        """Delete an issue and its thread."""
        self._request("DELETE", f"/issues/{issue_id}")

"""The label-quality methods of ``api.projects``: label sets, label statuses, issues and workunits
(the Segments.ai seed's ``get_labelsets``, ``add_labelset``, ``get_issues``, ``get_workunits``...,
in our API's shape: a project instead of a dataset)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from datamint.api.endpoints.annotationsets_api import stream_download
from datamint.api.endpoints.projects_core import ProjectsCore
from datamint.api.entity_base_api import entity_id

if TYPE_CHECKING:

    from datamint.entities.project import Project
    from datamint.entities.resource import Resource

LabelStatusName = Literal["unlabeled", "prelabeled", "labeled", "reviewed", "rejected", "skipped", "verified"]


class ProjectQuality(ProjectsCore):
    """Label sets, label statuses, issues and workunits of a project (a part of ``ProjectsApi``)."""

    # -- clone and collaborators ---------------------------------------------------------------------

    def clone(self, project: str | Project, new_name: str | None = None, with_resources: bool = False,
              clone_labels: bool = False, label_sets: Sequence[str] | None = None) -> Project:
        """Clone a project.

        The clone always gets the structure: description, flags, worklists with their label
        schemas and ``readers_per_item``, registered label sets. You become its manager.

        Args:
            project: The project id, name or Project instance.
            new_name: The clone's name (default ``'<name>-clone'``).
            with_resources: Put the same resources in the clone (nothing is copied).
            clone_labels: Also copy the annotations (with their masks), label statuses and reader
                progress (implies ``with_resources``; needs export rights in the original).
            label_sets: With ``clone_labels``: only these label sets.

        Returns:
            The new project.

        Example:
            >>> copy = api.projects.clone('Liver CT', 'Liver CT round 2', with_resources=True)
        """
        body: dict[str, Any] = {"with_resources": with_resources, "with_annotations": clone_labels}
        if new_name is not None:
            body["name"] = new_name
        if label_sets is not None:
            body["label_sets"] = list(label_sets)
        data = self._project_request("POST", project, "/clone", json=body).json()
        return self._init_entity_obj(**data)  # type: ignore[attr-defined]

    _ROLES = {"labeler": "PROJECT_ANNOTATOR", "reviewer": "PROJECT_REVIEWER", "manager": "PROJECT_MANAGER",
              "admin": "PROJECT_MANAGER"}

    def get_collaborators(self, project: str | Project) -> list[dict[str, Any]]:
        """The project's collaborators (its members) with their roles."""
        return self._project_request("GET", project, "/members").json()

    def add_collaborator(self, project: str | Project, email: str,
                         role: Literal["labeler", "reviewer", "manager", "admin"] = "labeler") -> None:
        """Add a collaborator to a project.

        Args:
            project: The project id, name or Project instance.
            email: The user's email (a user of your organization).
            role: ``labeler`` (annotator), ``reviewer``, or ``manager`` (``admin`` is a manager).
        """
        if role not in self._ROLES:
            raise ValueError(f"role must be one of {', '.join(self._ROLES)}, got {role!r}")
        self._project_request("POST", project, f"/members/{quote(email, safe='@')}",
                              json={"roles": [self._ROLES[role]]})

    def update_collaborator(self, project: str | Project, email: str,
                            role: Literal["labeler", "reviewer", "manager", "admin"]) -> None:
        """Change a collaborator's role."""
        self.add_collaborator(project, email, role)

    def delete_collaborator(self, project: str | Project, email: str) -> None:
        """Remove a collaborator from a project."""
        self._project_request("DELETE", project, f"/members/{quote(email, safe='@')}")

    # -- label sets ---------------------------------------------------------------------------------

    def get_labelsets(self, project: str | Project) -> list[dict[str, Any]]:
        """Get the label sets of a project.

        Every project has ``ground-truth``; models' predictions live in ``model:<model>``, the
        readers of multi-reader worklists in ``reader:<email>``, and consensus labels in ``consensus``.

        Args:
            project: The project id, name or Project instance.

        Returns:
            One dict per set: ``name``, ``kind``, ``description``, ``annotation_count``...

        Example:
            >>> for labelset in api.projects.get_labelsets('Liver CT'):
            ...     print(labelset['name'], labelset['annotation_count'])
        """
        return self._project_request("GET", project, "/labelsets").json()

    def get_labelset(self, project: str | Project, name: str) -> dict[str, Any]:
        """Get one label set of a project.

        Raises:
            ItemNotFoundError: No such label set in the project.
        """
        return self._project_request("GET", project, f"/labelsets/{quote(name, safe='')}").json()

    def add_labelset(self, project: str | Project, name: str, description: str = "") -> dict[str, Any]:
        """Add a label set to a project (e.g. for a new model's predictions or a second opinion).

        Args:
            project: The project id, name or Project instance.
            name: The name (letters, digits and ``. _ : @ + -``; at most 100 characters).
            description: What the set holds.

        Returns:
            The new label set.

        Raises:
            httpx.HTTPStatusError: 409 when the name exists already.
        """
        return self._project_request("POST", project, "/labelsets",
                                     json={"name": name, "description": description}).json()

    def delete_labelset(self, project: str | Project, name: str) -> int:
        """Delete a label set and its annotations in the project; returns how many were deleted."""
        return self._project_request("DELETE", project, f"/labelsets/{quote(name, safe='')}"
                                     ).json()["deleted_annotations"]

    def promote_labelset(self, project: str | Project, name: str, to: str = "ground-truth",
                         resources: Sequence[str | Resource] | None = None) -> dict[str, Any]:
        """Copy a label set's annotations into another set (default ground truth), keeping provenance.

        Args:
            project: The project id, name or Project instance.
            name: The source set (e.g. ``'model:liver-net'`` or ``'consensus'``).
            to: The target set.
            resources: Only the annotations of these resources.

        Returns:
            ``{"from", "to", "promoted": [new ids], "skipped": n}``.
        """
        body: dict[str, Any] = {"to": to}
        if resources is not None:
            body["resource_ids"] = [entity_id(r) for r in resources]
        return self._project_request("POST", project, f"/labelsets/{quote(name, safe='')}/promote",
                                     json=body).json()

    # -- label status -------------------------------------------------------------------------------

    def get_label_status(self, project: str | Project, resource: str | Resource,
                         label_set: str = "ground-truth") -> dict[str, Any]:
        """A resource's label status in a label set, the statuses it may move to, and its history."""
        return self._project_request("GET", project, f"/resources/{entity_id(resource)}/label-status",
                                     params={"label_set": label_set}).json()

    def set_label_status(self, project: str | Project, resource: str | Resource, status: LabelStatusName,
                         label_set: str = "ground-truth", expected: str | None = None) -> dict[str, Any]:
        """Move a resource's label status (e.g. ``labeled`` → ``reviewed``).

        Args:
            project: The project id, name or Project instance.
            resource: The resource id or Resource instance.
            status: The new status.
            label_set: The label set (default ``'ground-truth'``).
            expected: The status you believe is current; the change is refused (409) when someone
                changed it meanwhile.

        Returns:
            The new status with ``allowed_next`` and ``history``.

        Raises:
            ValidationError: The transition is not allowed (the message lists the allowed ones).
        """
        body = {"status": status, "label_set": label_set, **({"expected": expected} if expected else {})}
        return self._project_request("PUT", project, f"/resources/{entity_id(resource)}/label-status",
                                     json=body).json()

    def get_label_statuses(self, project: str | Project, label_set: str = "ground-truth",
                           status: LabelStatusName | None = None) -> list[dict[str, Any]]:
        """The project's resources with their label status in a label set; ``status`` filters."""
        params = {"label_set": label_set, **({"status": status} if status else {})}
        return self._project_request("GET", project, "/label-statuses", params=params).json()

    # -- issues -------------------------------------------------------------------------------------

    def get_issues(self, project: str | Project, status: Literal["open", "closed"] | None = None,
                   resource: str | Resource | None = None) -> list[dict[str, Any]]:
        """Get the issues of a project, newest first.

        Example:
            >>> for issue in api.projects.get_issues('Liver CT', status='open'):
            ...     print(issue['id'], issue['description'], issue['resource_id'])
        """
        params: dict[str, Any] = {}
        if status:
            params["status"] = status
        if resource is not None:
            params["resource_id"] = entity_id(resource)
        return self._project_request("GET", project, "/issues", params=params).json()

    # -- workunits ----------------------------------------------------------------------------------

    def get_workunits(self, project: str | Project, sort: Literal["created_at"] = "created_at",
                      direction: Literal["asc", "desc"] = "desc", start: str | None = None, end: str | None = None,
                      per_page: int = 1000, page: int = 1, user: str | None = None) -> list[dict[str, Any]]:
        """Get the workunits of a project: who spent how long on which resource and label.

        Args:
            project: The project id, name or Project instance.
            sort: What to sort by (``created_at``).
            direction: ``asc`` or ``desc``.
            start: Only units created at or after this time (``YYYY-MM-DDTHH:MM:SS``, UTC).
            end: Only units created before this time.
            per_page: Page size (at most 1000).
            page: The page, from 1.
            user: Only this user's units (an email).

        Returns:
            One dict per unit: ``user_email``, ``action``, ``label``, ``seconds``, ``resource_id``...
        """
        params: dict[str, Any] = {"sort": ("" if direction == "asc" else "-") + sort, "per_page": per_page,
                                  "page": page}
        for key, value in (("start", start), ("end", end), ("user", user)):
            if value is not None:
                params[key] = value
        return self._project_request("GET", project, "/workunits", params=params).json()

    def get_workunits_statistics(self, project: str | Project) -> dict[str, Any]:
        """Total time spent per user, per label, per user and label, and per action."""
        return self._project_request("GET", project, "/workunits-statistic").json()

    def download_workunits(self, project: str | Project, output_path: str | Path,
                           format: Literal["csv", "xlsx"] = "csv", progress_bar: bool = False) -> None:  # noqa: A002
        """Save every workunit of a project as CSV or XLSX."""
        stream_download(self, f"/projects/{self._project_id(project)}/workunits/export",  # type: ignore[arg-type]
                        {"format": format}, output_path, progress_bar)

    def report_workunit(self, project: str | Project, resource: str | Resource, seconds: float,
                        action: str = "annotate", label: str | None = None, label_set: str | None = None,
                        worklist_id: str | None = None) -> dict[str, Any]:
        """Record time that your own tool measured on a resource (the server measures API work itself)."""
        body = {"seconds": seconds, "action": action, "label": label, "label_set": label_set,
                "worklist_id": worklist_id}
        return self._project_request("POST", project, f"/resources/{entity_id(resource)}/workunits",
                                     json={k: v for k, v in body.items() if v is not None}).json()

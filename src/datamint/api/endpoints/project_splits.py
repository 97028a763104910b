"""The split methods of ``api.projects`` (wire §4.1): which resource is in ``train``, ``val``...

Assignments are kept with their history on the server: re-assigning a resource ends its previous
assignment, and ``as_of_timestamp`` lists the splits in force at a past time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from datamint.api.endpoints.projects_core import ProjectsCore
from datamint.api.entity_base_api import entity_id, entity_ids
from datamint.entities.project_resource_split import ProjectResourceSplit
from datamint.exceptions import DefaultProjectNotSetError, ItemNotFoundError

if TYPE_CHECKING:

    from datamint.entities.project import Project
    from datamint.entities.resource import Resource


class ProjectSplits(ProjectsCore):
    """Split assignments of a project's resources (a part of ``ProjectsApi``)."""

    @staticmethod
    def _require_project(project: str | Project | None) -> str | Project:
        if project is None:
            raise DefaultProjectNotSetError("No project given: pass project=<id, name or Project>")
        return project

    def get_splits(self, project: str | Project | None = None, split_name: str | None = None,
                   as_of_timestamp: str | None = None) -> list[ProjectResourceSplit]:
        """List resource split assignments for a project.

        Args:
            project: The project (object, id or name).
            split_name: Only this split (e.g. ``'train'``).
            as_of_timestamp: ISO 8601 time: the assignments in force then (default: now).

        Returns:
            The assignments, oldest first.

        Example:
            >>> train = api.projects.get_splits(project, split_name='train')
        """
        params = {k: v for k, v in (("split_name", split_name), ("as_of_timestamp", as_of_timestamp)) if v}
        response = self._project_request("GET", self._require_project(project), "splits", params=params or None)
        return [ProjectResourceSplit(**item) for item in response.json()]

    def assign_splits(self, resources: Sequence[str] | Sequence[Resource], split_name: str,
                      project: str | Project | None = None) -> None:
        """Assign a split name to resources of a project (ending their previous assignment).

        Args:
            resources: Resources (ids or objects) of the project.
            split_name: The split, such as ``'train'``.
            project: The project (object, id or name).

        Raises:
            ValidationError: A resource is not in the project.
        """
        ids = entity_ids(resources)
        self._project_request("POST", self._require_project(project), "splits",
                              json={"resource_ids": ids, "split_name": split_name})

    def get_resource_split(self, resource: str | Resource, project: str | Project | None = None
                           ) -> ProjectResourceSplit | None:
        """The split a resource is in, or ``None`` when it is in none.

        Args:
            resource: The resource (id or object).
            project: The project (object, id or name).
        """
        rid = entity_id(resource)
        try:
            response = self._project_request("GET", self._require_project(project), f"resources/{rid}/split")
        except ItemNotFoundError:
            return None
        data = response.json() if response.content else None
        return ProjectResourceSplit(**data) if isinstance(data, dict) and data.get("id") else None

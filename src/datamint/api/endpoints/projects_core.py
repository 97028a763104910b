"""The typed core of ``api.projects``: what every part of the handler builds on (resolving a
project given as entity, id or name; requests on one project; the sibling handlers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.entity_base_api import CRUDEntityApi, is_uuid
from datamint.entities.project import Project
from datamint.exceptions import ItemNotFoundError

if TYPE_CHECKING:
    from datamint.api.endpoints.annotationsets_api import AnnotationSetsApi
    from datamint.api.endpoints.resources_api import ResourcesApi


class ProjectsCore(CRUDEntityApi[Project]):
    """The base of :class:`~datamint.api.endpoints.projects_api.ProjectsApi` and its parts.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        resources_api: The resources handler, used to build Resource entities.
    """

    return_field = "projects"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None,
                 resources_api: ResourcesApi | None = None) -> None:
        super().__init__(config, Project, "projects", client)
        if resources_api is not None:
            self._siblings["resources"] = resources_api

    def get_all(self, limit: int | None = None) -> Sequence[Project]:
        """Get all projects, archived ones included.

        Args:
            limit: The maximum number of projects to return. If None, return all projects.

        Returns:
            A list of project instances.
        """
        return self.get_list(limit=limit, includeArchived="true")

    def get_by_name(self, name: str, include_archived: bool = True) -> Project | None:
        """Get a project by its name.

        Args:
            name: The name of the project.
            include_archived: Whether to include archived projects in the search.

        Returns:
            The project instance if found, otherwise None.
        """
        params = {"includeArchived": "true"} if include_archived else {}
        for project in self.get_list(**params):
            if project.name == name:
                return project
        return None

    def _resolve(self, project: str | Project) -> Project:
        """A project given as entity, id or name."""
        if isinstance(project, Project):
            return project
        if is_uuid(project):
            return self.get_by_id(project)
        found = self.get_by_name(project)
        if found is None:
            raise ItemNotFoundError("project", {"name": project})
        return found

    def _project_id(self, project: str | Project) -> str:
        if isinstance(project, Project):
            return project.id
        return project if is_uuid(project) else self._resolve(project).id

    def _project_request(self, method: str, project: str | Project, add_path: str,
                         **kwargs: Any) -> httpx.Response:
        return self._make_entity_request(method, self._project_id(project), add_path=add_path, **kwargs)

    @property
    def resources_api(self) -> ResourcesApi:
        """The resources handler (the ``Api``'s own when this handler belongs to one)."""
        from datamint.api.endpoints.resources_api import ResourcesApi

        return self._sibling("resources", lambda: ResourcesApi(self.config, self.client, projects_api=self))

    def _worklists_api(self) -> AnnotationSetsApi:
        """The worklists handler (``api.annotationsets``)."""
        from datamint.api.endpoints.annotationsets_api import AnnotationSetsApi

        return self._sibling("annotationsets", lambda: AnnotationSetsApi(self.config, self.client))

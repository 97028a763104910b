"""Projects endpoint handler (``api.projects``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, overload
from urllib.parse import quote

from datamint.api.endpoints.project_quality import ProjectQuality
from datamint.api.endpoints.project_splits import ProjectSplits
from datamint.api.endpoints.project_work import ProjectWork
from datamint.api.entity_base_api import entity_ids
from datamint.entities.project import Project
from datamint.entities.resource import Resource

if TYPE_CHECKING:
    pass


class ProjectsApi(ProjectQuality, ProjectWork, ProjectSplits):
    """API handler for project-related endpoints.

    Its verbs come from typed parts over one core: :class:`ProjectsCore` (resolving a project,
    ``get_all``, ``get_by_name``, the resources handler), :class:`ProjectWork` (worklists, work
    statuses, reviews, statistics, export), :class:`ProjectQuality` (label sets and statuses, issues,
    workunits) and :class:`ProjectSplits` (train/val/test splits).

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        resources_api: The resources handler, used to build Resource entities.
    """

    @overload
    def create(self, name: str, description: str, resources_ids: list[str] | None = ...,
               is_active_learning: bool = ..., two_up_display: bool = ...,
               segmentation_spec: Literal["single_label", "multi_label"] = ..., *,
               return_entity: Literal[True] = True, exists_ok: bool = ...) -> Project: ...

    @overload
    def create(self, name: str, description: str, resources_ids: list[str] | None = ...,
               is_active_learning: bool = ..., two_up_display: bool = ...,
               segmentation_spec: Literal["single_label", "multi_label"] = ..., *,
               return_entity: Literal[False], exists_ok: bool = ...) -> str: ...

    def create(self, name: str, description: str, resources_ids: list[str] | None = None,
               is_active_learning: bool = False, two_up_display: bool = False,
               segmentation_spec: Literal["single_label", "multi_label"] = "single_label", *,
               return_entity: bool = True, exists_ok: bool = False) -> str | Project:
        """Create a new project.

        Args:
            name: The name of the project (unique in your organization).
            description: The description of the project.
            resources_ids: The list of resource ids to be included in the project.
            is_active_learning: Whether the project is an active learning project or not.
            two_up_display: Allow annotators to display multiple resources for annotation.
            segmentation_spec: ``'single_label'`` (one label per voxel) or ``'multi_label'``.
            return_entity: Whether to return the created Project instance or just its ID.
            exists_ok: If ``True``, do not raise an error when a project with the same name
                already exists. Instead, the existing project is returned.

        Returns:
            The created project, or its id when ``return_entity=False``.

        Raises:
            EntityAlreadyExistsError: A project with this name exists and ``exists_ok`` is false.

        Example:
            >>> project = api.projects.create('Liver CT', 'Liver lesions, portal phase')
        """
        resource_ids = list(resources_ids or [])
        payload = {
            "name": name,
            "description": description,
            "is_active_learning": is_active_learning,
            "two_up_display": two_up_display,
            "require_review": False,
            "resource_ids": resource_ids,
            "segmentationData": {"segmentationValueType": segmentation_spec, "definitions": []},
            "annotation_set": {"resource_ids": resource_ids, "annotations": []},
        }
        return self._create(payload, return_entity=return_entity, exists_ok=exists_ok,
                            unique_key={"name": name})

    def get_deleted(self, limit: int | None = None) -> Sequence[Project]:
        """Archived (deleted, restorable) projects.

        Args:
            limit: Maximum number of projects to return.
        """
        return [p for p in self.get_all(limit=None) if p.archived][: limit or None]

    def add_resources(self, resources: str | Resource | Sequence[str | Resource], project: str | Project) -> None:
        """Add resources to a project.

        Args:
            resources: A resource (id or object) or a sequence of them.
            project: The project (object, id or name).

        Raises:
            ItemNotFoundError: The project or a resource does not exist (nothing is added).

        Example:
            >>> api.projects.add_resources(api.resources.get_list(tags=['liver']), 'Liver Review')
        """
        ids = entity_ids(resources)
        self._project_request("POST", project, "resources",
                              json={"resource_ids_to_add": ids, "all_files_selected": False})

    def remove_resources(self, resources: str | Resource | Sequence[str | Resource], project: str | Project) -> None:
        """Remove resources from a project (the resources themselves are kept).

        Args:
            resources: A resource (id or object) or a sequence of them.
            project: The project (object, id or name).
        """
        ids = entity_ids(resources)
        self._project_request("POST", project, "resources",
                              json={"resource_ids_to_add": [], "resource_ids_to_delete": ids,
                                    "all_files_selected": False})

    def get_project_resources(self, project: str | Project) -> list[Resource]:
        """Get resources associated with a specific project.

        Args:
            project: The project (object, id or name).

        Returns:
            Every live resource of the project, oldest first.
        """
        response = self._project_request("GET", project, "resources")
        return self.resources_api._entities(response.json())

    # -- members -------------------------------------------------------------------------------

    def get_members(self, project: str | Project) -> list[dict]:
        """List all members of a project with their roles.

        Args:
            project: The project ID or Project instance.

        Returns:
            List of member dicts (``project_id``, ``user_id``, ``email``, ``roles``,
            ``expertise_level``, ``status``, ``firstname``, ``lastname``).

        Raises:
            ItemNotFoundError: The project does not exist or you are not a member.
            PermissionDeniedError: Your project role cannot see members (annotators).
        """
        return self._project_request("GET", project, "members").json()

    def set_member(self, project: str | Project, user_id: str, roles: list[str]) -> None:
        """Set (or update) a user's roles in a project.

        Args:
            project: The project ID or Project instance.
            user_id: The user's UUID (the user's email is accepted too).
            roles: List of role strings, e.g. ``['PROJECT_ANNOTATOR']``; also
                ``'PROJECT_REVIEWER'`` and ``'PROJECT_MANAGER'``.

        Raises:
            ItemNotFoundError: The project or the user is not visible to you.
            PermissionDeniedError: You are not a manager of the project.
            ValidationError: Unknown roles.
            EntityAlreadyExistsError: (409) The change would leave the project without a manager.

        Example:
            >>> api.projects.set_member(project, user.id, ['PROJECT_REVIEWER'])
        """
        self._project_request("POST", project, f"members/{quote(user_id, safe='@')}",
                              json={"roles": list(roles)})

    def remove_member(self, project: str | Project, user_id: str) -> None:
        """Remove a user from a project.

        Args:
            project: The project ID or Project instance.
            user_id: The user's UUID (the user's email is accepted too).

        Raises:
            ItemNotFoundError: The project, the user or the membership does not exist.
            PermissionDeniedError: You are not a manager of the project.
            EntityAlreadyExistsError: (409) The user is the project's last manager.
        """
        self._project_request("DELETE", project, f"members/{quote(user_id, safe='@')}")

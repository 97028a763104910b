"""The Project entity (wire protocol §5.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from datamint.entities.base_entity import BaseEntity

if TYPE_CHECKING:
    from datamint.api.endpoints.projects_api import ProjectsApi
    from datamint.entities.resource import Resource


class ProjectAnnotatorInfo(BaseModel):
    """An annotator of a project and the worklists it works on."""

    model_config = ConfigDict(extra="allow")

    email: str
    worklist_ids: list[str] = Field(default_factory=list)


class Project(BaseEntity):
    """An annotation project: a set of resources, its worklists, members and annotations.

    Attributes:
        name: Unique name within the organization.
        description: Free text (may be ``None``).
        created_at: ISO 8601 creation time. created_by: Creator's email.
        dataset_id: The dataset that holds the project's resources.
        archived: Whether the project is archived (deleted, restorable).
        resource_count: Number of resources in the project.
        most_recent_experiment: Latest experiment id, if any.
        annotators: The project's annotators and their worklists.
        worklist_id: The project's default worklist (annotation set).
    """

    name: str
    created_at: str
    created_by: str
    dataset_id: str
    archived: bool
    resource_count: int
    description: str | None
    most_recent_experiment: str | None = None
    annotators: list[ProjectAnnotatorInfo] = Field(default_factory=list)
    worklist_id: str | None = None

    @property
    def _projects(self) -> ProjectsApi:
        return self._require_api()  # type: ignore[return-value]

    @property
    def url(self) -> str:
        """Link to the project in the web application."""
        return f"{self._projects.config.web_app_url}/projects/edit/{self.id}"

    def fetch_resources(self) -> list[Resource]:
        """Every live resource of the project (``GET /projects/{id}/resources``)."""
        return self._projects.get_project_resources(self)

    def fetch_worklists(self) -> list[Any]:
        """The project's worklists (AnnotationWorklist entities)."""
        return self._projects.get_worklists(self)

    def set_work_status(self, resource: Any, status: str) -> None:
        """Set the status of your work on one of the project's resources ('opened', 'annotated', 'closed')."""
        self._projects.set_work_status(self, resource, status)  # type: ignore[arg-type]

    def cache_resources(self, progress_bar: bool = True) -> None:
        """Download every resource of the project into the local cache (skipping cached ones).

        Args:
            progress_bar: Whether to show a progress bar.
        """
        self._projects.resources_api.cache_resources(self.fetch_resources(), progress_bar=progress_bar)

    def download_resources_datas(self, progress_bar: bool = True) -> list[Any]:
        """The content of every resource of the project, converted (pydicom Dataset, PIL image, ...).

        Files are cached first (concurrently), then read from the cache.

        Args:
            progress_bar: Whether to show a progress bar while caching.

        Returns:
            One converted object per resource, in the order of :meth:`fetch_resources`.
        """
        resources = self.fetch_resources()
        self._projects.resources_api.cache_resources(resources, progress_bar=progress_bar)
        return [resource.fetch_file_data(auto_convert=True, use_cache=True) for resource in resources]

    def set_pinned_metrics(self, metrics: list[str]) -> None:
        """Pin metrics to show on the project's page.

        Args:
            metrics: Metric names.
        """
        self._projects.patch(self, {"pinned_metrics": list(metrics)})
        self.pinned_metrics = list(metrics)

    def show(self) -> None:
        """Open the project in the web browser."""
        import webbrowser

        webbrowser.open(self.url)

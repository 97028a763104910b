"""The Project entity (wire protocol §5.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from datamint.entities.base_entity import BaseEntity

if TYPE_CHECKING:
    from datamint.api.endpoints.projects_api import ProjectsApi


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

    @property
    def _projects(self) -> ProjectsApi:
        return self._require_api()  # type: ignore[return-value]

    @property
    def url(self) -> str:
        """Link to the project in the web application."""
        return f"{self._projects.config.web_app_url}/projects/edit/{self.id}"

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

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)

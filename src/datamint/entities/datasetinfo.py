"""The DatasetInfo entity (wire §5.4) and the DatasetVersion entity (an immutable snapshot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from datamint.entities.base_entity import BaseEntity

if TYPE_CHECKING:
    from datamint.api.endpoints.datasetsinfo_api import DatasetsInfoApi


class DatasetInfo(BaseEntity):
    """The data of a project: its resources, and the versions frozen from them.

    A project owns exactly one dataset (``project.dataset_id``); the dataset's name is the
    project's name and its resources are the project's resources.

    Attributes:
        name: The project's name.
        description: The project's description.
        created_at: ISO 8601 creation time. created_by: Creator's email.
        customer_id: The organization.
        updated_at: Time of the last change of the project (may be ``None``).
        total_resource: Number of live resources.
        resource_ids: Their ids.
        project_id: The project that owns the dataset.
    """

    name: str
    created_at: str
    created_by: str
    description: str
    customer_id: str
    updated_at: str | None
    total_resource: int
    resource_ids: list[str] = Field(default_factory=list)
    project_id: str | None = None

    @property
    def _datasets(self) -> DatasetsInfoApi:
        return self._require_api()  # type: ignore[return-value]

    def get_versions(self) -> list[DatasetVersion]:
        """The dataset's versions, oldest first."""
        return self._datasets.get_versions(self)

    def create_version(self, name: str | None = None, description: str = "",
                       progress_bar: bool = True) -> DatasetVersion:
        """Freeze the dataset's current content as a new version and wait for it (see
        ``DatasetsInfoApi.create_version``)."""
        return self._datasets.create_version(self, name, description,  # type: ignore[return-value]
                                             progress_bar=progress_bar)


class DatasetVersion(BaseEntity):
    """An immutable snapshot of a dataset: resources (by SHA-256), annotations as they were, label schema.

    Attributes:
        dataset_id: The dataset it belongs to. project_id: The project it was taken from.
        number: 1, 2, ... in creation order. name: Unique in the dataset (default ``v<number>``).
        description: Free text.
        created_at: ISO 8601 creation time. created_by: Creator's email.
        resource_count / annotation_count: What it holds. total_size: Bytes of its resources.
        status: Always ``'ready'`` (versions are built when requested).
    """

    dataset_id: str
    number: int
    name: str
    description: str = ""
    created_at: str
    created_by: str
    project_id: str | None = None
    resource_count: int = 0
    annotation_count: int = 0
    total_size: int = 0
    status: str = "ready"

"""Request bodies of the datasets, versions and splits endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_MAX_IDS = 10000


class DatasetResourcesBody(BaseModel):
    """``POST /datasets/{id}/resources`` as the official client sends it (wire §4.6)."""

    model_config = ConfigDict(extra="ignore")

    all_files_selected: bool = False
    resource_ids_to_add: list[str] | None = Field(default=None, max_length=_MAX_IDS)
    resource_ids_to_delete: list[str] | None = Field(default=None, max_length=_MAX_IDS)
    project_id: str | None = None


class VersionCreate(BaseModel):
    """``POST /datasets/{id}/versions``: freeze the dataset's current content."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=100,
                             description="Unique in the dataset; default 'v<number>'. Not only digits, not 'latest'.")
    description: str | None = Field(default=None, max_length=10000)


class SplitsBody(BaseModel):
    """``POST /projects/{id}/splits``: put resources into a named split."""

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[str] = Field(min_length=1, max_length=_MAX_IDS)
    split_name: str = Field(max_length=100)

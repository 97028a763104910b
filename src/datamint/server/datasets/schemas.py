"""Request bodies of the datasets, versions and splits endpoints."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from datamint.server.common.values import Line, RequestBody, line, text

_MAX_IDS = 10000


class DatasetResourcesBody(RequestBody):
    """``POST /datasets/{id}/resources`` as the official client sends it (wire §4.6)."""

    model_config = ConfigDict(extra="ignore")

    all_files_selected: bool = False
    resource_ids_to_add: list[Line] | None = Field(default=None, max_length=_MAX_IDS)
    resource_ids_to_delete: list[Line] | None = Field(default=None, max_length=_MAX_IDS)
    project_id: Line | None = None


class VersionCreate(RequestBody):
    """``POST /datasets/{id}/versions``: freeze the dataset's current content."""

    model_config = ConfigDict(extra="ignore")

    name: line(100) | None = Field(default=None,
                             description="Unique in the dataset; default 'v<number>'. Not only digits, not 'latest'.")
    description: text(10000) | None = None


class SplitsBody(RequestBody):
    """``POST /projects/{id}/splits``: put resources into a named split."""

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[Line] = Field(min_length=1, max_length=_MAX_IDS)
    split_name: line(100)

"""Request bodies of the resources endpoints (wire protocol §4.2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_MAX_IDS = 10000


class TagsBody(BaseModel):
    """``PUT /resources/{id}/tags``: the resource's new tags (they replace the old ones)."""

    model_config = ConfigDict(extra="ignore")

    tags: list[str] = Field(default_factory=list, max_length=1000)


class TagsManyBody(BaseModel):
    """``PUT /resources/tags``: tags for several resources.

    ``mode`` is ``set`` (replace, the official client's meaning) or ``add`` (append, used by
    ``add_tags`` so that concurrent taggers do not overwrite each other).
    """

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[str] = Field(min_length=1, max_length=_MAX_IDS)
    tags: list[str] = Field(default_factory=list, max_length=1000)
    mode: Literal["set", "add"] = "set"


class ResourceIdsBody(BaseModel):
    """``POST /resources/bulk-publish``."""

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[str] = Field(min_length=1, max_length=_MAX_IDS)


class RestoreBody(BaseModel):
    """``POST /resources/restore``."""

    model_config = ConfigDict(extra="ignore")

    ids: list[str] = Field(min_length=1, max_length=_MAX_IDS)


class ProjectResourcesBody(BaseModel):
    """``POST /projects/{id}/resources`` as the official client sends it."""

    model_config = ConfigDict(extra="ignore")

    resource_ids_to_add: list[str] = Field(default_factory=list, max_length=_MAX_IDS)
    resource_ids_to_delete: list[str] = Field(default_factory=list, max_length=_MAX_IDS)
    all_files_selected: bool = False

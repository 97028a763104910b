"""Request bodies of the resources endpoints (wire protocol §4.2)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from datamint.server.common.values import Line, RequestBody, line

_MAX_IDS = 10000


class TagsBody(RequestBody):
    """``PUT /resources/{id}/tags``: the resource's new tags (they replace the old ones)."""

    model_config = ConfigDict(extra="ignore")

    tags: list[line(200)] = Field(default_factory=list, max_length=1000)


class TagsManyBody(RequestBody):
    """``PUT /resources/tags``: tags for several resources.

    ``mode`` is ``set`` (replace, the official client's meaning) or ``add`` (append, used by
    ``add_tags`` so that concurrent taggers do not overwrite each other).
    """

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[Line] = Field(min_length=1, max_length=_MAX_IDS)
    tags: list[line(200)] = Field(default_factory=list, max_length=1000)
    mode: Literal["set", "add"] = "set"


class ResourceIdsBody(RequestBody):
    """``POST /resources/bulk-publish``."""

    model_config = ConfigDict(extra="ignore")

    resource_ids: list[Line] = Field(min_length=1, max_length=_MAX_IDS)


class RestoreBody(RequestBody):
    """``POST /resources/restore``."""

    model_config = ConfigDict(extra="ignore")

    ids: list[Line] = Field(min_length=1, max_length=_MAX_IDS)


class ProjectResourcesBody(RequestBody):
    """``POST /projects/{id}/resources`` as the official client sends it."""

    model_config = ConfigDict(extra="ignore")

    resource_ids_to_add: list[Line] = Field(default_factory=list, max_length=_MAX_IDS)
    resource_ids_to_delete: list[Line] = Field(default_factory=list, max_length=_MAX_IDS)
    all_files_selected: bool = False

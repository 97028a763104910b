"""Request bodies of the annotation endpoints (wire protocol §4.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from datamint.server.common.values import JsonObject, JsonValue, Line, RequestBody, line


class SearchBody(RequestBody):
    """Body of ``POST /annotations/search``; ``offset``/``limit`` arrive as strings (wire §2)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    resource_id: Line | None = None
    resource_ids: list[Line] | None = None
    annotation_type: Line | None = None
    annotatorEmail: Line | None = None  # noqa: N815 - wire name
    from_: Line | None = Field(default=None, alias="from")
    to: Line | None = None
    dataset_id: Line | None = None
    project_id: Line | None = None
    annotation_worklist_id: Line | None = None
    status: Line | None = None
    source: Line | None = None
    identifier: Line | list[Line] | None = None
    model_id: Line | None = None
    deleted: bool | Line | None = None
    load_ai_segmentations: bool | None = None
    label_set: Line | list[Line] | None = None
    offset: int | Line = 0
    limit: int | Line = 100


class PatchBody(RequestBody):
    """Body of ``PATCH /annotations/{id}``."""

    model_config = ConfigDict(extra="ignore")

    identifier: line(300, min_length=1) | None = None
    project_id: Line | None = None
    value: JsonValue = None
    units: line(50) | None = None
    geometry: JsonObject | None = None


class IdsBody(RequestBody):
    """Body of ``POST /annotations/delete-batch``."""

    model_config = ConfigDict(extra="ignore")

    ids: list[Line] = Field(min_length=1, max_length=10000)


class FrameRange(RequestBody):
    """A half-open range of frames ``[start, end)``."""

    start: int = Field(ge=0)
    end: int = Field(ge=1)


class FrameRangeValue(RequestBody):
    """One value and the frames it covers."""

    model_config = ConfigDict(extra="ignore")

    value: JsonValue = None
    frame_ranges: list[FrameRange]


class FrameRangesBody(RequestBody):
    """Body of ``PUT /annotations/{rid}/frame-ranges``."""

    model_config = ConfigDict(extra="ignore")

    identifier: line(300, min_length=1)
    type: Literal["text", "category", "integer", "float", "label"]
    annotation_worklist_id: Line | None = None
    values: list[FrameRangeValue]
    source: line(40) | None = None
    model_id: line(300) | None = None

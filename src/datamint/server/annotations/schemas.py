"""Request bodies of the annotation endpoints (wire protocol §4.3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SearchBody(BaseModel):
    """Body of ``POST /annotations/search``; ``offset``/``limit`` arrive as strings (wire §2)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    resource_id: str | None = None
    resource_ids: list[str] | None = None
    annotation_type: str | None = None
    annotatorEmail: str | None = None  # noqa: N815 - wire name
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    dataset_id: str | None = None
    project_id: str | None = None
    annotation_worklist_id: str | None = None
    status: str | None = None
    source: str | None = None
    identifier: str | list[str] | None = None
    model_id: str | None = None
    deleted: bool | str | None = None
    load_ai_segmentations: bool | None = None
    label_set: str | list[str] | None = None
    offset: int | str = 0
    limit: int | str = 100


class PatchBody(BaseModel):
    """Body of ``PATCH /annotations/{id}``."""

    model_config = ConfigDict(extra="ignore")

    identifier: str | None = Field(default=None, min_length=1, max_length=300)
    project_id: str | None = None
    value: Any = None
    units: str | None = Field(default=None, max_length=50)
    geometry: dict[str, Any] | None = None


class IdsBody(BaseModel):
    """Body of ``POST /annotations/delete-batch``."""

    model_config = ConfigDict(extra="ignore")

    ids: list[str] = Field(min_length=1, max_length=10000)


class FrameRange(BaseModel):
    """A half-open range of frames ``[start, end)``."""

    start: int = Field(ge=0)
    end: int = Field(ge=1)


class FrameRangeValue(BaseModel):
    """One value and the frames it covers."""

    model_config = ConfigDict(extra="ignore")

    value: Any = None
    frame_ranges: list[FrameRange]


class FrameRangesBody(BaseModel):
    """Body of ``PUT /annotations/{rid}/frame-ranges``."""

    model_config = ConfigDict(extra="ignore")

    identifier: str = Field(min_length=1, max_length=300)
    type: Literal["text", "category", "integer", "float", "label"]
    annotation_worklist_id: str | None = None
    values: list[FrameRangeValue]
    source: str | None = Field(default=None, max_length=40)
    model_id: str | None = Field(default=None, max_length=300)

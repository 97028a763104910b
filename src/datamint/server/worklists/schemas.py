"""Request bodies of the worklist (annotation set) endpoints (wire protocol §4.4)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field

from datamint.server.common.values import JsonObject, JsonValue, Line, RequestBody, line, text

WorkStatusName = Literal["opened", "annotated", "closed", "approved", "revision_request"]
#: Statuses an annotator sets on its own work; the others are a reviewer's decisions.
ANNOTATOR_STATUSES = ("opened", "annotated", "closed")
REVIEW_STATUSES = ("approved", "revision_request")
WORK_STATUSES = ANNOTATOR_STATUSES + REVIEW_STATUSES


class AnnotatorRef(RequestBody):
    """An annotator given as an object, the official client's form: ``{"email": ..., "expertise_level": ...}``.

    A plain email string is accepted wherever this is (``annotators=["ana@x.org"]``).
    """

    model_config = ConfigDict(extra="forbid")

    email: line(320, min_length=3)
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    status: Literal["active", "frozen"] = "active"


class WorklistCreate(RequestBody):
    """Body of ``POST /annotationsets``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: line(300, min_length=1)
    resource_ids: list[Line] = Field(default_factory=list)
    description: text(20000) | None = None
    annotations: list[JsonObject] | None = None
    annotators: list[line(320) | AnnotatorRef] | None = None
    frame_labels: list[line(300)] | None = None
    image_labels: list[line(300)] | None = None
    segmentation_data: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("segmentation_data", "segmentationData"))
    viewable_ai_segmentations: list[JsonValue] | None = None
    editable_ai_segmentations: list[JsonValue] | None = None
    project_id: Line | None = None
    return_url: line(1024) | None = None
    status: line(20) | None = None
    readers_per_item: int | None = None


class WorklistPatch(RequestBody):
    """Body of ``PATCH /annotationsets/{id}``: only the keys present change."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: line(300, min_length=1) | None = None
    description: text(20000) | None = None
    status: line(20) | None = None
    annotators: list[line(320) | AnnotatorRef] | None = None
    resource_ids: list[Line] | None = None
    annotations: list[JsonObject] | None = None
    frame_labels: list[line(300)] | None = None
    image_labels: list[line(300)] | None = None
    segmentation_data: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("segmentation_data", "segmentationData"))
    viewable_ai_segmentations: list[JsonValue] | None = None
    editable_ai_segmentations: list[JsonValue] | None = None
    return_url: line(1024) | None = None
    readers_per_item: int | None = None


class SegmentationGroupBody(RequestBody):
    """Body of ``PUT /annotationsets/{id}/segmentation-group``."""

    model_config = ConfigDict(extra="ignore")

    segmentationData: JsonObject  # noqa: N815 - wire name
    renames: list[JsonValue] | None = None


class WorklistResourcesBody(RequestBody):
    """Body of ``POST /annotationsets/{id}/resources``."""

    model_config = ConfigDict(extra="ignore")

    resource_ids_to_add: list[Line] = Field(default_factory=list)
    resource_ids_to_delete: list[Line] = Field(default_factory=list)


class AnnotatorBody(RequestBody):
    """Body of ``POST /annotationsets/{id}/annotators/{user}``."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["active", "frozen"] = "active"
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    return_url: line(1024) | None = None


class WorkStatusBody(RequestBody):
    """Body of ``POST /annotationsets/{id}/resources/{rid}/status`` and of the project twin."""

    model_config = ConfigDict(extra="ignore")

    status: WorkStatusName
    annotator: line(320) | None = None
    message: text(20000) | None = None
    path: line(1024) | None = None

"""Request bodies of the projects endpoints (wire protocol §4.1)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from datamint.server.common.values import JsonObject, JsonValue, Line, RequestBody, line, text


class SegmentationData(RequestBody):
    """The project's segmentation label spec."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)

    segmentationValueType: Literal["single_label", "multi_label"] = "single_label"  # noqa: N815 - wire name
    definitions: list[JsonObject] = Field(default_factory=list)


class AnnotationSetSpec(RequestBody):
    """The worklist the official client asks to create together with the project."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    resource_ids: list[Line] = Field(default_factory=list)
    annotations: list[JsonObject] = Field(default_factory=list)


class ProjectCreate(RequestBody):
    """Body of ``POST /projects`` as the official client sends it."""

    model_config = ConfigDict(extra="ignore")

    name: line(300, min_length=1)
    description: text(20000) | None = None
    resource_ids: list[Line] = Field(default_factory=list)
    is_active_learning: bool = False
    two_up_display: bool = False
    require_review: bool = False
    segmentationData: SegmentationData | None = None  # noqa: N815 - wire name
    annotation_set: AnnotationSetSpec | None = None


class ProjectUpdate(RequestBody):
    """Body of ``PATCH /projects/{id}``: only the keys present are changed."""

    model_config = ConfigDict(extra="forbid")

    name: line(300, min_length=1) | None = None
    description: text(20000) | None = None
    is_active_learning: bool | None = None
    two_up_display: bool | None = None
    require_review: bool | None = None
    enable_label_status_verified: bool | None = None
    pinned_metrics: list[JsonValue] | None = None
    segmentationData: SegmentationData | None = None  # noqa: N815 - wire name
    most_recent_experiment: line(200) | None = None


class MemberSet(RequestBody):
    """Body of ``POST /projects/{id}/members/{user_id}``."""

    model_config = ConfigDict(extra="ignore")

    roles: list[line(50)]
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    status: Literal["active", "frozen"] | None = None

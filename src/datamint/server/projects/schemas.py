"""Request bodies of the projects endpoints (wire protocol §4.1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SegmentationData(BaseModel):
    """The project's segmentation label spec."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    segmentationValueType: Literal["single_label", "multi_label"] = "single_label"  # noqa: N815 - wire name
    definitions: list[dict[str, Any]] = Field(default_factory=list)


class AnnotationSetSpec(BaseModel):
    """The worklist the official client asks to create together with the project."""

    model_config = ConfigDict(extra="allow")

    resource_ids: list[str] = Field(default_factory=list)
    annotations: list[dict[str, Any]] = Field(default_factory=list)


class ProjectCreate(BaseModel):
    """Body of ``POST /projects`` as the official client sends it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    resource_ids: list[str] = Field(default_factory=list)
    is_active_learning: bool = False
    two_up_display: bool = False
    require_review: bool = False
    segmentationData: SegmentationData | None = None  # noqa: N815 - wire name
    annotation_set: AnnotationSetSpec | None = None


class ProjectUpdate(BaseModel):
    """Body of ``PATCH /projects/{id}``: only the keys present are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    is_active_learning: bool | None = None
    two_up_display: bool | None = None
    require_review: bool | None = None
    enable_label_status_verified: bool | None = None
    pinned_metrics: list[Any] | None = None
    segmentationData: SegmentationData | None = None  # noqa: N815 - wire name
    most_recent_experiment: str | None = None


class MemberSet(BaseModel):
    """Body of ``POST /projects/{id}/members/{user_id}``."""

    model_config = ConfigDict(extra="ignore")

    roles: list[str]
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    status: Literal["active", "frozen"] | None = None

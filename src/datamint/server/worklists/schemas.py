"""Request bodies of the worklist (annotation set) endpoints (wire protocol §4.4)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

WorkStatusName = Literal["opened", "annotated", "closed", "approved", "revision_request"]
#: Statuses an annotator sets on its own work; the others are a reviewer's decisions.
ANNOTATOR_STATUSES = ("opened", "annotated", "closed")
REVIEW_STATUSES = ("approved", "revision_request")
WORK_STATUSES = ANNOTATOR_STATUSES + REVIEW_STATUSES


class AnnotatorRef(BaseModel):
    """An annotator given as an object, the official client's form: ``{"email": ..., "expertise_level": ...}``.

    A plain email string is accepted wherever this is (``annotators=["ana@x.org"]``).
    """

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    status: Literal["active", "frozen"] = "active"


class WorklistCreate(BaseModel):
    """Body of ``POST /annotationsets``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=300)
    resource_ids: list[str] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=20000)
    annotations: list[dict[str, Any]] | None = None
    annotators: list[str | AnnotatorRef] | None = None
    frame_labels: list[str] | None = None
    image_labels: list[str] | None = None
    segmentation_data: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("segmentation_data", "segmentationData"))
    viewable_ai_segmentations: list[Any] | None = None
    editable_ai_segmentations: list[Any] | None = None
    project_id: str | None = None
    return_url: str | None = Field(default=None, max_length=1024)
    status: str | None = Field(default=None, max_length=20)
    readers_per_item: int | None = None


class WorklistPatch(BaseModel):
    """Body of ``PATCH /annotationsets/{id}``: only the keys present change."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20000)
    status: str | None = Field(default=None, max_length=20)
    annotators: list[str | AnnotatorRef] | None = None
    resource_ids: list[str] | None = None
    annotations: list[dict[str, Any]] | None = None
    frame_labels: list[str] | None = None
    image_labels: list[str] | None = None
    segmentation_data: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("segmentation_data", "segmentationData"))
    viewable_ai_segmentations: list[Any] | None = None
    editable_ai_segmentations: list[Any] | None = None
    return_url: str | None = Field(default=None, max_length=1024)
    readers_per_item: int | None = None


class SegmentationGroupBody(BaseModel):
    """Body of ``PUT /annotationsets/{id}/segmentation-group``."""

    model_config = ConfigDict(extra="ignore")

    segmentationData: dict[str, Any]  # noqa: N815 - wire name
    renames: list[Any] | None = None


class WorklistResourcesBody(BaseModel):
    """Body of ``POST /annotationsets/{id}/resources``."""

    model_config = ConfigDict(extra="ignore")

    resource_ids_to_add: list[str] = Field(default_factory=list)
    resource_ids_to_delete: list[str] = Field(default_factory=list)


class AnnotatorBody(BaseModel):
    """Body of ``POST /annotationsets/{id}/annotators/{user}``."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["active", "frozen"] = "active"
    expertise_level: Literal["learner", "trained", "expert"] | None = None
    return_url: str | None = Field(default=None, max_length=1024)


class WorkStatusBody(BaseModel):
    """Body of ``POST /annotationsets/{id}/resources/{rid}/status`` and of the project twin."""

    model_config = ConfigDict(extra="ignore")

    status: WorkStatusName
    annotator: str | None = Field(default=None, max_length=320)
    message: str | None = Field(default=None, max_length=20000)
    path: str | None = Field(default=None, max_length=1024)

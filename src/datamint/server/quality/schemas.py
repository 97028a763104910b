"""Request bodies of the label-quality endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LabelSetCreate(BaseModel):
    """Body of ``POST /projects/{id}/labelsets``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=20000)


class PromoteOneBody(BaseModel):
    """Body of ``POST /annotations/{id}/promote``: the target label set."""

    model_config = ConfigDict(extra="ignore")

    to: str = Field(default="ground-truth", min_length=1, max_length=100)


class PromoteBody(BaseModel):
    """Body of the promote endpoints: the target label set (and, for a whole set, which resources)."""

    model_config = ConfigDict(extra="ignore")

    to: str = Field(default="ground-truth", min_length=1, max_length=100)
    resource_ids: list[str] | None = None


class LabelStatusBody(BaseModel):
    """Body of ``PUT /projects/{id}/resources/{rid}/label-status``."""

    model_config = ConfigDict(extra="ignore")

    status: str = Field(max_length=20)
    label_set: str = Field(default="ground-truth", max_length=100)
    expected: str | None = Field(default=None, max_length=20)
    """The status the caller believes is current (409 when it is not)."""


class IssueCreate(BaseModel):
    """Body of ``POST /resources/{rid}/issues``."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1, max_length=20000)
    status: str = Field(default="open", max_length=10)
    project_id: str | None = None
    frame_index: int | None = None
    point: list[Any] | None = None
    label_set: str | None = Field(default=None, max_length=100)


class IssueUpdate(BaseModel):
    """Body of ``PATCH /issues/{id}``."""

    model_config = ConfigDict(extra="ignore")

    description: str | None = Field(default=None, max_length=20000)
    status: str | None = Field(default=None, max_length=10)
    comment: str | None = Field(default=None, max_length=20000)


class CommentBody(BaseModel):
    """Body of ``POST /issues/{id}/comments``."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=20000)


class WorkunitBody(BaseModel):
    """Body of ``POST /projects/{id}/resources/{rid}/workunits`` (time measured by a client)."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(default="annotate", max_length=20)
    seconds: float
    label: str | None = Field(default=None, max_length=300)
    label_set: str | None = Field(default=None, max_length=100)
    worklist_id: str | None = None


class ConsensusBody(BaseModel):
    """Body of ``POST /annotationsets/{id}/consensus``."""

    model_config = ConfigDict(extra="ignore")

    method: Literal["majority", "staple"] = "majority"
    resource_ids: list[str] | None = None


class CloneBody(BaseModel):
    """Body of ``POST /projects/{id}/clone``."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=300)
    with_resources: bool = False
    with_annotations: bool = False
    label_sets: list[str] | None = None

"""Request bodies of the label-quality endpoints (values checked by :mod:`datamint.server.common.values`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from datamint.server.common.values import JsonValue, Line, RequestBody, line, text


class LabelSetCreate(RequestBody):
    """Body of ``POST /projects/{id}/labelsets``."""

    model_config = ConfigDict(extra="ignore")

    name: line(100, min_length=1)
    description: text(20000) = ""


class PromoteOneBody(RequestBody):
    """Body of ``POST /annotations/{id}/promote``: the target label set."""

    model_config = ConfigDict(extra="ignore")

    to: line(100, min_length=1) = "ground-truth"


class PromoteBody(RequestBody):
    """Body of ``POST /projects/{id}/labelsets/{name}/promote``: the target label set and,
    optionally, which resources."""

    model_config = ConfigDict(extra="ignore")

    to: line(100, min_length=1) = "ground-truth"
    resource_ids: list[Line] | None = Field(default=None, max_length=100000)


class LabelStatusBody(RequestBody):
    """Body of ``PUT /projects/{id}/resources/{rid}/label-status``."""

    model_config = ConfigDict(extra="ignore")

    status: line(20)
    label_set: line(100) = "ground-truth"
    expected: line(20) | None = None
    """The status the caller believes is current (409 when it is not)."""


class IssueCreate(RequestBody):
    """Body of ``POST /resources/{rid}/issues``."""

    model_config = ConfigDict(extra="ignore")

    description: text(20000)
    status: line(10) = "open"
    project_id: Line | None = None
    frame_index: int | None = None
    point: list[JsonValue] | None = None
    label_set: line(100) | None = None


class IssueUpdate(RequestBody):
    """Body of ``PATCH /issues/{id}``."""

    model_config = ConfigDict(extra="ignore")

    description: text(20000) | None = None
    status: line(10) | None = None
    comment: text(20000) | None = None


class CommentBody(RequestBody):
    """Body of ``POST /issues/{id}/comments``."""

    model_config = ConfigDict(extra="ignore")

    text: text(20000)


class WorkunitBody(RequestBody):
    """Body of ``POST /projects/{id}/resources/{rid}/workunits`` (time measured by a client)."""

    model_config = ConfigDict(extra="ignore")

    action: line(20) = "annotate"
    seconds: float
    label: line(300) | None = None
    label_set: line(100) | None = None
    worklist_id: Line | None = None


class ConsensusBody(RequestBody):
    """Body of ``POST /annotationsets/{id}/consensus``."""

    model_config = ConfigDict(extra="ignore")

    method: Literal["majority", "staple"] = "majority"
    resource_ids: list[Line] | None = None


class CloneBody(RequestBody):
    """Body of ``POST /projects/{id}/clone``."""

    model_config = ConfigDict(extra="ignore")

    name: line(300, min_length=1) | None = None
    with_resources: bool = False
    with_annotations: bool = False
    label_sets: list[line(100)] | None = None

"""The AnnotationWorklist entity (wire protocol §5.4): a worklist, a.k.a. annotation set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datamint.entities.annotations.annotation_spec import AnnotationSpec
from datamint.entities.base_entity import BaseEntity


class WorklistAnnotatorInfo(BaseModel):
    """An annotator assigned to a worklist."""

    model_config = ConfigDict(extra="allow")

    email: str
    status: str = "active"
    expertise_level: str | None = None


class AnnotationWorklist(BaseEntity):
    """Resources to annotate, who annotates them and with which labels.

    Attributes:
        name: The worklist's name.
        status: ``'new'`` unless changed.
        annotators: Who annotates it.
        annotations: The expected labels (annotation specs).
        resource_ids: Its resources.
        project_id: The project it belongs to, if any.
        segmentation_group: ``{identifier: {color, index}}`` of the segmentation labels.
    """

    name: str
    status: str = "new"
    annotators: list[WorklistAnnotatorInfo] = Field(default_factory=list)
    description: str | None = None
    annotations: list[AnnotationSpec] = Field(default_factory=list)
    created_by: str | None = None
    created_at: str | None = None
    resource_ids: list[str] = Field(default_factory=list)
    project_id: str | None = None

    @field_validator("annotations", mode="before")
    @classmethod
    def _specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [AnnotationSpec.create(**v) if isinstance(v, dict) else v for v in value]
        return value

    def __init__(self, **data: Any) -> None:
        if "id" not in data and "worklist_id" in data:
            data["id"] = data["worklist_id"]
        if "name" not in data and "worklist_name" in data:
            data["name"] = data["worklist_name"]
        super().__init__(**data)

"""Annotation specs: the labels a worklist or project expects (wire protocol §5.4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datamint.entities.annotations.types import AnnotationType


class AnnotationSpec(BaseModel):
    """One expected label of a worklist.

    Attributes:
        type: The annotation type (``'category'``, ``'label'``, ``'segmentation'``, ...).
        scope: ``'image'`` or ``'frame'``.
        required: Whether annotators must provide it.
        identifier: The label's name.
        color: RGBA colour (segmentation specs).
    """

    model_config = ConfigDict(extra="allow")

    type: AnnotationType
    scope: str
    required: bool
    identifier: str
    color: tuple[int, int, int, int] | None = None

    @field_validator("color", mode="before")
    @classmethod
    def _rgba(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) == 3:
            return (*value, 255)
        return value

    @classmethod
    def create(cls, **data: Any) -> AnnotationSpec:
        """The right spec class for ``data`` (a :class:`CategoryAnnotationSpec` for categories)."""
        if data.get("type") in (AnnotationType.CATEGORY, AnnotationType.CATEGORY.value):
            return CategoryAnnotationSpec(**data)
        return cls(**data)

    def asdict(self) -> dict[str, Any]:
        """The spec as a JSON-ready dict (``None`` values dropped)."""
        return self.model_dump(mode="json", exclude_none=True, warnings="none")


class CategoryAnnotationSpec(AnnotationSpec):
    """A category spec and its allowed values."""

    type: AnnotationType = AnnotationType.CATEGORY
    values: list[str] = Field(default_factory=list)

"""Annotation types (wire protocol §5.3)."""

from __future__ import annotations

from enum import Enum


class AnnotationType(str, Enum):
    """The kinds of annotation the server stores; the value is the wire string."""

    SEGMENTATION = "segmentation"
    AREA = "area"
    DISTANCE = "distance"
    ANGLE = "angle"
    POINT = "point"
    LINE = "line"
    REGION = "region"
    SQUARE = "square"
    CIRCLE = "circle"
    CATEGORY = "category"
    LABEL = "label"
    INTEGER = "integer"
    FLOAT = "float"
    TEXT = "text"
    SPLINE = "spline"

    def __str__(self) -> str:
        return self.value

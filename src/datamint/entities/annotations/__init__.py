"""Annotation entities: the Annotation family dispatched by type, and annotation specs."""

from __future__ import annotations

from datamint.entities.annotations.annotation import ANNOTATION_CACHE, Annotation, normalize_annotation_data
from datamint.entities.annotations.annotation_spec import AnnotationSpec, CategoryAnnotationSpec
from datamint.entities.annotations.kinds import (
    BoxAnnotation,
    CategoryAnnotation,
    GeometryAnnotation,
    ImageClassification,
    ImageSegmentation,
    LabelAnnotation,
    LineAnnotation,
    NumericAnnotation,
    PointAnnotation,
    RegionAnnotation,
    SegmentationAnnotation,
    TextAnnotation,
    VolumeSegmentation,
    annotation_class_for,
    annotation_from_dict,
)
from datamint.entities.annotations.types import AnnotationType

__all__ = [
    "ANNOTATION_CACHE",
    "Annotation",
    "AnnotationSpec",
    "AnnotationType",
    "BoxAnnotation",
    "CategoryAnnotation",
    "CategoryAnnotationSpec",
    "GeometryAnnotation",
    "ImageClassification",
    "ImageSegmentation",
    "LabelAnnotation",
    "LineAnnotation",
    "NumericAnnotation",
    "PointAnnotation",
    "RegionAnnotation",
    "SegmentationAnnotation",
    "TextAnnotation",
    "VolumeSegmentation",
    "annotation_class_for",
    "annotation_from_dict",
    "normalize_annotation_data",
]

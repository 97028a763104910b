"""The Annotation subclasses, one per family of types (wire protocol §5.3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from datamint.entities.annotations.annotation import Annotation

Point = tuple[float, float, float]


class GeometryAnnotation(Annotation):
    """An annotation drawn as points: line, box, point, region."""

    @property
    def points(self) -> list[Point]:
        """The geometry's points ``(x, y, z)`` as stored: patient millimetres for DICOM and
        NIfTI resources, pixels (z = frame) for images."""
        geometry = self.geometry if isinstance(self.geometry, dict) else {}
        return [tuple(float(c) for c in (list(p) + [0.0] * 3)[:3]) for p in geometry.get("points", [])]  # type: ignore[misc]

    def pixel_points(self) -> list[Point]:
        """The points converted to pixel coordinates ``(x, y, frame)`` with the resource's geometry
        (the inverse of what ``add_*_annotation(coords_system='pixel')`` did).

        Example:
            >>> box = api.annotations.get_by_id(box_id)
            >>> box.pixel_points()[0]
            (10.0, 20.0, 3.0)
        """
        return self._annotations.to_pixel_points(self.resource_id, self.points)  # type: ignore[arg-type]


class LineAnnotation(GeometryAnnotation):
    """A line (two points)."""


class BoxAnnotation(GeometryAnnotation):
    """A box: four corners (first corner, top-right, bottom-left, opposite corner)."""

    @property
    def corners(self) -> tuple[Point, Point]:
        """The two opposite corners (``points[0]`` and ``points[3]``)."""
        points = self.points
        return points[0], points[-1]


class PointAnnotation(GeometryAnnotation):
    """A single point (its ``text_value`` may carry a JSON payload)."""


class RegionAnnotation(GeometryAnnotation):
    """A polyline or closed polygon."""

    @property
    def closed(self) -> bool:
        """Whether the polyline is closed."""
        return bool(isinstance(self.geometry, dict) and self.geometry.get("closed"))


class SegmentationAnnotation(Annotation):
    """A segmentation whose mask is a file on the server."""

    def fetch_mask(self, use_cache: bool = False) -> np.ndarray:
        """The mask as a boolean array: ``(height, width)`` for PNG frame masks, ``(width,
        height, frames)`` for NIfTI volume masks (non-zero = this label).

        Args:
            use_cache: Read/store the file in the local cache.
        """
        image = self.fetch_file_data(auto_convert=True, use_cache=use_cache)
        if hasattr(image, "get_fdata"):
            return np.asanyarray(image.dataobj) != 0
        array = np.asarray(image)
        if array.ndim == 3:
            array = array[..., :3].max(axis=-1)
        return array != 0


class ImageSegmentation(SegmentationAnnotation):
    """A frame (2-D) segmentation, or an image-scope mask of a 2-D image."""


class VolumeSegmentation(SegmentationAnnotation):
    """A 3-D segmentation of a volume (its ``class_map`` names the mask's label values)."""


class CategoryAnnotation(Annotation):
    """A classification: ``identifier`` = the question, ``text_value`` = the chosen category."""


#: Image-level classification (same as :class:`CategoryAnnotation`).
ImageClassification = CategoryAnnotation


class LabelAnnotation(Annotation):
    """A label (a flag of the image or of frames)."""


class TextAnnotation(Annotation):
    """Free text."""


class NumericAnnotation(Annotation):
    """A number (``integer`` or ``float``) with optional ``units``."""


_BY_TYPE: dict[str, type[Annotation]] = {
    "category": CategoryAnnotation, "text": TextAnnotation, "label": LabelAnnotation, "integer": NumericAnnotation,
    "float": NumericAnnotation, "line": LineAnnotation, "square": BoxAnnotation, "point": PointAnnotation,
    "region": RegionAnnotation,
}


def annotation_class_for(data: dict[str, Any]) -> type[Annotation]:
    """The entity class of a raw annotation dict, chosen by its type (wire §5.3)."""
    kind = data.get("annotation_type", data.get("type"))
    kind = getattr(kind, "value", kind)
    if kind == "segmentation":
        return VolumeSegmentation if data.get("class_map") is not None else ImageSegmentation
    return _BY_TYPE.get(str(kind), Annotation)


def annotation_from_dict(data: dict[str, Any]) -> Annotation:
    """Build the most specific Annotation subclass for a server payload."""
    return annotation_class_for(data)(**data)

"""The ``add_*`` / ``create_*`` helpers of ``api.annotations`` (wire protocol §7.2, §7.3).

Geometric helpers take pixel points on a frame (``coords_system='pixel'``, the default) and store
them in the resource's patient space (DICOM, NIfTI) or in pixels (images, videos); with
``coords_system='patient'`` the caller gives 3-D patient points. Every helper sends one create
item with ``source='imported'`` and returns the new annotation's id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from datamint.api.dto.annotation_dto import CreateAnnotationDto
from datamint.api.endpoints.annotations_core import AnnotationsCore
from datamint.entities.annotations.types import AnnotationType
from datamint.imaging.resource_geometry import ResourceGeometry, SlicePlane

if TYPE_CHECKING:
    import pydicom

    from datamint.entities.resource import Resource

CoordsSystem = Literal["pixel", "patient"]
SOURCE = "imported"


class AnnotationHelpers(AnnotationsCore):
    """Shortcuts that build one annotation and create it (a part of ``AnnotationsApi``)."""

    # -- geometry -------------------------------------------------------------------------------

    def _dicom_source(self, metadata: Any, dicom_metadata: Any) -> Any:
        source = metadata if metadata is not None else dicom_metadata
        if isinstance(source, (str, Path)):
            import pydicom

            return pydicom.dcmread(str(source), stop_before_pixels=True, force=True)
        return source

    def _geometric(self, kind: AnnotationType, points: Sequence[Sequence[float]], resource: str | Resource,
                   identifier: str, frame_index: int | None, coords_system: CoordsSystem,
                   slice_plane: SlicePlane | None, metadata: Any, project: str | None, worklist_id: str | None,
                   imported_from: str | None, author_email: str | None, model_id: str | None,
                   value: Any = None, closed: bool | None = None) -> str:
        if coords_system not in ("pixel", "patient"):
            raise ValueError("coords_system must be 'pixel' or 'patient'")
        geometry = self._geometry(resource, metadata)
        if coords_system == "pixel":
            if kind is AnnotationType.SQUARE:
                (x1, y1), (x2, y2) = (tuple(p[:2]) for p in points)
                points = [(x1, y1), (x2, y1), (x1, y2), (x2, y2)]
            stored = geometry.convert(points, frame_index, slice_plane)
        else:
            stored = self._patient_points(kind, points, geometry, slice_plane)
        payload: dict[str, Any] = {"points": stored}
        vectors = geometry.view_vectors(slice_plane)
        if vectors is not None:
            payload["viewPlaneNormal"], payload["viewUp"] = vectors
        if closed is not None:
            payload["closed"] = closed
        dto = CreateAnnotationDto(
            type=kind, identifier=identifier, scope="image" if frame_index is None else "frame",
            frame_index=frame_index, geometry=payload, value=value,
            annotation_worklist_id=worklist_id or self._project_worklist(project), imported_from=imported_from,
            import_author=author_email, model_id=model_id, source=SOURCE)
        return self.create(resource, dto)

    @staticmethod
    def _patient_points(kind: AnnotationType, points: Sequence[Sequence[float]], geometry: ResourceGeometry,
                        slice_plane: SlicePlane | None) -> list[list[float]]:
        if any(len(p) != 3 for p in points):
            raise ValueError("With coords_system='patient' every point must be (x, y, z) in millimetres")
        if kind is not AnnotationType.SQUARE:
            return [[float(c) for c in p] for p in points]
        p1, p2 = (np.asarray(p, dtype=float) for p in points[:2])
        vectors = geometry.view_vectors(slice_plane)
        if vectors is None:
            right, down = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
        else:
            down = np.asarray(vectors[1])
            right = np.cross(down, np.asarray(vectors[0]))
        delta = p2 - p1
        corner_right = p1 + float(delta @ right) * right
        corner_down = p1 + float(delta @ down) * down
        return [[float(c) for c in p] for p in (p1, corner_right, corner_down, p2)]

    def add_box_annotation(self, point1: tuple[int, int] | tuple[float, float, float],
                           point2: tuple[int, int] | tuple[float, float, float], resource_id: str, identifier: str,
                           frame_index: int | None = None, dicom_metadata: pydicom.Dataset | str | Path | None = None,
                           coords_system: CoordsSystem = "pixel", project: str | None = None,
                           worklist_id: str | None = None, imported_from: str | None = None,
                           author_email: str | None = None, model_id: str | None = None) -> str:
        """Add a box annotation to a resource.

        Args:
            point1: One corner: pixel ``(x, y)``, or patient ``(x, y, z)`` with ``coords_system='patient'``.
            point2: The opposite corner.
            resource_id: The resource unique id (or Resource).
            identifier: The annotation's label.
            frame_index: The frame the box is drawn on (frame-scope annotation).
            dicom_metadata: (Deprecated) a DICOM data set or path to take the geometry from
                instead of the resource's own file.
            coords_system: ``'pixel'`` or ``'patient'``.
            project: A project (id or name) whose default worklist the box joins.
            worklist_id: The worklist the box belongs to.
            imported_from: Where it was imported from.
            author_email: The author to credit.
            model_id: The model that produced it.

        Returns:
            The new annotation's id.

        Example:
            >>> api.annotations.add_box_annotation((10, 20), (50, 60), ct.id, 'lesion', frame_index=3)
        """
        return self._geometric(AnnotationType.SQUARE, [point1, point2], resource_id, identifier, frame_index,
                               coords_system, None, self._dicom_source(None, dicom_metadata), project, worklist_id,
                               imported_from, author_email, model_id)

    def add_line_annotation(self, point1: tuple[int, int] | tuple[float, float, float],
                            point2: tuple[int, int] | tuple[float, float, float], resource: str | Resource,
                            identifier: str, frame_index: int | None = None, slice_plane: SlicePlane | None = None,
                            metadata: Any = None, dicom_metadata: pydicom.Dataset | None = None,
                            coords_system: CoordsSystem = "pixel", project: str | None = None,
                            worklist_id: str | None = None, imported_from: str | None = None,
                            author_email: str | None = None, model_id: str | None = None) -> str:
        """Add a line annotation to a resource.

        Args:
            point1: First point: pixel ``(x, y)`` on the slice, or patient ``(x, y, z)``.
            point2: Second point.
            resource: The resource (id or Resource).
            identifier: The annotation's label.
            frame_index: The slice (frame) the line is drawn on.
            slice_plane: ``'axial'`` (the stored frames, default), ``'sagittal'`` or ``'coronal'``:
                the plane of the slice for volumes.
            metadata: A pydicom Dataset or nibabel image to take the geometry from.
            dicom_metadata: (Deprecated) same as ``metadata`` for DICOM.
            coords_system: ``'pixel'`` or ``'patient'``.
            project: A project (id or name) whose default worklist the line joins.
            worklist_id: The worklist it belongs to.
            imported_from: Where it was imported from.
            author_email: The author to credit.
            model_id: The model that produced it.

        Returns:
            The new annotation's id.

        Example:
            >>> api.annotations.add_line_annotation([0, 0], (10, 30), resource, 'Line1', frame_index=2)
        """
        return self._geometric(AnnotationType.LINE, [point1, point2], resource, identifier, frame_index,
                               coords_system, slice_plane, self._dicom_source(metadata, dicom_metadata), project,
                               worklist_id, imported_from, author_email, model_id)

    def add_point_annotation(self, point: tuple[int, int] | tuple[float, float, float], resource: str | Resource,
                             identifier: str, frame_index: int | None = None, value: Any = None,
                             slice_plane: SlicePlane | None = None, metadata: Any = None,
                             coords_system: CoordsSystem = "pixel", project: str | None = None,
                             worklist_id: str | None = None, imported_from: str | None = None,
                             author_email: str | None = None, model_id: str | None = None) -> str:
        """Add a point annotation; ``value`` (any JSON-able payload) is stored with it.

        Returns:
            The new annotation's id.
        """
        payload = None if value is None else (value if isinstance(value, str) else json.dumps(value))
        return self._geometric(AnnotationType.POINT, [point], resource, identifier, frame_index, coords_system,
                               slice_plane, self._dicom_source(metadata, None), project, worklist_id, imported_from,
                               author_email, model_id, value=payload)

    def add_polyline_annotation(self, points: Sequence[tuple[float, ...]], resource: str | Resource, identifier: str,
                                frame_index: int | None = None, closed: bool = False,
                                slice_plane: SlicePlane | None = None, metadata: Any = None,
                                coords_system: CoordsSystem = "pixel", project: str | None = None,
                                worklist_id: str | None = None, imported_from: str | None = None,
                                author_email: str | None = None, model_id: str | None = None) -> str:
        """Add a polyline (``closed=False``) or polygon (``closed=True``) region annotation.

        Returns:
            The new annotation's id.
        """
        return self._geometric(AnnotationType.REGION, list(points), resource, identifier, frame_index,
                               coords_system, slice_plane, self._dicom_source(metadata, None), project, worklist_id,
                               imported_from, author_email, model_id, closed=closed)

    # -- values ---------------------------------------------------------------------------------

    def _value(self, kind: AnnotationType, resource: str | Resource, identifier: str, value: Any,
               frame_index: int | None, frame_range: tuple[int, int] | None, worklist_id: str | None,
               imported_from: str | None, author_email: str | None, model_id: str | None,
               units: str | None = None) -> str:
        inclusive = None
        if frame_range is not None:
            start, end = int(frame_range[0]), int(frame_range[1])
            if end <= start:
                raise ValueError(f"frame_range {frame_range} is empty: it is half-open [start, end)")
            inclusive = (start, end - 1)
        scope = "frame" if frame_index is not None or inclusive is not None else "image"
        dto = CreateAnnotationDto(type=kind, identifier=identifier, scope=scope, value=value,
                                  frame_index=frame_index if inclusive is None else None, frame_range=inclusive,
                                  annotation_worklist_id=worklist_id, imported_from=imported_from,
                                  import_author=author_email, model_id=model_id, units=units, source=SOURCE)
        return self.create(resource, dto)

    def create_image_classification(self, resource: str | Resource, identifier: str, value: str,
                                    imported_from: str | None = None, model_id: str | None = None,
                                    worklist_id: str | None = None, author_email: str | None = None) -> str:
        """Create an image-level classification annotation.

        Args:
            resource: The resource unique id or Resource instance.
            identifier: The annotation identifier/label.
            value: The classification value.
            imported_from: The imported from source value.
            model_id: The model unique id.
            worklist_id: The worklist it belongs to.
            author_email: The author to credit.

        Returns:
            The id of the created annotation.
        """
        return self._value(AnnotationType.CATEGORY, resource, identifier, value, None, None, worklist_id,
                           imported_from, author_email, model_id)

    def add_category_annotation(self, resource: str | Resource, identifier: str, value: str,
                                frame_index: int | None = None, frame_range: tuple[int, int] | None = None,
                                worklist_id: str | None = None, imported_from: str | None = None,
                                author_email: str | None = None, model_id: str | None = None) -> str:
        """Add a category to the image, a frame, or frames ``frame_range=(start, end)`` (end excluded).

        Example:
            >>> api.annotations.add_category_annotation(video, 'phase', 'arterial', frame_range=(2, 5))
        """
        return self._value(AnnotationType.CATEGORY, resource, identifier, value, frame_index, frame_range,
                           worklist_id, imported_from, author_email, model_id)

    def add_label_annotation(self, resource: str | Resource, identifier: str, frame_index: int | None = None,
                             frame_range: tuple[int, int] | None = None, worklist_id: str | None = None,
                             imported_from: str | None = None, author_email: str | None = None,
                             model_id: str | None = None) -> str:
        """Flag the image, a frame or frames ``[start, end)`` with a label."""
        return self._value(AnnotationType.LABEL, resource, identifier, None, frame_index, frame_range, worklist_id,
                           imported_from, author_email, model_id)

    def add_text_annotation(self, resource: str | Resource, identifier: str, text: str,
                            frame_index: int | None = None, frame_range: tuple[int, int] | None = None,
                            worklist_id: str | None = None, imported_from: str | None = None,
                            author_email: str | None = None, model_id: str | None = None) -> str:
        """Attach free text to the image, a frame or frames ``[start, end)``."""
        return self._value(AnnotationType.TEXT, resource, identifier, text, frame_index, frame_range, worklist_id,
                           imported_from, author_email, model_id)

    def create_numeric_annotation(self, resource: str | Resource, identifier: str, value: float,
                                  units: str | None = None, frame_index: int | None = None,
                                  worklist_id: str | None = None, imported_from: str | None = None,
                                  author_email: str | None = None, model_id: str | None = None) -> str:
        """Attach a number (``integer`` for ints, ``float`` otherwise) with optional units.

        Example:
            >>> api.annotations.create_numeric_annotation(ct, 'age', 42, units='years')
        """
        kind = AnnotationType.INTEGER if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
            else AnnotationType.FLOAT
        return self._value(kind, resource, identifier, value if kind is AnnotationType.FLOAT else int(value),
                           frame_index, None, worklist_id, imported_from, author_email, model_id, units=units)

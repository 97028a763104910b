"""Pixel ↔ patient conversion of annotation points with a resource's real geometry (wire §7.3).

DICOM resources use the per-frame ImagePositionPatient / ImageOrientationPatient / PixelSpacing
of the file (its header is downloaded once); NIfTI resources use the ``affine`` of their metadata
with Datamint's LPS convention (x and y negated); 2-D images and videos stay in pixels (z = frame).
The conversion itself is :mod:`datamint.imaging.geometry`.

Pixel points are ``(x, y)`` on a slice: ``x`` the column, ``y`` the row. ``slice_plane`` says
which plane the slice is: ``'axial'`` (the stored frames; default), ``'sagittal'`` (a fixed
column) or ``'coronal'`` (a fixed row) of the volume.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from datamint.imaging import geometry as geo

SlicePlane = Literal["axial", "sagittal", "coronal"]
Point = tuple[float, float, float]


def _voxel(x: float, y: float, frame: float, plane: SlicePlane | None) -> tuple[float, float, float]:
    """(column, row, frame) of a point drawn on a slice of ``plane``."""
    if plane in (None, "axial"):
        return x, y, frame
    if plane == "sagittal":
        return frame, x, y
    if plane == "coronal":
        return x, frame, y
    raise ValueError(f"slice_plane must be 'axial', 'sagittal' or 'coronal', not {plane!r}")


@dataclass
class ResourceGeometry:
    """How points of one resource convert between pixels and patient millimetres.

    Attributes:
        kind: ``'dicom'``, ``'nifti'`` or ``'pixels'`` (no patient space: images, videos).
        volume: The DICOM frame geometry.
        affine: The NIfTI affine.
    """

    kind: Literal["dicom", "nifti", "pixels"]
    volume: geo.VolumeGeometry | None = None
    affine: np.ndarray | None = None

    @property
    def is_patient(self) -> bool:
        """Whether points are stored in patient coordinates."""
        return self.kind != "pixels"

    @classmethod
    def from_dicom_bytes(cls, data: bytes) -> ResourceGeometry:
        """Geometry of a DICOM file (header only is parsed)."""
        import pydicom

        return cls.from_dataset(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True))

    @classmethod
    def from_dataset(cls, ds: Any) -> ResourceGeometry:
        """Geometry of a pydicom data set."""
        return cls("dicom", volume=geo.VolumeGeometry.from_dataset(ds))

    @classmethod
    def from_affine(cls, affine: Any) -> ResourceGeometry:
        """Geometry of a NIfTI image from its 4×4 affine."""
        return cls("nifti", affine=np.asarray(affine, dtype=float).reshape(4, 4))

    def to_patient(self, x: float, y: float, frame: float, plane: SlicePlane | None = None) -> Point:
        """Patient coordinates of pixel ``(x, y)`` on slice ``frame`` of ``plane``."""
        i, j, k = _voxel(x, y, frame, plane)
        if self.kind == "dicom":
            assert self.volume is not None
            return geo.pixel_to_patient(self.volume, i, j, k)
        if self.kind == "nifti":
            return geo.nifti_pixel_to_world(self.affine, i, j, k, lps=True)
        return float(x), float(y), float(frame)

    def to_pixel(self, X: float, Y: float, Z: float) -> Point:
        """``(column, row, frame)`` of a stored point (the inverse of :meth:`to_patient` on axial slices)."""
        if self.kind == "dicom":
            assert self.volume is not None
            return geo.patient_to_pixel(self.volume, X, Y, Z)
        if self.kind == "nifti":
            return geo.nifti_world_to_pixel(self.affine, X, Y, Z, lps=True)
        return float(X), float(Y), float(Z)

    def view_vectors(self, plane: SlicePlane | None = None) -> tuple[list[float], list[float]] | None:
        """``(viewPlaneNormal, viewUp)`` of a slice of ``plane`` in patient space (``None`` for pixels)."""
        if not self.is_patient:
            return None
        origin = np.asarray(self.to_patient(0, 0, 0, plane))
        right = np.asarray(self.to_patient(1, 0, 0, plane)) - origin
        down = np.asarray(self.to_patient(0, 1, 0, plane)) - origin
        normal = np.cross(right, down)
        normal = normal / (np.linalg.norm(normal) or 1.0)
        up = down / (np.linalg.norm(down) or 1.0)
        return [float(v) for v in normal], [float(v) for v in up]

    def convert(self, points: Sequence[Sequence[float]], frame: int | None, plane: SlicePlane | None = None
                ) -> list[list[float]]:
        """Pixel points ``(x, y)`` (or ``(x, y, z)``) of a slice to stored points."""
        out = []
        for point in points:
            if len(point) not in (2, 3):
                raise ValueError(f"A pixel point is (x, y), got {tuple(point)!r}")
            z = frame if frame is not None else (point[2] if len(point) == 3 else 0)
            out.append([float(c) if isinstance(c, float) else c for c in self.to_patient(point[0], point[1], z, plane)]
                       if self.is_patient else [point[0], point[1], z])
        return out

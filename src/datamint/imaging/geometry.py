"""Pixel ↔ patient (world) coordinate conversion for DICOM and NIfTI (wire protocol §7.3).

DICOM conventions: ``x`` is the column index, ``y`` the row index, both 0-based at the centre
of the top-left pixel; patient coordinates are LPS millimetres. A pixel of frame ``k`` is at::

    P = IPP_k + x · PixelSpacing[1] · row_direction + y · PixelSpacing[0] · column_direction

where ``row_direction`` and ``column_direction`` are the two halves of ImageOrientationPatient.
Fractional frame indexes interpolate linearly between frame positions (and extrapolate beyond
the first/last frame), so :func:`patient_to_pixel` is the exact inverse of
:func:`pixel_to_patient` even for tilted (gantry-tilt) stacks.

NIfTI conventions: voxel ``(i, j, k)`` maps to RAS+ world coordinates through the image affine;
``lps=True`` flips x and y to DICOM's LPS, as the Datamint viewer expects.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from typing import Union

import numpy as np
from pydicom.dataset import Dataset

from .dicom_assemble import FrameGeometry, frame_geometry
from .dicom_io import number_of_frames

__all__ = [
    "VolumeGeometry", "nifti_pixel_to_world", "nifti_world_to_pixel", "patient_to_pixel",
    "pixel_to_patient", "slice_normal",
]  # fmt: skip

Point3 = tuple[float, float, float]


def slice_normal(iop: SequenceABC[float]) -> Point3:
    """Return the unit slice normal (row direction × column direction) of an orientation.

    Args:
        iop: ImageOrientationPatient, six direction cosines.

    Returns:
        The normalised cross product.

    Raises:
        ValueError: `iop` does not have six values or its two directions are parallel.
    """
    if len(iop) != 6:
        raise ValueError(f"ImageOrientationPatient needs 6 values, got {len(iop)}")
    normal = np.cross(np.asarray(iop[:3], dtype=float), np.asarray(iop[3:], dtype=float))
    norm = float(np.linalg.norm(normal))
    if norm < 1e-9:
        raise ValueError(f"ImageOrientationPatient {list(iop)} has parallel row and column directions")
    return tuple(float(v) for v in normal / norm)  # type: ignore[return-value]


@dataclass(frozen=True)
class VolumeGeometry:
    """Geometry of a stack of frames: one position per frame, one orientation and spacing.

    Attributes:
        positions: ImagePositionPatient of each frame, shape ``(frames, 3)``.
        iop: ImageOrientationPatient (shared by all frames).
        pixel_spacing: PixelSpacing ``(row spacing, column spacing)``.
        slice_step: Distance between frames along the normal, used to extrapolate from a
            single frame (SpacingBetweenSlices, else SliceThickness, else 1 mm).
    """

    positions: np.ndarray
    iop: tuple[float, float, float, float, float, float]
    pixel_spacing: tuple[float, float]
    slice_step: float = 1.0

    @classmethod
    def from_dataset(cls, ds: Dataset) -> VolumeGeometry:
        """Build the geometry of every frame of a DICOM object.

        Args:
            ds: A single-frame, Enhanced or legacy multi-frame data set (header is enough).

        Returns:
            The volume geometry (see :func:`~datamint.imaging.dicom_assemble.frame_geometry`).
        """
        frames = [frame_geometry(ds, k) for k in range(number_of_frames(ds))]
        step = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0
        return cls.from_frames(frames, slice_step=float(step))

    @classmethod
    def from_frames(cls, frames: SequenceABC[FrameGeometry], slice_step: float = 1.0) -> VolumeGeometry:
        """Build a volume from per-frame geometries.

        Args:
            frames: One :class:`FrameGeometry` per frame; orientation and spacing are taken
                from the first.
            slice_step: Extrapolation step along the normal for single-frame volumes (mm).

        Returns:
            The volume geometry.

        Raises:
            ValueError: `frames` is empty.
        """
        if not frames:
            raise ValueError("a volume needs at least one frame")
        positions = np.array([f.ipp for f in frames], dtype=float)
        return cls(positions, tuple(frames[0].iop), tuple(frames[0].pixel_spacing), float(slice_step) or 1.0)

    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        row = np.asarray(self.iop[:3], dtype=float) * float(self.pixel_spacing[1])
        col = np.asarray(self.iop[3:], dtype=float) * float(self.pixel_spacing[0])
        return row, col

    def frame_origin(self, frame_index: float) -> np.ndarray:
        """Return the position of a (fractional) frame's first pixel.

        Args:
            frame_index: Frame index; fractions interpolate between neighbouring frames, values
                outside the stack extrapolate from the first/last pair.

        Returns:
            The position as a length-3 array (mm).
        """
        count = len(self.positions)
        if count == 1:
            return self.positions[0] + frame_index * self.slice_step * np.asarray(slice_normal(self.iop))
        i = int(np.clip(np.floor(frame_index), 0, count - 2))
        return self.positions[i] + (frame_index - i) * (self.positions[i + 1] - self.positions[i])


GeometrySource = Union[Dataset, FrameGeometry, VolumeGeometry]


def _volume(source: GeometrySource) -> VolumeGeometry:
    if isinstance(source, VolumeGeometry):
        return source
    if isinstance(source, FrameGeometry):
        return VolumeGeometry.from_frames([source])
    return VolumeGeometry.from_dataset(source)


def pixel_to_patient(source: GeometrySource, x: float, y: float, frame_index: float = 0) -> Point3:
    """Convert a pixel position on a frame to patient coordinates (mm, LPS).

    Args:
        source: A DICOM data set, a :class:`VolumeGeometry` (faster for many calls), or a
            :class:`FrameGeometry` (treated as frame 0, other frames 1 mm apart along the normal).
        x: Column index (may be fractional).
        y: Row index (may be fractional).
        frame_index: 0-based frame index (fractional values interpolate between frames).

    Returns:
        ``(X, Y, Z)`` in millimetres.

    Raises:
        UnsupportedFormatError: A data set without patient geometry.
    """
    volume = _volume(source)
    row, col = volume._axes()
    point = volume.frame_origin(frame_index) + x * row + y * col
    return tuple(float(v) for v in point)  # type: ignore[return-value]


def patient_to_pixel(source: GeometrySource, X: float, Y: float, Z: float) -> tuple[float, float, float]:
    """Convert patient coordinates to ``(x, y, frame_index)``, the inverse of :func:`pixel_to_patient`.

    Args:
        source: A DICOM data set, a :class:`VolumeGeometry` or a :class:`FrameGeometry`.
        X: Patient x (mm).
        Y: Patient y (mm).
        Z: Patient z (mm).

    Returns:
        Column, row and a fractional frame index (outside ``0..frames-1`` when the point lies
        beyond the stack). When frame positions are not monotonic along the normal, the frame
        index is that of the nearest frame plane.
    """
    volume = _volume(source)
    row, col = volume._axes()
    point = np.array([X, Y, Z], dtype=float)
    positions = volume.positions
    normal = np.asarray(slice_normal(volume.iop))
    if len(positions) == 1:
        step = normal * volume.slice_step
        x, y, t = np.linalg.solve(np.column_stack([row, col, step]), point - positions[0])
        return float(x), float(y), float(t)
    along = (positions - positions[0]) @ normal
    steps = np.diff(along)
    target = float((point - positions[0]) @ normal)
    if np.all(steps > 0) or np.all(steps < 0):
        sign = 1.0 if steps[0] > 0 else -1.0
        i = int(np.clip(np.searchsorted(sign * along, sign * target) - 1, 0, len(positions) - 2))
        segment = positions[i + 1] - positions[i]
        x, y, t = np.linalg.solve(np.column_stack([row, col, segment]), point - positions[i])
        return float(x), float(y), float(i + t)
    nearest = int(np.argmin(np.abs(along - target)))
    x, y, _ = np.linalg.solve(np.column_stack([row, col, normal]), point - positions[nearest])
    return float(x), float(y), float(nearest)


def nifti_pixel_to_world(
    affine: SequenceABC[SequenceABC[float]] | np.ndarray, i: float, j: float, k: float, *, lps: bool = False
) -> Point3:
    """Map NIfTI voxel indexes to world coordinates through the 4×4 affine.

    Args:
        affine: The image affine (e.g. resource metadata ``affine``).
        i: First voxel index.
        j: Second voxel index.
        k: Third voxel index (the slice).
        lps: Return DICOM LPS coordinates (x and y negated) instead of RAS+.

    Returns:
        ``(x, y, z)`` in millimetres.
    """
    matrix = np.asarray(affine, dtype=float).reshape(4, 4)
    x, y, z, _ = matrix @ np.array([i, j, k, 1.0])
    return (-float(x), -float(y), float(z)) if lps else (float(x), float(y), float(z))


def nifti_world_to_pixel(
    affine: SequenceABC[SequenceABC[float]] | np.ndarray, x: float, y: float, z: float, *, lps: bool = False
) -> Point3:
    """Map world coordinates to (fractional) NIfTI voxel indexes; inverse of :func:`nifti_pixel_to_world`.

    Args:
        affine: The image affine.
        x: World x (mm).
        y: World y (mm).
        z: World z (mm).
        lps: The coordinates are DICOM LPS (x and y negated) rather than RAS+.

    Returns:
        ``(i, j, k)``.
    """
    matrix = np.asarray(affine, dtype=float).reshape(4, 4)
    world = np.array([-x, -y, z, 1.0] if lps else [x, y, z, 1.0])
    i, j, k, _ = np.linalg.solve(matrix, world)
    return float(i), float(j), float(k)

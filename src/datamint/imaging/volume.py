"""Volumes resliced into sagittal and coronal planes (multiplanar reformatting) for viewers.

A DICOM series stored as one multi-frame object (what the SDK's ``assemble_dicoms`` and the
server's series uploads make) is a volume when its frames are parallel, share their orientation
and pixel spacing, and are evenly spaced along the slice normal. Its voxels are then indexed like
a NIfTI volume's in :mod:`.pixels`: ``i`` the column, ``j`` the row, ``k`` the frame, and

* ``sagittal`` slice ``i`` has ``x = j`` and ``y = k``;
* ``coronal`` slice ``j`` has ``x = i`` and ``y = k``.

A viewer reads such slices from a *volume file*: the frames decoded once, in modality units (after
RescaleSlope/Intercept), written as a ``.npy`` array of shape ``(frames, rows, columns)``
(:func:`write_dicom_volume`) and memory-mapped (:func:`volume_slice`), so no request decodes the
whole series again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.errors import InvalidDicomError
from pydicom.pixels import iter_pixels, pixel_array

from .dicom_assemble import FrameGeometry
from .dicom_frames import StoredFrames
from .dicom_io import check_dicom_size, first_number, frame_value, number_of_frames, read_dicom
from .errors import CorruptFileError, UnsupportedFormatError

__all__ = ["DicomFrames", "PlaneSpec", "compact_values", "dicom_mpr_planes", "volume_slice", "write_dicom_volume"]

#: How far (mm) frame positions may stray from an evenly spaced stack and still be a volume.
TOLERANCE_MM = 0.01
_INT16 = (-32768, 32767)

#: A plane as ``(count, rows, columns, origins, row_cosines, column_cosines, spacing)``.
PlaneSpec = tuple[int, int, int, list[list[float]], list[float], list[float], list[float]]


def dicom_mpr_planes(frames: Sequence[FrameGeometry], rows: int, columns: int) -> dict[str, PlaneSpec]:
    """The sagittal and coronal planes of a stack of frames, or ``{}`` when it is not a volume.

    Args:
        frames: The geometry of every frame, in frame order.
        rows: Rows of each frame. columns: Columns of each frame.

    Returns:
        ``{"sagittal": ..., "coronal": ...}`` as :data:`PlaneSpec` tuples (positions in the frames'
        patient space), or ``{}`` for fewer than two frames, frames that differ in orientation or
        pixel spacing, frames that share a position, or uneven spacing.
    """
    if len(frames) < 2 or rows < 1 or columns < 1:
        return {}
    first = frames[0]
    if any(not np.allclose(f.iop, first.iop, atol=1e-4) or not np.allclose(f.pixel_spacing, first.pixel_spacing,
                                                                           atol=1e-6) for f in frames):
        return {}
    row_dir = np.asarray(first.iop[:3], dtype=float)
    col_dir = np.asarray(first.iop[3:], dtype=float)
    positions = np.asarray([f.ipp for f in frames], dtype=float)
    step_vector = (positions[-1] - positions[0]) / (len(frames) - 1)
    step = float(np.linalg.norm(step_vector))
    if step < 1e-6:
        return {}
    expected = positions[0] + np.outer(np.arange(len(frames)), step_vector)
    if float(np.abs(positions - expected).max()) > TOLERANCE_MM:
        return {}
    through = step_vector / step
    if abs(float(np.dot(through, np.cross(row_dir, col_dir)))) < 0.5:  # frames slide within their own plane
        return {}
    row_spacing, col_spacing = (float(v) for v in first.pixel_spacing)
    origin = positions[0]
    sagittal = [[float(v) for v in origin + i * col_spacing * row_dir] for i in range(columns)]
    coronal = [[float(v) for v in origin + j * row_spacing * col_dir] for j in range(rows)]
    down = [float(v) for v in through]
    return {
        # sagittal slice i: x = j (down the frame's columns), y = k (through the frames)
        "sagittal": (columns, len(frames), rows, sagittal, [float(v) for v in col_dir], down, [step, row_spacing]),
        # coronal slice j: x = i (along the frame's rows), y = k
        "coronal": (rows, len(frames), columns, coronal, [float(v) for v in row_dir], down, [step, col_spacing]),
    }


def compact_values(values: np.ndarray) -> np.ndarray:
    """``int16`` when every value is an integer that fits, else ``float32`` (what a viewer uploads as is)."""
    if values.size and np.all(np.isfinite(values)):
        low, high = float(values.min()), float(values.max())
        if _INT16[0] <= low and high <= _INT16[1] and np.array_equal(values, np.round(values)):
            return values.astype(np.int16)
    return np.nan_to_num(values.astype(np.float32))


def _rescale(ds: Any, frame_index: int) -> tuple[float, float]:
    slope = first_number(frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleSlope", 1))
    intercept = first_number(frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleIntercept", 0))
    return (1.0 if slope is None else float(slope)), float(intercept or 0.0)


def write_dicom_volume(path: str | os.PathLike[str], target: str | os.PathLike[str]) -> tuple[int, ...]:
    """Decode every frame of a greyscale DICOM once into a ``.npy`` volume ``(frames, rows, columns)``.

    Values are modality values (RescaleSlope/Intercept applied per frame): ``int16`` when every
    value is an integer that fits, ``float32`` otherwise. Frames are decoded one at a time
    (pydicom's ``iter_pixels``) and written straight into the memory-mapped target, so a 2,000-frame
    series never sits in memory whole.

    Args:
        path: The DICOM file.
        target: Where to write the ``.npy`` file (overwritten).

    Returns:
        The volume's shape.

    Raises:
        UnsupportedFormatError: Colour data, a Modality LUT sequence, or pixel data that cannot be decoded.
        CorruptFileError: The file cannot be read.
    """
    ds = read_dicom(path, stop_before_pixels=True, check=False)
    if int(ds.get("SamplesPerPixel") or 1) != 1 or ds.get("ModalityLUTSequence"):
        raise UnsupportedFormatError("only greyscale DICOM with a linear rescale can be resliced")
    check_dicom_size(ds)  # the decoded-size limits, from the header, before anything is decoded
    count, rows, columns = number_of_frames(ds), int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    rescales = [_rescale(ds, k) for k in range(count)]
    integral = all(float(s).is_integer() and float(b).is_integer() for s, b in rescales)
    for dtype in ((np.int16, np.float32) if integral else (np.float32,)):
        volume = np.lib.format.open_memmap(os.fspath(target), mode="w+", dtype=dtype, shape=(count, rows, columns))
        try:
            fits = _fill(path, volume, rescales, dtype)
        finally:
            volume.flush()
            del volume
        if fits:
            return count, rows, columns
    raise CorruptFileError("the DICOM's values could not be stored")  # float32 always fits


def _fill(path: str | os.PathLike[str], volume: np.ndarray, rescales: list[tuple[float, float]], dtype: Any) -> bool:
    """Write every frame into ``volume``; ``False`` when an int16 volume cannot hold a value."""
    k = -1
    try:
        for k, raw in enumerate(iter_pixels(os.fspath(path))):
            if k >= len(volume):
                break
            slope, intercept = rescales[k]
            values = raw.astype(np.float64) * slope + intercept if (slope, intercept) != (1.0, 0.0) else raw
            if dtype is np.int16 and values.size and (values.min() < _INT16[0] or values.max() > _INT16[1]):
                return False
            volume[k] = values
    except (RuntimeError, NotImplementedError, ValueError, AttributeError) as exc:
        raise UnsupportedFormatError(f"cannot decode frame {k + 1} of this DICOM: {exc}") from exc
    if k + 1 < len(volume):
        raise CorruptFileError(f"the DICOM holds {k + 1} decodable frames, not {len(volume)}; it may be truncated")
    return True


def volume_slice(target: str | os.PathLike[str] | Path, plane: str, index: int) -> np.ndarray:
    """One slice of a volume file written by :func:`write_dicom_volume`.

    Args:
        target: The ``.npy`` volume ``(frames, rows, columns)``.
        plane: ``axial`` (a frame), ``sagittal`` (``x = j``, ``y = k``) or ``coronal`` (``x = i``, ``y = k``).
        index: The slice's index in its plane.

    Returns:
        The slice, ``(rows, columns)`` of the plane, as a new array.

    Raises:
        IndexError: ``index`` is out of range (the message gives the range).
        ValueError: An unknown plane.
    """
    volume = np.load(os.fspath(target), mmap_mode="r")
    axis = {"axial": 0, "coronal": 1, "sagittal": 2}.get(plane)
    if axis is None:
        raise ValueError(f"plane must be one of ['axial', 'sagittal', 'coronal'], not {plane!r}")
    count = volume.shape[axis]
    if not 0 <= index < count:
        raise IndexError(f"index {index} is out of range for the volume's {plane} plane: "
                         f"valid indexes are 0..{count - 1}")
    return np.array(np.take(volume, index, axis=axis))


class DicomFrames:
    """Random access to the frames of a greyscale DICOM file, its header parsed once.

    :func:`datamint.imaging.pixels.slice_values` reads the header for every frame it serves;
    the header of a 2,000-frame series (a PerFrameFunctionalGroupsSequence of 2,000 items) takes
    about a second to parse, which a viewer asking for one frame at a time pays 2,000 times. This
    reader parses it once (up to the pixel data), then reads natively encoded frames straight
    from their offset in the file (:class:`~datamint.imaging.dicom_frames.StoredFrames`, the one
    frame reader); frames of compressed transfer syntaxes are decoded by pydicom.

    Args:
        path: The DICOM file (kept open by path; the file must not change).

    Raises:
        UnsupportedFormatError: Colour data or a Modality LUT sequence (use ``slice_values``).
        CorruptFileError: The file cannot be read.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._stored = StoredFrames(self.path, force=True)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            raise CorruptFileError(f"cannot read the DICOM header: {exc}") from exc
        ds = self._stored.dataset
        if int(ds.get("SamplesPerPixel") or 1) != 1 or ds.get("ModalityLUTSequence") is not None:
            raise UnsupportedFormatError("only greyscale DICOM with a linear rescale is read frame by frame here")
        check_dicom_size(ds)  # the decoded-size limits, from the header
        self.count = self._stored.count
        self.rows, self.columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        self.rescales = [_rescale(ds, k) for k in range(self.count)]
        self._dtype: np.dtype | None = None
        syntax = self._stored.syntax
        bits, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
        signed = int(ds.get("PixelRepresentation") or 0) == 1
        native = (syntax is not None and not syntax.is_compressed and not syntax.is_deflated
                  and syntax.is_little_endian and bits in (8, 16, 32) and (not signed or stored == bits))
        length = self._stored.pixel_length
        if native and length is not None and length >= self.rows * self.columns * bits // 8 * self.count:
            self._dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")

    def values(self, index: int) -> np.ndarray:
        """Frame ``index`` in modality units (``float64``).

        Raises:
            IndexError: ``index`` is out of range (the message gives the range).
            UnsupportedFormatError: The frame cannot be decoded.
            CorruptFileError: The file ends before the frame.
        """
        if not 0 <= index < self.count:
            raise IndexError(f"index {index} is out of range for the DICOM: valid indexes are 0..{self.count - 1}")
        if self._dtype is not None:  # read straight from its offset in the file
            raw = np.frombuffer(self._stored.stored(index), dtype=self._dtype).reshape(self.rows, self.columns)
        else:
            try:
                raw = pixel_array(self.path, index=index if self.count > 1 else None)
            except (RuntimeError, NotImplementedError, ValueError, AttributeError) as exc:
                raise UnsupportedFormatError(f"cannot decode frame {index} of this DICOM: {exc}") from exc
        slope, intercept = self.rescales[index]
        return raw.astype(np.float64) * slope + intercept

"""Raw pixel values of one slice and the geometry of every slice, for viewers that window themselves.

:mod:`.render` answers display-ready 8-bit images; a viewer that lets the user change the window
(the web app) needs the values themselves: Hounsfield units for CT, the voxel values of a NIfTI
volume. Conventions, shared with the SDK (:mod:`datamint.imaging.resource_geometry`):

* a slice is an array ``(rows, columns)`` (or ``(rows, columns, 3)`` for colour), ``x`` the column
  and ``y`` the row, both 0-based at the centre of the top-left pixel;
* DICOM: frame ``k`` of the file, values after the Modality LUT (RescaleSlope/Intercept);
* NIfTI: ``axial`` slice ``k`` has ``x = i`` and ``y = j`` at ``k``; ``sagittal`` slice ``i`` has
  ``x = j`` and ``y = k``; ``coronal`` slice ``j`` has ``x = i`` and ``y = k``; values after the
  header's scaling, volume 0 of a 4-D image;
* images and videos: page or frame ``k`` as 8-bit grey or RGB.

:func:`slice_geometry` gives, per plane, where each slice lies in patient space (LPS millimetres:
DICOM's own, NIfTI's affine with x and y negated) or, for images and videos, in pixels with
``z = frame``: exactly the space the SDK stores annotation points in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.pixels import apply_modality_lut

from ._sources import Source, as_local_path
from .convert import extension_for_mimetype
from .dicom_assemble import frame_geometry
from .dicom_io import check_dicom_size, first_number, frame_value, number_of_frames, read_dicom
from .errors import CorruptFileError, UnsupportedFormatError
from .geometry import nifti_pixel_to_world
from .nifti_io import NiftiVoxels, open_nifti_voxels
from .render import (
    _bounds,
    _dicom_display,
    _kind,
    _out_of_range,
    _strips,
    check_video_frame,
    decode_dicom_frame,
    load_frame,
    open_image,
)
from .sniff import DICOM, NIFTI
from .volume import dicom_mpr_planes

__all__ = ["PLANES", "PlaneGeometry", "SliceGeometry", "slice_geometry", "slice_values"]

PLANES = ("axial", "sagittal", "coronal")
_INT16 = (-32768, 32767)


@dataclass
class PlaneGeometry:
    """The slices of one plane: their count, size and where each lies.

    Attributes:
        count: Number of slices.
        rows: Rows of each slice. columns: Columns of each slice.
        origins: Position of each slice's first pixel centre.
        row_cosines: Direction of increasing ``x`` (along a row).
        column_cosines: Direction of increasing ``y`` (down a column).
        spacing: ``(between rows, between columns)`` in mm (1 for pixels).
    """

    count: int
    rows: int
    columns: int
    origins: list[list[float]]
    row_cosines: list[float]
    column_cosines: list[float]
    spacing: list[float]


@dataclass
class SliceGeometry:
    """What a viewer needs before loading pixels: kind, size, window, and each plane's geometry."""

    kind: str
    samples: int
    modality: str | None = None
    photometric: str = "MONOCHROME2"
    window: dict[str, float] | None = None
    patient_space: bool = True
    planes: dict[str, PlaneGeometry] = field(default_factory=dict)


def _unit(vector: np.ndarray) -> tuple[list[float], float]:
    norm = float(np.linalg.norm(vector))
    return [float(v) / (norm or 1.0) for v in vector], norm


def _pixel_plane(count: int, rows: int, columns: int) -> PlaneGeometry:
    return PlaneGeometry(count, rows, columns, [[0.0, 0.0, float(k)] for k in range(count)],
                         [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0])


def _nifti_planes(shape: tuple[int, ...], affine: np.ndarray) -> dict[str, PlaneGeometry]:
    dims = (list(shape) + [1, 1, 1])[:3]

    def world(i: float, j: float, k: float) -> np.ndarray:
        return np.asarray(nifti_pixel_to_world(affine, i, j, k, lps=True))

    axes = {"i": np.array([1, 0, 0]), "j": np.array([0, 1, 0]), "k": np.array([0, 0, 1])}
    layout = {"axial": ("k", "i", "j"), "sagittal": ("i", "j", "k"), "coronal": ("j", "i", "k")}
    size = dict(zip("ijk", dims, strict=True))
    planes = {}
    for plane, (through, across, down) in layout.items():
        origin0 = world(0, 0, 0)
        row_dir, col_step = _unit(world(*axes[across]) - origin0)
        col_dir, row_step = _unit(world(*axes[down]) - origin0)
        origins = [[float(v) for v in world(*(axes[through] * n))] for n in range(size[through])]
        planes[plane] = PlaneGeometry(size[through], size[down], size[across], origins, row_dir, col_dir,
                                      [row_step, col_step])
    return planes


def slice_geometry(path: Source, mimetype: str | None) -> SliceGeometry:
    """The kind, window and per-plane slice geometry of a file (headers only where possible).

    Args:
        path: The file (a path is best: DICOM headers and video properties are read without
            decoding pixels).
        mimetype: Its mimetype; sniffed when ``None``.

    Returns:
        A :class:`SliceGeometry`. Images, videos and DICOM objects have the ``axial`` plane
        (their frames); NIfTI volumes, and greyscale DICOM series whose frames form a regular
        volume (:func:`.volume.dicom_mpr_planes`), have all three.

    Raises:
        UnsupportedFormatError: A type without slices.
        CorruptFileError: The file cannot be read.
    """
    kind = _kind(path, mimetype)
    if kind == DICOM:
        ds = read_dicom(path, stop_before_pixels=True, check=False)
        check_dicom_size(ds)
        count, rows, columns = number_of_frames(ds), int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
        colour = int(ds.get("SamplesPerPixel") or 1) > 1 or photometric == "PALETTE COLOR"
        center = first_number(frame_value(ds, 0, "FrameVOILUTSequence", "WindowCenter"))
        width = first_number(frame_value(ds, 0, "FrameVOILUTSequence", "WindowWidth"))
        info = SliceGeometry("dicom", 3 if colour else 1, str(ds.get("Modality") or "") or None,
                             "RGB" if colour else photometric,
                             {"center": center, "width": width} if center is not None and width else None)
        try:
            frames = [frame_geometry(ds, k) for k in range(count)]
        except UnsupportedFormatError:  # secondary captures, ultrasound...: pixels, z = frame
            info.patient_space = False
            info.planes["axial"] = _pixel_plane(count, rows, columns)
            return info
        iop = frames[0].iop
        info.planes["axial"] = PlaneGeometry(count, rows, columns, [list(map(float, f.ipp)) for f in frames],
                                             list(map(float, iop[:3])), list(map(float, iop[3:])),
                                             list(map(float, frames[0].pixel_spacing)))
        if not colour and not ds.get("ModalityLUTSequence"):  # a greyscale volume: sagittal and coronal too
            for plane, spec in dicom_mpr_planes(frames, rows, columns).items():
                info.planes[plane] = PlaneGeometry(*spec)
        return info
    if kind == NIFTI:
        with open_nifti_voxels(path) as voxels:
            info = SliceGeometry("nifti", 1, None, "MONOCHROME2", _nifti_window(voxels))
            info.planes = _nifti_planes(voxels.shape, voxels.affine)
        return info
    if kind and kind.startswith("video/"):
        return _video_geometry(path, kind)
    if kind and kind.startswith("image/"):
        with open_image(path) as img:
            count = int(getattr(img, "n_frames", 1))
            columns, rows = img.size
            samples = 1 if img.mode in ("L", "LA", "I", "F", "1") or img.mode.startswith("I;") else 3
        return SliceGeometry("image", samples, None, "MONOCHROME2" if samples == 1 else "RGB", None, False,
                             {"axial": _pixel_plane(count, rows, columns)})
    raise UnsupportedFormatError(f"files of type {kind or 'unknown'} have no slices to view")


def _nifti_window(voxels: NiftiVoxels) -> dict[str, float] | None:
    """A window spanning the values of the first volume (of up to 16 evenly spaced slices when it
    has more than 64 M voxels), so every slice and plane is shown with the same mapping. Slices are
    read one at a time."""
    nx, ny, nz = voxels.shape
    picks = range(nz) if nx * ny * nz <= 64 * 1024 * 1024 else sorted(
        {int(k) for k in np.linspace(0, nz - 1, 16).round().astype(int)})
    found: tuple[float, float] | None = None
    for k in picks:
        found = _bounds(np.asarray(voxels.axial(k), dtype=np.float32), found=found)
    if found is None:
        return None
    low, high = found
    return {"center": (low + high) / 2, "width": max(high - low, 1.0)}


def _video_geometry(path: Source, kind: str) -> SliceGeometry:
    import cv2

    with as_local_path(path, suffix=extension_for_mimetype(kind) or ".mp4") as local:
        cap = cv2.VideoCapture(local)
        try:
            if not cap.isOpened():
                raise CorruptFileError("OpenCV cannot open this video; check that it is complete")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            rows, columns = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            check_video_frame(rows, columns)
        finally:
            cap.release()
    return SliceGeometry("video", 3, None, "RGB", None, False, {"axial": _pixel_plane(count, rows, columns)})


def _compact(values: np.ndarray, transform: Any = None) -> np.ndarray:
    """int16 when every value is an integer that fits, else float32 (what a viewer uploads as is).

    ``transform`` (elementwise, to float64) is applied strip by strip, twice (once to choose the type,
    once to fill it): a frame's float64 values never exist whole.
    """
    def value(block: np.ndarray) -> np.ndarray:
        return np.asarray(transform(block) if transform is not None else block, dtype=np.float64)

    integral = values.size > 0
    for block in _strips(values):
        v = value(block)
        if not (np.all(np.isfinite(v)) and v.size and _INT16[0] <= v.min() and v.max() <= _INT16[1]
                and np.array_equal(v, np.round(v))):
            integral = False
            break
    out = np.empty(values.shape, dtype=np.int16 if integral else np.float32)
    start = 0
    for block in _strips(values):
        v = value(block)
        out[start:start + block.shape[0]] = v.astype(np.int16) if integral else np.nan_to_num(v.astype(np.float32))
        start += block.shape[0]
    return out


def _dicom_values(path: Source, frame_index: int) -> np.ndarray:
    ds, raw = decode_dicom_frame(path, frame_index)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if int(ds.get("SamplesPerPixel") or 1) > 1 or photometric == "PALETTE COLOR":
        return _dicom_display(ds, raw, frame_index, None)
    if ds.get("ModalityLUTSequence"):
        return _compact(raw, lambda block: apply_modality_lut(block, ds))
    slope = first_number(frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleSlope", 1))
    intercept = first_number(frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleIntercept", 0))
    factor, offset = (1.0 if slope is None else slope), (intercept or 0.0)
    return _compact(raw, lambda block: block.astype(np.float64) * factor + offset)


def _nifti_values(path: Source, plane: str, index: int) -> np.ndarray:
    with open_nifti_voxels(path) as voxels:
        nx, ny, nz = voxels.shape
        axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
        if not 0 <= index < voxels.shape[axis]:
            raise _out_of_range(index, voxels.shape[axis], f"NIfTI volume's {plane} plane")
        if axis == 2:
            values = np.asarray(voxels.axial(index), dtype=np.float64)
        else:  # one row (or column) of each axial slice, read in order: one pass, one slice in memory
            values = np.empty((ny if axis == 0 else nx, nz), dtype=np.float64)
            for k in range(nz):
                slab = voxels.axial(k)
                values[:, k] = slab[index, :] if axis == 0 else slab[:, index]
    return _compact(values.T)  # rows follow the second remaining axis: y = j (axial) or k


def slice_values(path: Source, mimetype: str | None, index: int, plane: str = "axial") -> np.ndarray:
    """The values of one slice: modality values for DICOM, voxel values for NIfTI, 8-bit otherwise.

    Args:
        path: The file.
        mimetype: Its mimetype; sniffed when ``None``.
        index: 0-based slice (frame) index in ``plane``.
        plane: ``axial`` (the stored frames), ``sagittal`` or ``coronal`` (NIfTI only).

    Returns:
        ``int16`` or ``float32`` ``(rows, columns)`` for greyscale DICOM and NIfTI; ``uint8``
        ``(rows, columns)`` or ``(rows, columns, 3)`` for colour DICOM, images and videos.

    Raises:
        IndexError: ``index`` is out of range (the message gives the range).
        ValueError: ``plane`` is not one of :data:`PLANES`, or not ``axial`` for 2-D kinds.
        UnsupportedFormatError: A type without slices, or pixel data that cannot be decoded.
    """
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {list(PLANES)}, not {plane!r}")
    kind = _kind(path, mimetype)
    if kind == NIFTI:
        return _nifti_values(path, plane, index)
    if plane != "axial":
        raise ValueError(f"only volumes (NIfTI, DICOM series) have a {plane} plane; use plane=axial"
                         + (" (a DICOM series' other planes are read with datamint.imaging.volume)"
                            if kind == DICOM else ""))
    if kind == DICOM:
        return _dicom_values(path, index)
    frame = load_frame(path, kind, index)
    if frame.ndim == 3:
        return np.ascontiguousarray(frame[..., :3]) if frame.shape[2] >= 3 else np.ascontiguousarray(frame[..., 0])
    return frame

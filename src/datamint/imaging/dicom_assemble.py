"""Assembling single-frame DICOM series into one multi-frame object, and per-frame geometry.

:func:`group_series` splits instances into series that can be stacked; :func:`assemble_series`
stacks one group into an Enhanced-style multi-frame data set ordered along the slice normal;
:func:`frame_geometry` reads the position/orientation/spacing of any frame of single-frame,
Enhanced multi-frame and legacy multi-frame objects.

Assembled objects use the Legacy Converted Enhanced CT/MR/PET SOP classes for CT, MR and PET
input (other modalities keep their SOP class), uncompressed Explicit VR Little Endian pixel
data, and record each frame's source instance in a ConversionSourceAttributesSequence.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence as SequenceABC
from typing import Any, NamedTuple

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from .dicom_io import ensure_file_meta, frame_item, frame_value, number_of_frames
from .errors import UnsupportedFormatError

__all__ = [
    "FrameGeometry", "assemble_series", "assembled_filename", "frame_geometry", "group_series",
    "slice_order",
]  # fmt: skip

_LEGACY_CONVERTED = {
    "1.2.840.10008.5.1.4.1.1.2": "1.2.840.10008.5.1.4.1.1.2.2",  # CT
    "1.2.840.10008.5.1.4.1.1.4": "1.2.840.10008.5.1.4.1.1.4.4",  # MR
    "1.2.840.10008.5.1.4.1.1.128": "1.2.840.10008.5.1.4.1.1.128.1",  # PET
}
# Per-instance attributes that must not be copied to the assembled object's top level.
_DROPPED = ("PixelData", "SliceLocation", "LargestImagePixelValue", "SmallestImagePixelValue",
            "IconImageSequence", "DataSetTrailingPadding", "NumberOfFrames", "PlanarConfiguration",
            "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "RescaleSlope",
            "RescaleIntercept", "RescaleType")  # fmt: skip


class FrameGeometry(NamedTuple):
    """Patient-space geometry of one frame (DICOM conventions, millimetres)."""

    ipp: tuple[float, float, float]
    """ImagePositionPatient: centre of the first (top-left) pixel."""
    iop: tuple[float, float, float, float, float, float]
    """ImageOrientationPatient: row direction (along x/columns), then column direction (along y/rows)."""
    pixel_spacing: tuple[float, float]
    """PixelSpacing: (spacing between rows, spacing between columns)."""


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(math.isfinite(n) for n in numbers) else None


def _normal(iop: SequenceABC[float]) -> np.ndarray:
    return np.cross(np.asarray(iop[:3], dtype=float), np.asarray(iop[3:6], dtype=float))


def frame_geometry(ds: Dataset, frame_index: int = 0) -> FrameGeometry:
    """Return the position, orientation and pixel spacing of one frame.

    Works for single-frame objects, Enhanced multi-frame objects (per-frame and shared
    functional groups) and legacy multi-frame objects with only top-level attributes, whose
    frames are placed along the slice normal using GridFrameOffsetVector, SpacingBetweenSlices
    or SliceThickness (in that order; without any, all frames share the top-level position, as
    in a cine loop).

    Args:
        ds: The data set (the header is enough).
        frame_index: 0-based frame index.

    Returns:
        The frame's :class:`FrameGeometry`.

    Raises:
        IndexError: `frame_index` is outside ``0..frames-1``.
        UnsupportedFormatError: The object has no patient geometry (e.g. a secondary capture).
    """
    frames = number_of_frames(ds)
    if not 0 <= frame_index < frames:
        raise IndexError(f"frame_index {frame_index} is out of range: valid frames are 0..{frames - 1}")
    iop = _floats(frame_value(ds, frame_index, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    spacing = frame_value(ds, frame_index, "PixelMeasuresSequence", "PixelSpacing") or ds.get("ImagerPixelSpacing")
    spacing = _floats(spacing, 2)
    item = frame_item(ds, frame_index, "PlanePositionSequence")
    ipp = _floats(item.get("ImagePositionPatient") if item is not None else ds.get("ImagePositionPatient"), 3)
    if iop is None or spacing is None or ipp is None:
        raise UnsupportedFormatError(
            "the DICOM object has no patient geometry (ImagePositionPatient, ImageOrientationPatient "
            "and PixelSpacing are needed); use pixel coordinates for it"
        )
    if item is None and frames > 1 and frame_index > 0:
        offsets = ds.get("GridFrameOffsetVector")
        step = frame_value(ds, 0, "PixelMeasuresSequence", "SpacingBetweenSlices") or frame_value(
            ds, 0, "PixelMeasuresSequence", "SliceThickness"
        )
        if offsets is not None and len(offsets) == frames:
            distance = float(offsets[frame_index]) - float(offsets[0])
        else:
            distance = frame_index * float(step or 0.0)
        ipp = tuple(float(v) for v in np.asarray(ipp) + distance * _normal(iop))  # type: ignore[assignment]
    return FrameGeometry(ipp, iop, spacing)  # type: ignore[arg-type]


def _series_key(ds: Dataset) -> tuple[Any, ...]:
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    return (
        str(ds.get("SeriesInstanceUID", "")), str(ds.get("StudyInstanceUID", "")), str(ds.get("Modality", "")),
        tuple(round(v, 3) + 0.0 for v in iop) if iop else None, ds.get("Rows"), ds.get("Columns"),
        str(ds.get("Laterality", "")), str(ds.get("ImageLaterality", "")), ds.get("SamplesPerPixel"),
        ds.get("BitsAllocated"),
    )  # fmt: skip


def group_series(datasets: SequenceABC[Dataset]) -> list[list[Dataset]]:
    """Group single-frame instances that can be stacked into one multi-frame object.

    Instances share a group when SeriesInstanceUID, StudyInstanceUID, Modality,
    ImageOrientationPatient (rounded to 1e-3), Rows, Columns, Laterality, ImageLaterality,
    SamplesPerPixel and BitsAllocated all match. Multi-frame instances and objects without an
    image (no Rows) each form a group of their own.

    Args:
        datasets: The data sets (headers are enough; the same objects are returned).

    Returns:
        Groups in order of first appearance, members in input order. Every input appears in
        exactly one group.
    """
    groups: dict[Any, list[Dataset]] = {}
    for position, ds in enumerate(datasets):
        stackable = "Rows" in ds and number_of_frames(ds) == 1
        key = _series_key(ds) if stackable else ("single", position)
        groups.setdefault(key, []).append(ds)
    return list(groups.values())


def slice_order(datasets: SequenceABC[Dataset]) -> list[int]:
    """Return input indices sorted along the slice normal (falling back to InstanceNumber).

    Slices are sorted by the projection of ImagePositionPatient on the normal of
    ImageOrientationPatient (row × column direction) when every slice has both and the
    positions are distinct; otherwise by InstanceNumber, then input order.

    Args:
        datasets: The instances of one series.

    Returns:
        ``order`` such that ``datasets[order[k]]`` is frame ``k``.
    """

    def instance_number(i: int) -> float:
        try:
            return float(datasets[i].get("InstanceNumber"))
        except (TypeError, ValueError):
            return math.inf

    iops = [_floats(ds.get("ImageOrientationPatient"), 6) for ds in datasets]
    ipps = [_floats(ds.get("ImagePositionPatient"), 3) for ds in datasets]
    if iops and all(iops) and all(ipps):
        normal = _normal(iops[0])  # type: ignore[arg-type]
        if np.linalg.norm(normal) > 1e-6:
            distances = [float(np.dot(normal, ipp)) for ipp in ipps]  # type: ignore[arg-type]
            if len({round(d, 4) for d in distances}) == len(distances):
                return sorted(range(len(datasets)), key=lambda i: (distances[i], instance_number(i), i))
    return sorted(range(len(datasets)), key=lambda i: (instance_number(i), i))


def _item(**attributes: Any) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def _uniform(values: list[Any]) -> bool:
    return all(v == values[0] for v in values)


def assemble_series(datasets: SequenceABC[Dataset], order_out: list[int] | None = None) -> Dataset:
    """Stack the single-frame instances of one series into one Enhanced-style multi-frame object.

    Frames are ordered by :func:`slice_order`. Patient, study, series and equipment attributes
    come from the first frame's instance; the result has a new SOPInstanceUID, NumberOfFrames,
    a SharedFunctionalGroupsSequence (PlaneOrientation, PixelMeasures with PixelSpacing,
    SliceThickness and SpacingBetweenSlices, and PixelValueTransformation/FrameVOILUT when they
    are the same for all frames) and a PerFrameFunctionalGroupsSequence (PlanePosition,
    FrameContent, ConversionSourceAttributes, plus rescale/window when they vary). The top level
    keeps ImagePositionPatient of frame 0, ImageOrientationPatient and PixelSpacing for simple
    readers. Pixel data is decoded (compressed inputs included) and stored uncompressed.

    Args:
        datasets: One group from :func:`group_series`, read with pixel data.
        order_out: If given, it is filled with the input indices in frame order, so
            ``order_out[k]`` is the input that became frame ``k``.

    Returns:
        The assembled data set (with ``file_meta``), ready for ``save_as``.

    Raises:
        UnsupportedFormatError: The inputs are empty, multi-frame, lack pixel data, differ in
            size or pixel format, or their compressed pixel data cannot be decoded.
    """
    if not datasets:
        raise UnsupportedFormatError("no DICOM instances to assemble")
    if any(number_of_frames(ds) > 1 or "PixelData" not in ds for ds in datasets):
        raise UnsupportedFormatError("only single-frame instances read with their Pixel Data can be assembled")
    shapes = {
        (ds.get("Rows"), ds.get("Columns"), ds.get("SamplesPerPixel"), ds.get("BitsAllocated")) for ds in datasets
    }
    if len(shapes) > 1:
        raise UnsupportedFormatError(f"instances differ in Rows/Columns/SamplesPerPixel/BitsAllocated: {shapes}")
    order = slice_order(datasets)
    if order_out is not None:
        order_out[:] = order
    ordered = [datasets[i] for i in order]
    first = ordered[0]
    for ds in ordered:
        ensure_file_meta(ds)
    native = _native_pixel_bytes(ordered)
    if native is not None:  # uncompressed little-endian grayscale: concatenate, no decoding
        bits = int(first.BitsAllocated)
        pixels = np.empty((0, 0, 0), dtype=np.dtype(f"{'i' if first.PixelRepresentation else 'u'}{bits // 8}"))
    else:
        try:
            pixels = np.stack([pixel_array(ds) for ds in ordered])
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            raise UnsupportedFormatError(
                f"cannot decode the pixel data of the series ({exc}); install the pylibjpeg plugins or "
                "python-gdcm, or upload the files without assembling them"
            ) from exc

    out = Dataset()
    for elem in first:
        if elem.keyword not in _DROPPED:
            out.add(copy.deepcopy(elem))
    photometric = str(first.get("PhotometricInterpretation", "MONOCHROME2"))
    out.PhotometricInterpretation = "RGB" if photometric.startswith("YBR") else photometric
    if pixels.ndim == 4:
        out.PlanarConfiguration = 0
    out.SamplesPerPixel = 1 if pixels.ndim == 3 else pixels.shape[-1]
    out.BitsAllocated = pixels.dtype.itemsize * 8
    out.BitsStored = min(int(first.get("BitsStored") or out.BitsAllocated), out.BitsAllocated)
    out.HighBit = out.BitsStored - 1
    out.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    out.NumberOfFrames = len(ordered)
    out.SOPClassUID = _LEGACY_CONVERTED.get(str(first.get("SOPClassUID", "")), first.get("SOPClassUID", ""))
    out.SOPInstanceUID = generate_uid()
    out.InstanceNumber = 1
    _functional_groups(out, ordered, first)
    data = native if native is not None else pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
    out.PixelData = data + b"\0" if len(data) % 2 else data
    out["PixelData"].VR = "OW" if out.BitsAllocated > 8 else "OB"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out.file_meta = meta
    out.set_original_encoding(False, True)
    return out


def _native_pixel_bytes(ordered: list[Dataset]) -> bytes | None:
    """The frames' Pixel Data concatenated, when no decoding is needed; ``None`` otherwise.

    That is when every instance is uncompressed little endian, single-sample (grayscale), with
    8, 16 or 32 bits allocated, the same pixel format, and no sign bit below the allocated bits:
    the stored bytes then are exactly what decoding and re-encoding would produce, and a 250-slice
    series assembles several times faster.
    """
    little_endian = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
    first = ordered[0]
    keys = ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation", "PhotometricInterpretation")
    signature = tuple(first.get(k) for k in keys)
    if first.get("SamplesPerPixel", 1) != 1 or first.get("BitsAllocated") not in (8, 16, 32):
        return None
    if str(first.get("PhotometricInterpretation", "")) not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    if first.get("PixelRepresentation") == 1 and first.get("BitsStored") != first.get("BitsAllocated"):
        return None  # decoding sign-extends such values: the stored bytes would differ
    size = int(first.Rows) * int(first.Columns) * int(first.BitsAllocated) // 8
    parts = []
    for ds in ordered:
        syntax = str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", ""))
        if syntax not in little_endian or tuple(ds.get(k) for k in keys) != signature:
            return None
        data = ds.PixelData
        if len(data) < size:
            return None
        parts.append(memoryview(data)[:size])  # no copy of each frame before the join
    return b"".join(parts)


def _functional_groups(out: Dataset, ordered: list[Dataset], first: Dataset) -> None:
    """Fill the shared/per-frame functional groups and dimension organisation of `out`."""
    positions = [_floats(ds.get("ImagePositionPatient"), 3) for ds in ordered]
    iop = _floats(first.get("ImageOrientationPatient"), 6)
    rescale = [(ds.get("RescaleSlope"), ds.get("RescaleIntercept")) for ds in ordered]
    window = [(ds.get("WindowCenter"), ds.get("WindowWidth")) for ds in ordered]
    has_rescale = any(s is not None for s, _ in rescale)
    has_window = any(c is not None for c, _ in window)
    rescale_varies = has_rescale and not _uniform(rescale)  # decided once, not once per frame
    window_varies = has_window and not _uniform(window)

    shared = Dataset()
    if iop:
        shared.PlaneOrientationSequence = Sequence([_item(ImageOrientationPatient=list(iop))])
    measures = Dataset()
    for keyword in ("PixelSpacing", "SliceThickness"):
        if first.get(keyword) not in (None, ""):
            setattr(measures, keyword, first.get(keyword))
    spacing = first.get("SpacingBetweenSlices")
    if iop and all(positions) and len(ordered) > 1:
        steps = np.diff([float(np.dot(_normal(iop), p)) for p in positions])  # type: ignore[arg-type]
        if np.all(steps > 0):
            spacing = round(float(np.median(steps)), 6)
    if spacing not in (None, ""):
        measures.SpacingBetweenSlices = spacing
        out.SpacingBetweenSlices = spacing
    if len(measures):
        shared.PixelMeasuresSequence = Sequence([measures])
    rescale_type = "HU" if str(first.get("Modality", "")) == "CT" else "US"

    def rescale_item(slope: Any, intercept: Any) -> Dataset:
        return _item(RescaleSlope=slope if slope is not None else 1, RescaleIntercept=intercept or 0,
                     RescaleType=rescale_type)  # fmt: skip

    if has_rescale and not rescale_varies:
        transform = rescale_item(*rescale[0])
        shared.PixelValueTransformationSequence = Sequence([transform])
        out.RescaleSlope, out.RescaleIntercept = transform.RescaleSlope, transform.RescaleIntercept
    if has_window and not window_varies and window[0][1] is not None:
        shared.FrameVOILUTSequence = Sequence([_item(WindowCenter=window[0][0], WindowWidth=window[0][1])])
        out.WindowCenter, out.WindowWidth = window[0]
    out.SharedFunctionalGroupsSequence = Sequence([shared])

    per_frame = []
    for k, ds in enumerate(ordered):
        group = Dataset()
        if positions[k]:
            group.PlanePositionSequence = Sequence([_item(ImagePositionPatient=list(positions[k]))])
        content = _item(StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[1, k + 1])
        group.FrameContentSequence = Sequence([content])
        source = _item(
            ReferencedSOPClassUID=ds.get("SOPClassUID", ""), ReferencedSOPInstanceUID=ds.get("SOPInstanceUID", "")
        )
        group.ConversionSourceAttributesSequence = Sequence([source])
        if rescale_varies:
            group.PixelValueTransformationSequence = Sequence([rescale_item(*rescale[k])])
        if window_varies and window[k][1] is not None:
            group.FrameVOILUTSequence = Sequence([_item(WindowCenter=window[k][0], WindowWidth=window[k][1])])
        per_frame.append(group)
    out.PerFrameFunctionalGroupsSequence = Sequence(per_frame)

    organization_uid = generate_uid()
    out.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=organization_uid)])
    out.DimensionIndexSequence = Sequence([
        _item(DimensionOrganizationUID=organization_uid, DimensionIndexPointer=0x00209056,
              FunctionalGroupPointer=0x00209111),
        _item(DimensionOrganizationUID=organization_uid, DimensionIndexPointer=0x00209057,
              FunctionalGroupPointer=0x00209111),
    ])  # fmt: skip
    if positions[0]:
        out.ImagePositionPatient = list(positions[0])


def assembled_filename(ds: Dataset) -> str:
    """Return a readable, filesystem-safe file name for an assembled series.

    Built from SeriesDescription (or ``series<SeriesNumber>``), StudyDescription (or StudyID,
    or StudyDate) and the laterality, e.g. ``AX_T1_3mm_Brain_MRI_L.dcm``.

    Args:
        ds: The assembled (or any) data set.

    Returns:
        A name of at most 128 characters ending in ``.dcm``.
    """
    series = str(ds.get("SeriesDescription") or "").strip()
    if not series and str(ds.get("SeriesNumber") or "").strip():
        series = f"series{ds.SeriesNumber}"
    study = next((str(ds.get(k)).strip() for k in ("StudyDescription", "StudyID", "StudyDate") if ds.get(k)), "")
    laterality = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").strip()
    stem = "_".join(part for part in (series or "series", study, laterality) if part)
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", stem).strip("._-")[:124] or "series"
    return f"{stem}.dcm"

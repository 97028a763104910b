"""Metadata extraction: the ``metadata`` dict stored on a resource (wire protocol §5.2).

Every value is JSON-serialisable: plain ``int``/``float``/``str``/``list``/``dict``/``None``,
never numpy types, never NaN or infinity.

Keys by type:

* images: ``width``, ``height``, ``frame_count`` (pages of a multi-page TIFF/GIF, else 1),
  ``mode`` (Pillow mode), ``format``.
* DICOM: ``width`` (Columns), ``height`` (Rows), ``frame_count`` (NumberOfFrames or 1) and the
  DICOM keywords listed in :data:`DICOM_KEYWORDS` when present (for Enhanced objects,
  PixelSpacing/SliceThickness/rescale/window come from the functional groups of frame 0).
* NIfTI: ``dims`` and ``pixDims`` (the header's 8-element ``dim``/``pixdim``), ``affine`` (4×4),
  ``datatype`` (NIfTI code), ``qformCode``, ``sformCode``, ``voxOffset``, ``description``,
  ``width``/``height`` (dim 1 and 2), ``frame_count`` (dim 3) and ``time_points`` (dim 4, 4-D only).
* video: ``frame_count``, ``width``, ``height``, ``fps``, ``duration`` (seconds) and an
  ffprobe-like ``streams`` list.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from ._sources import Source, as_local_path, read_bytes, read_head
from .convert import extension_for_mimetype
from .dicom_io import PER_FRAME, SHARED, frame_value, number_of_frames, read_dicom
from .dicom_raw import PlainValues
from .errors import CorruptFileError, UnsupportedFormatError
from .nifti_io import read_nifti_header
from .sniff import DICOM, HEAD_SIZE, NIFTI, normalize_mimetype, sniff_mimetype

__all__ = ["DICOM_KEYWORDS", "dicom_identifiers", "dicom_metadata", "extract_metadata", "jsonable", "laterality_tag"]

DICOM_KEYWORDS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "PatientID", "Modality",
    "BodyPartExamined", "SeriesDescription", "StudyDescription", "SeriesNumber", "InstanceNumber",
    "StudyDate", "ImageLaterality", "Laterality", "PhotometricInterpretation", "BitsAllocated",
    "SamplesPerPixel", "ImagePositionPatient", "ImageOrientationPatient",
)  # fmt: skip
_FRAME_KEYWORDS = (
    ("PixelMeasuresSequence", "PixelSpacing"), ("PixelMeasuresSequence", "SliceThickness"),
    ("PixelMeasuresSequence", "SpacingBetweenSlices"), ("FrameVOILUTSequence", "WindowCenter"),
    ("FrameVOILUTSequence", "WindowWidth"), ("PixelValueTransformationSequence", "RescaleSlope"),
    ("PixelValueTransformationSequence", "RescaleIntercept"),
)  # fmt: skip


def jsonable(value: Any) -> Any:
    """Convert a DICOM/numpy value to plain JSON types (NaN/inf and raw bytes become ``None``).

    Args:
        value: A pydicom element value, numpy scalar/array, or plain Python value.

    Returns:
        An ``int``, ``float``, ``str``, ``bool``, ``None`` or a list/dict of those.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (str, PersonName)):
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, MultiValue)):
        return [jsonable(v) for v in value]
    return None


def dicom_identifiers(ds: Dataset) -> dict[str, str | None]:
    """Return the identifiers the server stores in its own columns.

    Args:
        ds: A DICOM data set (header only is enough).

    Returns:
        ``study_uid``, ``series_uid``, ``instance_uid``, ``patient_id``, ``modality``; ``None``
        for missing or empty values.
    """
    pairs = {"study_uid": "StudyInstanceUID", "series_uid": "SeriesInstanceUID",
             "instance_uid": "SOPInstanceUID", "patient_id": "PatientID", "modality": "Modality"}  # fmt: skip
    return {key: (str(ds.get(kw)).strip() or None) if ds.get(kw) is not None else None for key, kw in pairs.items()}


def laterality_tag(ds: Dataset) -> str | None:
    """Return the resource tag for the body side a DICOM object shows: ``"left"``, ``"right"`` or ``None``.

    The first of ImageLaterality, Laterality and FrameLaterality (at the top level, or in the
    FrameAnatomySequence of the shared or the first per-frame functional group) that is ``L``
    or ``R`` decides; other values (``B``, ``U``, empty) give ``None``.

    Args:
        ds: A DICOM data set (header only is enough).

    Returns:
        ``"left"``, ``"right"`` or ``None``.
    """
    values = [ds.get("ImageLaterality"), ds.get("Laterality"), ds.get("FrameLaterality")]
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in (ds.get(groups) or [])[:1]:
            for item in group.get("FrameAnatomySequence") or []:
                values.append(item.get("FrameLaterality"))
    for value in values:
        side = {"L": "left", "R": "right"}.get(str(value or "").strip().upper())
        if side:
            return side
    return None


def dicom_metadata(ds: Dataset, *, values: PlainValues | None = None) -> dict[str, Any]:
    """Return the metadata dict of a DICOM data set (see the module docstring).

    Args:
        ds: A DICOM data set (header only is enough).
        values: Its :class:`~datamint.imaging.dicom_raw.PlainValues`, when the caller reads
            elements of it elsewhere too (each is then read once).

    Returns:
        A JSON-serialisable dict (the values read from the raw bytes where pydicom reads them
        plainly: :func:`~datamint.imaging.dicom_raw.plain_value`).
    """
    read = values or PlainValues(ds)
    meta: dict[str, Any] = {
        "width": jsonable(read("Columns")),
        "height": jsonable(read("Rows")),
        "frame_count": number_of_frames(ds, values=read),
    }
    tsyntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID")
    if tsyntax:
        meta["TransferSyntaxUID"] = str(tsyntax)
    for keyword in DICOM_KEYWORDS:
        value = read(keyword)
        if value is not None and value != "":
            meta[keyword] = jsonable(value)
    enhanced = PER_FRAME in ds or SHARED in ds  # else the values are the top-level ones
    for sequence, keyword in _FRAME_KEYWORDS:
        value = frame_value(ds, 0, sequence, keyword) if enhanced else read(keyword)
        if value is not None and value != "":
            meta[keyword] = jsonable(value)
    return meta


def _image_metadata(src: Source) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(read_bytes(src))) as img:
            return {"width": img.width, "height": img.height, "frame_count": int(getattr(img, "n_frames", 1)),
                    "mode": img.mode, "format": img.format}  # fmt: skip
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptFileError(f"cannot read the image header ({exc}); re-export the image") from exc


def _nifti_metadata(src: Source) -> dict[str, Any]:
    header = read_nifti_header(src)
    dims = [int(d) for d in header["dim"]]
    ndim = dims[0]
    meta: dict[str, Any] = {
        "dims": dims,
        "pixDims": jsonable(header["pixdim"].astype(float)),
        "affine": jsonable(header.get_best_affine().astype(float)),
        "datatype": int(header["datatype"]),
        "qformCode": int(header["qform_code"]),
        "sformCode": int(header["sform_code"]),
        "voxOffset": jsonable(float(header["vox_offset"])),
        "description": header["descrip"].item().split(b"\0", 1)[0].decode("latin-1").strip(),
        "width": dims[1],
        "height": dims[2] if ndim >= 2 else 1,
        "frame_count": dims[3] if ndim >= 3 else 1,
    }
    if ndim >= 4:
        meta["time_points"] = dims[4]
    return meta


def _video_metadata(src: Source, suffix: str) -> dict[str, Any]:
    import cv2

    with as_local_path(src, suffix=suffix) as path:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise CorruptFileError("OpenCV cannot open this video; check that it is complete")
            frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = jsonable(cap.get(cv2.CAP_PROP_FPS)) or 0.0
            width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
        finally:
            cap.release()
    codec = fourcc.decode("latin-1").strip("\0 ").lower() or None
    duration = frames / fps if fps > 0 else None
    stream = {"codec_type": "video", "codec_name": codec, "nb_frames": frames, "width": width,
              "height": height, "avg_frame_rate": fps, "duration": duration}  # fmt: skip
    return {"frame_count": frames, "width": width, "height": height, "fps": fps, "duration": duration,
            "streams": [stream]}  # fmt: skip


def extract_metadata(path_or_bytes: Source, mimetype: str | None = None) -> dict[str, Any]:
    """Extract the resource metadata of a file (see the module docstring for the keys).

    Args:
        path_or_bytes: The file's bytes, a path, or a binary file object.
        mimetype: The file's mimetype; sniffed from the content when ``None``.

    Returns:
        A JSON-serialisable dict; empty for types without metadata (e.g. PDF, JSON).

    Raises:
        CorruptFileError: The file cannot be parsed as `mimetype`.
        UnsupportedFormatError: The content is not of the given type.

    Example:
        >>> extract_metadata("CT_small.dcm", "application/dicom")["frame_count"]
        1
    """
    kind = normalize_mimetype(mimetype)
    if kind in (None, "application/octet-stream"):
        kind = sniff_mimetype(read_head(path_or_bytes, HEAD_SIZE))
    if kind == DICOM:
        return dicom_metadata(read_dicom(path_or_bytes, stop_before_pixels=True, check=False))
    if kind == NIFTI:
        return _nifti_metadata(path_or_bytes)
    if kind and kind.startswith("image/"):
        return _image_metadata(path_or_bytes)
    if kind and kind.startswith("video/"):
        return _video_metadata(path_or_bytes, extension_for_mimetype(kind) or ".mp4")
    if kind is None:
        raise UnsupportedFormatError("unknown file type: cannot extract metadata; pass its mimetype")
    return {}

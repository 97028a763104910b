"""Pure imaging functions shared by the SDK, the server and the datasets.

Everything here takes bytes, paths, file objects, arrays or pydicom data sets and returns arrays,
data sets or plain dicts; nothing touches HTTP or a database. Bad files raise an
:class:`ImagingError` (a ``ValueError``) whose message says what is wrong and what to try.

Modules: :mod:`.sniff` (mimetypes), :mod:`.validate` (full content checks), :mod:`.metadata`,
:mod:`.dicom_io`, :mod:`.dicom_anonymize` (PS3.15 Basic Profile), :mod:`.dicom_assemble`
(series → multi-frame), :mod:`.geometry`, :mod:`.nifti_io`, :mod:`.render`, :mod:`.convert`.
"""

from __future__ import annotations

from .convert import convert_bytes, extension_for_mimetype
from .dicom_anonymize import BASIC_PROFILE, UidMapper, anonymize_dataset, is_dicom_report
from .dicom_assemble import (
    FrameGeometry,
    assemble_series,
    assembled_filename,
    frame_geometry,
    group_series,
    slice_order,
)
from .dicom_io import read_dicom
from .errors import CorruptFileError, ImagingError, MimetypeMismatchError, UnsupportedFormatError
from .geometry import (
    VolumeGeometry,
    nifti_pixel_to_world,
    nifti_world_to_pixel,
    patient_to_pixel,
    pixel_to_patient,
    slice_normal,
)
from .metadata import dicom_identifiers, extract_metadata
from .nifti_io import load_nifti, read_nifti_header
from .render import frame_bytes, iter_frames, load_frame, png_bytes, render_frame_png
from .sniff import HEAD_SIZE, guess_mimetype, normalize_mimetype, resolve_mimetype, sniff_mimetype
from .validate import validate_content

__all__ = [
    "BASIC_PROFILE",
    "HEAD_SIZE",
    "CorruptFileError",
    "FrameGeometry",
    "ImagingError",
    "MimetypeMismatchError",
    "UidMapper",
    "UnsupportedFormatError",
    "VolumeGeometry",
    "anonymize_dataset",
    "assemble_series",
    "assembled_filename",
    "convert_bytes",
    "dicom_identifiers",
    "extension_for_mimetype",
    "extract_metadata",
    "frame_bytes",
    "frame_geometry",
    "group_series",
    "guess_mimetype",
    "is_dicom_report",
    "iter_frames",
    "load_frame",
    "load_nifti",
    "nifti_pixel_to_world",
    "nifti_world_to_pixel",
    "normalize_mimetype",
    "patient_to_pixel",
    "pixel_to_patient",
    "png_bytes",
    "read_dicom",
    "read_nifti_header",
    "render_frame_png",
    "resolve_mimetype",
    "slice_normal",
    "slice_order",
    "sniff_mimetype",
    "validate_content",
]

"""Turning downloaded bytes into the objects the SDK returns (``BaseApi.convert_format``).

===========================  ===========================================================
content                      returned object
===========================  ===========================================================
DICOM                        ``pydicom.Dataset``
NIfTI (plain or gzip)        ``nibabel.Nifti1Image`` / ``nibabel.Nifti2Image``
images (PNG, JPEG, TIFF...)  ``PIL.Image.Image`` (lazy; call ``.load()`` to decode)
video                        ``cv2.VideoCapture`` opened on a temporary copy of the bytes
anything else                the bytes, unchanged
===========================  ===========================================================
"""

from __future__ import annotations

import atexit
import contextlib
import io
import mimetypes
import os
import tempfile
from typing import TYPE_CHECKING, Any, Union

from pydicom.dataset import Dataset

from .dicom_io import read_dicom
from .nifti_io import load_nifti
from .sniff import DICOM, GZIP, HEAD_SIZE, NIFTI, normalize_mimetype, sniff_mimetype

if TYPE_CHECKING:
    import cv2
    import nibabel
    from PIL import Image

__all__ = ["convert_bytes", "extension_for_mimetype"]

Converted = Union[Dataset, "Image.Image", "cv2.VideoCapture", "nibabel.Nifti1Image", bytes]

_EXTENSIONS = {
    DICOM: ".dcm", NIFTI: ".nii", GZIP: ".gz", "image/png": ".png", "image/jpeg": ".jpg",
    "image/tiff": ".tif", "image/bmp": ".bmp", "image/gif": ".gif", "image/webp": ".webp",
    "image/jp2": ".jp2", "video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-msvideo": ".avi",
    "video/webm": ".webm", "video/x-matroska": ".mkv", "application/json": ".json",
    "application/pdf": ".pdf", "application/zip": ".zip",
}  # fmt: skip
_LEFTOVERS: list[str] = []


def extension_for_mimetype(mimetype: str | None, head: bytes | None = None) -> str:
    """Return the file extension to save content of `mimetype` with.

    Args:
        mimetype: A mimetype (aliases accepted).
        head: The first bytes of the content, if available: gzip-compressed NIfTI then gets
            ``.nii.gz`` instead of ``.nii``.

    Returns:
        The extension with its dot (``".dcm"``, ``".nii.gz"``, ``".png"``...), or ``""`` when
        unknown.
    """
    kind = normalize_mimetype(mimetype)
    if kind is None:
        return ""
    if kind == NIFTI and head is not None and head[:2] == b"\x1f\x8b":
        return ".nii.gz"
    return _EXTENSIONS.get(kind) or mimetypes.guess_extension(kind, strict=False) or ""


def _cleanup() -> None:
    for path in _LEFTOVERS:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _open_video(data: bytes, suffix: str) -> Any:
    import cv2

    fd, path = tempfile.mkstemp(suffix=suffix, prefix="datamint-video-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    capture = cv2.VideoCapture(path)
    try:
        os.unlink(path)  # POSIX: the open capture keeps reading the unlinked file
    except OSError:  # pragma: no cover - Windows keeps the file until exit
        if not _LEFTOVERS:
            atexit.register(_cleanup)
        _LEFTOVERS.append(path)
    return capture


def convert_bytes(data: bytes, mimetype: str | None = None) -> Converted:
    """Convert downloaded file content to the natural Python object for its type.

    Args:
        data: The file content.
        mimetype: Its mimetype; sniffed from the content when ``None`` or generic.

    Returns:
        A ``pydicom.Dataset``, ``nibabel`` image, ``PIL.Image.Image``, ``cv2.VideoCapture``, or
        `data` itself for other types (see the module docstring).

    Raises:
        CorruptFileError: The content is of a known type but cannot be parsed.
        UnsupportedFormatError: The content does not match `mimetype`.

    Example:
        >>> ds = convert_bytes(open("CT_small.dcm", "rb").read(), "application/dicom")
        >>> ds.Modality
        'CT'
    """
    kind = normalize_mimetype(mimetype)
    if kind in (None, "application/octet-stream"):
        kind = sniff_mimetype(data[:HEAD_SIZE])
    if kind == DICOM:
        return read_dicom(data, check=False)
    if kind == NIFTI:
        return load_nifti(data)
    if kind and kind.startswith("image/"):
        from PIL import Image, UnidentifiedImageError

        try:
            return Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return data
    if kind and kind.startswith("video/"):
        return _open_video(data, extension_for_mimetype(kind) or ".mp4")
    return data

"""One frame of a stored DICOM file, read without loading the others (DICOMweb ``/frames``).

:func:`read_frame` returns a frame's bytes exactly as stored: for native (uncompressed)
little-endian data it reads the header, then seeks to the frame, so frame 200 of a 130 MB
multi-frame series costs one small read; for encapsulated data it returns the frame's
compressed bitstream. :func:`decoded_frame` decodes a frame to native little-endian bytes for
clients that cannot take the stored transfer syntax.
"""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pydicom.filereader
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError

from ._sources import source_name
from .dicom_io import check_dicom_size, number_of_frames, read_dicom
from .errors import CorruptFileError, UnsupportedFormatError
from .limits import check_frames

__all__ = ["StoredFrames", "check_frame_list", "decoded_frame", "decoded_frames", "read_frame", "read_frames"]

_PIXEL_DATA = b"\xe0\x7f\x10\x00"


def _check_index(index: int, frames: int) -> None:
    if not 0 <= index < frames:
        raise IndexError(f"frame {index + 1} is out of range: this instance has frames 1..{frames}")


class StoredFrames:
    """The frames of a DICOM file as stored, its header parsed once (the pixel data never read whole).

    The one place that finds a file's frames: :func:`read_frame` (DICOMweb) and
    :class:`datamint.imaging.volume.DicomFrames` (viewers) read theirs through it. The header is
    read up to the Pixel Data element, whose own header gives where the frames start.

    Args:
        path: A DICOM file (read again by path for each frame; it must not change).
        force: Read files without a Part-10 header too (their frames can then only be decoded).

    Attributes:
        dataset: The header (every element before the pixel data).
        count: The number of frames.
        pixel_length: The Pixel Data element's declared length (``None`` when undefined, i.e.
            encapsulated, or when the object has no pixel data).

    Raises:
        InvalidDicomError, EOFError, OSError, ValueError: The header cannot be read (as pydicom raises them).
    """

    def __init__(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        self.path = os.fspath(path)
        with open(self.path, "rb") as fh:
            self.dataset = pydicom.dcmread(fh, stop_before_pixels=True, force=force)
            start = fh.tell()
            self.syntax = getattr(getattr(self.dataset, "file_meta", None), "TransferSyntaxUID", None)
            header = fh.read(8 if self.dataset.original_encoding[0] else 12)  # implicit VR: no VR field
        self.count = number_of_frames(self.dataset)
        self._value_at = start + len(header) if header[:4] == _PIXEL_DATA else None
        length = int.from_bytes(header[-4:], "little") if self._value_at is not None else None
        self.pixel_length = None if length == 0xFFFFFFFF else length

    def stored(self, index: int) -> bytes:
        """The bytes of frame ``index`` (0-based) as stored (see :func:`read_frame`)."""
        syntax, frames = self.syntax, self.count
        _check_index(index, frames)
        if syntax is None or syntax.is_deflated or not syntax.is_little_endian:
            raise UnsupportedFormatError(f"frames of transfer syntax {syntax} cannot be read as stored")
        if self._value_at is None:
            raise UnsupportedFormatError("this DICOM object has no Pixel Data (it is not an image)")
        with open(self.path, "rb") as fh:
            fh.seek(self._value_at)
            if syntax.is_encapsulated:
                return get_frame(fh, index, number_of_frames=frames)  # reads only that frame
            ds = self.dataset
            bits = int(ds.get("BitsAllocated") or 0)
            if bits % 8:
                raise UnsupportedFormatError(f"{bits}-bit pixel data cannot be cut into frames as stored")
            size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * bits // 8
            fh.seek(self._value_at + index * size)
            data = fh.read(size)
        if len(data) != size:
            raise CorruptFileError(f"the pixel data ends before frame {index + 1}")
        return data


def check_frame_list(ds: pydicom.Dataset, count: int, filename: str | None = None) -> int:
    """Check that ``count`` frames of ``ds`` (a frame list may name a frame several times) decoded
    stay within the decoded-size limits, as the whole object did when it was stored.

    Returns:
        Their decoded size in bytes (0 for an object without Rows/Columns).

    Raises:
        DecodedSizeError: Together they pass ``max_frames`` or ``max_decoded_mb``.
    """
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        samples, bits = int(ds.get("SamplesPerPixel") or 1), int(ds.get("BitsAllocated") or 8)
    except (TypeError, ValueError):
        return 0
    return check_frames(rows=rows, columns=columns, frames=count, samples=samples, bits=bits,
                        what="the requested frames", filename=filename)


def read_frames(path: str | os.PathLike[str], indices: list[int]) -> tuple[list[bytes], str]:
    """Return the bytes of frames ``indices`` (0-based, repeats allowed) as stored, and the file's
    transfer syntax UID; the header is read once, and the frames together are checked against
    the decoded-size limits (:func:`check_frame_list`) before any is read.

    Raises:
        IndexError, UnsupportedFormatError, CorruptFileError: As :func:`read_frame`.
        DecodedSizeError: The object, or the frames asked for together, pass the limits.
    """
    frames = _stored_frames(path)
    check_frame_list(frames.dataset, len(indices), source_name(path))
    return [frames.stored(index) for index in indices], str(frames.syntax)


def decoded_frames(path: str | os.PathLike[str], indices: list[int]) -> list[bytes]:
    """Decode frames ``indices`` (0-based, repeats allowed) as :func:`decoded_frame` does, after
    checking them together against the decoded-size limits (:func:`check_frame_list`).

    Raises:
        IndexError, UnsupportedFormatError, DecodedSizeError: As :func:`decoded_frame`.
    """
    ds = read_dicom(path, stop_before_pixels=True, check=False)
    check_frame_list(ds, len(indices), source_name(path))
    return [decoded_frame(path, index) for index in indices]


def read_frame(path: str | os.PathLike[str], index: int) -> tuple[bytes, str]:
    """Return the bytes of frame ``index`` (0-based) as stored, and the file's transfer syntax UID.

    Args:
        path: A DICOM Part-10 file.
        index: 0-based frame index.

    Returns:
        ``(bytes, transfer_syntax_uid)``; for native syntaxes the bytes are the frame's pixel
        values in file order, for compressed ones the frame's bitstream.

    Raises:
        IndexError: `index` is out of range.
        UnsupportedFormatError: The object has no pixel data, or its frames cannot be cut out
            as stored (big endian, deflated, or fewer than 8 bits allocated): use
            :func:`decoded_frame`.
        CorruptFileError: The pixel data is shorter than announced.
    """
    frames = _stored_frames(path)
    return frames.stored(index), str(frames.syntax)


def _stored_frames(path: str | os.PathLike[str]) -> StoredFrames:
    """The frames of a little-endian Part-10 file, to be cut out as stored (the object checked
    against the decoded-size limits); :class:`UnsupportedFormatError` for any other file."""
    try:
        stored = pydicom.filereader.read_file_meta_info(path).get("TransferSyntaxUID")
    except (InvalidDicomError, EOFError, OSError, ValueError) as exc:  # no Part-10 header: decode instead
        raise UnsupportedFormatError(f"frames of this object cannot be read as stored ({exc})") from exc
    if stored is None or stored.is_deflated or not stored.is_little_endian:  # never inflate a whole data set here
        raise UnsupportedFormatError(f"frames of transfer syntax {stored} cannot be read as stored")
    frames = StoredFrames(path)
    check_dicom_size(frames.dataset, source_name(path))
    return frames


def decoded_frame(path: str | os.PathLike[str], index: int) -> bytes:
    """Decode frame ``index`` (0-based) to native little-endian bytes (colour interleaved).

    Raises:
        IndexError: `index` is out of range.
        UnsupportedFormatError: No decoder is installed for the stored transfer syntax.
        DecodedSizeError: The header announces more than the decoded-size limits allow.
    """
    from .render import decode_dicom_frame

    ds = read_dicom(path, stop_before_pixels=True, check=False)
    _check_index(index, number_of_frames(ds))
    _header, arr = decode_dicom_frame(os.fspath(path), index)  # that frame only, within the limits
    return np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False)).tobytes()

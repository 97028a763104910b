"""Decoded-size limits: how large an image may be once decoded, checked from headers before decoding.

A few kilobytes of compressed data can announce gigabytes of pixels (a deflated DICOM of zeros, a
gzip NIfTI, an RLE frame, a PNG of 30000 x 30000). Every function of :mod:`datamint.imaging` that
decodes pixels reads the header first and calls one of the ``check_*`` functions below, which raise
:class:`DecodedSizeError` when the announced size passes a limit; nothing is decompressed before.

The limits in force are the :class:`DecodeLimits` a caller installs for a block of code with
:func:`decode_limits` (the server installs its settings for every request, job and DICOM
association); where none are installed (the SDK, scripts) nothing is limited. ``DecodeLimits()``
holds the server's defaults. They travel in a :mod:`contextvars` variable, so the threads a
request's thread pool runs it in see the request's limits.

Example:
    >>> with decode_limits(DecodeLimits(max_frame_pixels=4096 * 4096)):
    ...     render_frame_png("big.dcm", "application/dicom", 0)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import ImagingError

__all__ = [
    "UNLIMITED",
    "DecodeLimits",
    "DecodedSizeError",
    "check_decoded_bytes",
    "check_frame_pixels",
    "check_frames",
    "check_spec_size",
    "current_limits",
    "decode_limits",
]

MIB = 1024 * 1024


class DecodedSizeError(ImagingError):
    """A file (or document) would be larger than a decoded-size limit once decoded.

    Raised from the header, before anything is decompressed. The server answers 413 with the
    message, which names the limit and the setting that raises it.

    Args:
        message: What is too large, by how much, and the setting.
        limit: Name of the limit (``max_frame_pixels``, ``max_frames``, ``max_decoded_mb``,
            ``max_spec_kb``).
    """

    def __init__(self, message: str, *, limit: str, filename: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, filename=filename)


@dataclass(frozen=True)
class DecodeLimits:
    """The decoded-size limits in force.

    Attributes:
        max_frame_pixels: Largest frame (rows x columns; a NIfTI slice: dim1 x dim2).
        max_frames: Most frames in one file (DICOM frames, NIfTI slices x volumes, image pages).
        max_decoded_mb: Largest decoded size of one file, all frames together, in MiB.
        max_spec_kb: Largest annotation-spec / segmentation-group document once parsed, in KiB.
        setting_prefix: How the limits are named in messages: ``"DATAMINT_SERVER_"`` makes
            ``max_frames`` read ``DATAMINT_SERVER_MAX_FRAMES``.
    """

    max_frame_pixels: int = 32 * MIB
    max_frames: int = 65536
    max_decoded_mb: int = 1024
    max_spec_kb: int = 1024
    setting_prefix: str = ""

    @property
    def max_decoded_bytes(self) -> int:
        """``max_decoded_mb`` in bytes."""
        return self.max_decoded_mb * MIB

    def setting(self, name: str) -> str:
        """How the limit ``name`` is set (an environment variable for the server)."""
        return f"{self.setting_prefix}{name.upper()}" if self.setting_prefix else name


#: What applies where nobody installed limits (the SDK, scripts): none. A user's own files are the
#: user's business; and a server whose operator raised its limits must not find the SDK refusing
#: what it serves. The server installs its settings for every request, job and DICOM association.
UNLIMITED = DecodeLimits(max_frame_pixels=2**62, max_frames=2**62, max_decoded_mb=2**40, max_spec_kb=2**40)
_LIMITS: contextvars.ContextVar[DecodeLimits | None] = contextvars.ContextVar("datamint_decode_limits", default=None)


def current_limits() -> DecodeLimits:
    """The limits in force in this context: those :func:`decode_limits` installed, else :data:`UNLIMITED`."""
    return _LIMITS.get() or UNLIMITED


@contextlib.contextmanager
def decode_limits(limits: DecodeLimits) -> Iterator[DecodeLimits]:
    """Install ``limits`` for the code inside the ``with`` block (and the threads it copies its context to)."""
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def _error(what: str, value: int, limit: str, allowed: int, unit: str, filename: str | None) -> DecodedSizeError:
    limits = current_limits()
    return DecodedSizeError(
        f"{what} is {value:,} {unit}, over the server's limit of {allowed:,} {unit} "
        f"(setting {limits.setting(limit)}); nothing was decoded. Split or downsample the file, or ask "
        "the operator to raise the limit",
        limit=limit, filename=filename,
    )


def check_frames(*, rows: int, columns: int, frames: int = 1, samples: int = 1, bits: int = 8,
                 what: str = "the image", filename: str | None = None) -> int:
    """Check the size a header announces against the limits in force, before decoding.

    Args:
        rows: Rows of one frame. columns: Columns of one frame.
        frames: Number of frames (slices x volumes, pages...).
        samples: Samples per pixel (3 for colour).
        bits: Bits allocated per sample.
        what: How to name the thing in the message (``"the DICOM image"``...).
        filename: The file's name, for the message.

    Returns:
        The decoded size in bytes (all frames).

    Raises:
        DecodedSizeError: A frame has more than ``max_frame_pixels`` pixels, there are more than
            ``max_frames`` frames, or the decoded size is over ``max_decoded_mb``.
    """
    limits = current_limits()
    rows, columns, frames = max(int(rows), 0), max(int(columns), 0), max(int(frames), 1)
    pixels = rows * columns
    if pixels > limits.max_frame_pixels:
        raise _error(f"a frame of {what} ({columns} x {rows})", pixels, "max_frame_pixels",
                     limits.max_frame_pixels, "pixels", filename)
    if frames > limits.max_frames:
        raise _error(f"the number of frames of {what}", frames, "max_frames", limits.max_frames, "frames", filename)
    size = pixels * frames * max(int(samples), 1) * max((int(bits) + 7) // 8, 1)
    if size > limits.max_decoded_bytes:
        raise _error(f"{what} decoded ({columns} x {rows} x {frames} frames)", -(-size // MIB), "max_decoded_mb",
                     limits.max_decoded_mb, "MiB", filename)
    return size


def check_frame_pixels(pixels: int, what: str = "the image", filename: str | None = None) -> None:
    """Check a frame's pixel count (when only the count is known) against ``max_frame_pixels``.

    Raises:
        DecodedSizeError: ``pixels`` is over the limit.
    """
    limits = current_limits()
    if pixels > limits.max_frame_pixels:
        raise _error(f"a frame of {what}", pixels, "max_frame_pixels", limits.max_frame_pixels, "pixels", filename)


def check_decoded_bytes(size: int, what: str, filename: str | None = None) -> None:
    """Check a decoded (decompressed) size in bytes against ``max_decoded_mb``.

    Raises:
        DecodedSizeError: ``size`` is over the limit.
    """
    limits = current_limits()
    if size > limits.max_decoded_bytes:
        raise _error(what, -(-size // MIB), "max_decoded_mb", limits.max_decoded_mb, "MiB", filename)


def check_spec_size(size: int, what: str = "the document", filename: str | None = None) -> None:
    """Check the size of a parsed annotation-spec or segmentation-group document (bytes of its JSON).

    Raises:
        DecodedSizeError: ``size`` is over ``max_spec_kb``.
    """
    limits = current_limits()
    if size > limits.max_spec_kb * 1024:
        raise _error(what, -(-size // 1024), "max_spec_kb", limits.max_spec_kb, "KiB", filename)

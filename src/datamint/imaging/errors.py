"""Errors raised by :mod:`datamint.imaging` for files it cannot use.

Every error is a :class:`ValueError` (bad input, not a bug), so callers that already handle
``ValueError`` keep working. The server maps the whole family to a 4xx response whose message
is ``str(err)``; the SDK re-raises it to the user. Messages say what is wrong with the file and
what to try next.

::

    ValueError
    └── ImagingError
        ├── UnsupportedFormatError   the content is not a format we can read (or not the one asked for)
        ├── CorruptFileError         the format is recognised but the file is truncated or damaged
        └── MimetypeMismatchError    the declared mimetype contradicts the file content
"""

from __future__ import annotations

__all__ = ["CorruptFileError", "ImagingError", "MimetypeMismatchError", "UnsupportedFormatError"]


class ImagingError(ValueError):
    """Base class for every problem with an imaging file's content.

    Args:
        message: A sentence saying what is wrong with the file and what to try.
        filename: The file's name, when known; prefixed to the message.
    """

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        self.filename = filename
        self.message = message
        super().__init__(f"{filename}: {message}" if filename else message)


class UnsupportedFormatError(ImagingError):
    """The content is not in a format this package can read (or not the format asked for)."""


class CorruptFileError(ImagingError):
    """The format is recognised, but the file is empty, truncated or otherwise unreadable."""


class MimetypeMismatchError(ImagingError):
    """The declared mimetype (or file extension) contradicts what the content actually is.

    Args:
        message: What was declared, what was found, and what to try.
        declared: The declared (or extension-derived) mimetype.
        detected: The mimetype sniffed from the content, or ``None`` if nothing was recognised.
        filename: The file's name, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        declared: str | None = None,
        detected: str | None = None,
        filename: str | None = None,
    ) -> None:
        self.declared = declared
        self.detected = detected
        super().__init__(message, filename=filename)

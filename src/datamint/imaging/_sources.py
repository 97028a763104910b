"""Uniform access to the inputs the imaging functions accept: bytes, paths and binary files.

Private helpers; the public functions document the accepted types as :data:`Source`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Union

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]
"""Bytes of a file, a path to it, or a binary file object (read from its current position)."""

HEAD_SIZE = 8192
"""How many leading bytes the sniffers look at. Pass at least this many to :func:`sniff_mimetype`."""


def is_pathlike(src: object) -> bool:
    """Return True when `src` names a file on disk rather than holding its content."""
    return isinstance(src, (str, os.PathLike))


def source_name(src: object) -> str | None:
    """Return a display name for `src` (the path's base name or a file object's name), if any."""
    if is_pathlike(src):
        return Path(os.fspath(src)).name  # type: ignore[arg-type]
    name = getattr(src, "name", None)
    return Path(name).name if isinstance(name, str) else None


def read_head(src: Source, size: int = HEAD_SIZE) -> bytes:
    """Return up to `size` leading bytes of `src` without consuming a file object."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[:size])
    if is_pathlike(src):
        with open(os.fspath(src), "rb") as fh:  # type: ignore[arg-type]
            return fh.read(size)
    pos = src.tell()
    try:
        return src.read(size)
    finally:
        src.seek(pos)


def read_start(src: Source, size: int) -> tuple[bytes, int]:
    """Return up to `size` leading bytes of `src` and the length of its whole content.

    A path is read with four system calls (open, read, stat, close) and no file object: in a
    server thread each system call gives the interpreter lock away, and taking it back while other
    threads hold it costs a wait each time. A file object is left where it was.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[:size]), len(src)
    if is_pathlike(src):
        fd = os.open(os.fspath(src), os.O_RDONLY)  # type: ignore[arg-type]
        try:
            parts, left = [], size
            while left > 0:
                part = os.read(fd, left)
                if not part:
                    break
                parts.append(part)
                left -= len(part)
            return b"".join(parts), os.fstat(fd).st_size
        finally:
            os.close(fd)
    pos = src.tell()
    try:
        head = src.read(size)
        return head, src.seek(0, io.SEEK_END) - pos
    finally:
        src.seek(pos)


def read_bytes(src: Source) -> bytes:
    """Return the whole content of `src` (a file object is read from its position and rewound)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if is_pathlike(src):
        return Path(os.fspath(src)).read_bytes()  # type: ignore[arg-type]
    pos = src.tell()
    try:
        return src.read()
    finally:
        src.seek(pos)


@contextlib.contextmanager
def open_source(src: Source) -> Iterator[BinaryIO]:
    """Yield a seekable binary file object positioned at the start of the content of `src`."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(src))
    elif is_pathlike(src):
        with open(os.fspath(src), "rb") as fh:  # type: ignore[arg-type]
            yield fh
    else:
        pos = src.tell()
        try:
            yield src
        finally:
            src.seek(pos)


@contextlib.contextmanager
def open_with_head(src: Source, size: int) -> Iterator[tuple[BinaryIO, bytes]]:
    """Yield :func:`open_source`'s file object and the content's first `size` bytes, read through it.

    What ``read_head(src, size)`` followed by ``open_source(src)`` gives, with a path opened once
    (the object is back at the start of the content when yielded).
    """
    with open_source(src) as fh:
        start = 0 if isinstance(src, (bytes, bytearray, memoryview)) or is_pathlike(src) else fh.tell()
        head = fh.read(size)
        fh.seek(start)  # within what was read: no system call for a buffered file
        yield fh, head


@contextlib.contextmanager
def as_local_path(src: Source, suffix: str = "") -> Iterator[str]:
    """Yield a filesystem path holding the content of `src` (a temporary file unless it is a path).

    Libraries such as OpenCV can only open paths; the temporary file is removed on exit.
    """
    if is_pathlike(src):
        yield os.fspath(src)  # type: ignore[arg-type]
        return
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="datamint-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(read_bytes(src))
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)

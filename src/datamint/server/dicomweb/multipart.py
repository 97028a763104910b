"""``multipart/related`` bodies (PS3.18 8.6): reading STOW-RS requests, writing WADO-RS answers.

Requests are parsed as they stream in (python-multipart): parts up to 1 MiB stay in memory
while all of them together stay under 16 MiB, the others go to a spool file next to the blobs,
so a 500-instance STOW request never sits in memory whole. Answers are generators of byte
chunks for a ``StreamingResponse``.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from datamint.server.errors import BadRequestError, UnsupportedMediaError
from datamint.server.resources.receive import MEMORY_BUDGET, MEMORY_LIMIT, PART_HEADER_LIMIT, ReceivedFile

#: Most parts one STOW-RS request may carry.
MAX_PARTS = 10_000


class _Parts:
    """python-multipart callbacks collecting every part as a :class:`ReceivedFile`."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.parts: list[ReceivedFile] = []
        self._name = b""
        self._value = b""
        self._type: str | None = None
        self._part: ReceivedFile | None = None
        self._sink: Any = None
        self._in_memory = 0  # bytes of all the parts still held in memory

    def on_part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise BadRequestError(f"A STOW-RS request may carry at most {MAX_PARTS} parts; send several requests")
        self._type, self._sink = None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]
        self._check_header()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._check_header()

    def _check_header(self) -> None:
        if len(self._name) + len(self._value) > PART_HEADER_LIMIT:
            raise BadRequestError(f"A part header of the multipart body is longer than {PART_HEADER_LIMIT} bytes")

    def on_header_end(self) -> None:
        if self._name.lower() == b"content-type":
            self._type = self._value.decode("latin-1").strip()
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        self._part = ReceivedFile(None, self._type, buffer=io.BytesIO())
        self.parts.append(self._part)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        assert part is not None
        chunk = data[start:end]
        part.feed(chunk)  # counts and hashes it
        if self._sink is None and (part.size > MEMORY_LIMIT or self._in_memory + len(chunk) > MEMORY_BUDGET):
            self._in_memory -= part.size - len(chunk)
            fd, path = tempfile.mkstemp(dir=self.folder, prefix="stow-", suffix=".part")
            self._sink = os.fdopen(fd, "wb")
            part.path = path
            assert part.buffer is not None
            self._sink.write(part.buffer.getbuffer())
            part.buffer = None
        if self._sink is not None:
            self._sink.write(chunk)
        else:
            assert part.buffer is not None
            part.buffer.write(chunk)
            self._in_memory += len(chunk)

    def on_part_end(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def discard(self) -> None:
        """Close and delete every spool file."""
        if self._sink is not None:
            self._sink.close()
        for part in self.parts:
            part.discard()


async def read_related(content_type: str, chunks: AsyncIterator[bytes], folder: str) -> list[ReceivedFile]:
    """Parse a ``multipart/related`` body into its parts (the caller discards them).

    Raises:
        UnsupportedMediaError: The body is not ``multipart/related`` with a boundary (415).
        BadRequestError: The body is malformed or has too many parts (400).
    """
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/related" or not params.get(b"boundary"):
        raise UnsupportedMediaError('Send the instances as multipart/related; type="application/dicom" '
                                    "with a boundary (PS3.18 10.5)")
    parts = _Parts(folder)
    callbacks = {name: getattr(parts, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # malformed parts, or a boundary over 256 characters
        parts.discard()
        raise BadRequestError(f"Malformed multipart/related body: {exc}")
    except BaseException:
        parts.discard()
        raise
    return parts.parts


def new_boundary() -> str:
    """A boundary that does not occur in DICOM data by chance."""
    return f"datamint-{uuid.uuid4().hex}"


def related_type(part_type: str, boundary: str, transfer_syntax: str | None = None) -> str:
    """The ``Content-Type`` of a multipart/related answer whose parts are ``part_type``."""
    extra = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def write_related(parts: Iterable[tuple[str, Iterable[bytes]]], boundary: str) -> Iterator[bytes]:
    """Chunks of a multipart/related body; ``parts`` yields (content type, chunks of its bytes)."""
    for content_type, chunks in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1")
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("latin-1")

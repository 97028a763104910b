"""Receiving the multipart body of ``POST /resources`` straight into a spool file next to the blobs.

The generic form parser spools an upload to an anonymous temporary file (in the system's temp
folder), writing it chunk by chunk through the thread pool, and the blob store then copies it
again. Here the body is parsed as it streams in (python-multipart): small files stay in memory
while the request's files in memory stay within :data:`MEMORY_BUDGET`; larger ones, and every
file past the budget, go to a named file in the blob store's own temp folder, which the store then
moves into place without copying (:func:`store_received`). A 130 MB series is written to disk once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import Depends, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from datamint.server.common.files import private_dir
from datamint.server.common.values import check_text
from datamint.server.errors import BadRequestError, PayloadTooLargeError, ValidationFailedError
from datamint.server.storage.base import BlobStore

#: Files up to this size stay in memory.
MEMORY_LIMIT = 1 << 20
#: Largest non-file field (the metadata JSON is limited to 1 MiB by the ingest rules).
FIELD_LIMIT = 2 << 20
#: The file parts of one request held in memory together stay under this; later ones are spooled.
MEMORY_BUDGET = 16 << 20
#: Longest header (name and value) of one part of a multipart body.
PART_HEADER_LIMIT = 8 << 10
FILE_FIELD = "resource"
#: The file parts of ``POST /resources/series`` (many).
FILES_FIELD = "resources"
#: Most file parts of one series upload.
MAX_FILES = 10_000


#: Threads that store received files (storing mostly waits for fsync).
FILE_THREADS = 8
_FILE_POOL = ThreadPoolExecutor(max_workers=FILE_THREADS, thread_name_prefix="datamint-files")


def _sha256_of(path: str | None, buffer: io.BytesIO | None) -> str:
    """SHA-256 (hex) of a spool file (``path``) or else of an in-memory content (``buffer``)."""
    if path is None:
        return hashlib.sha256(buffer.getbuffer() if buffer is not None else b"").hexdigest()
    with open(path, "rb") as reader:
        return hashlib.file_digest(reader, "sha256").hexdigest()


@dataclass
class ReceivedFile:
    """The uploaded file: in memory (``buffer``) or in a spool file (``path``)."""

    filename: str | None
    content_type: str | None
    buffer: io.BytesIO | None = None
    path: str | None = None
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256, repr=False)
    hashed: int = 0  # bytes fed to ``digest`` while receiving

    def feed(self, chunk: bytes | memoryview) -> None:
        """Count and hash a received chunk, as the body streams in.

        Hashing a chunk releases the GIL (hashlib does for more than 2 KiB), so the threads that
        check and record earlier files go on meanwhile; a hash computed later, in a thread of its
        own, cost one more hand-over between threads per file and a second read of the file.
        """
        self.size += len(chunk)
        self.digest.update(chunk)
        self.hashed += len(chunk)

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the content: hashed while it was received, or now by reading it when
        the file was built another way (DICOM network receivers, anonymized copies)."""
        if self.hashed == self.size:
            return str(self.digest.hexdigest())
        return _sha256_of(self.path, self.buffer)

    def open(self) -> BinaryIO:
        """A binary reader of the content, positioned at the start (the caller closes it)."""
        if self.path is not None:
            return open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        assert self.buffer is not None
        return io.BytesIO(self.buffer.getbuffer())

    def discard(self) -> None:
        """Delete the spool file, if any is left (it was not moved into the blob store)."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


@dataclass
class ReceivedForm:
    """The text fields and the file of one upload (the files, for a series upload)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: ReceivedFile | None = None
    files: list[ReceivedFile] = field(default_factory=list)
    text_fields: int = 0  # text parts received (a repeated name counts each time)

    def discard(self) -> None:
        """Delete every spool file left."""
        for received in [self.file, *self.files]:
            if received is not None:
                received.discard()


def spool_dir(store: BlobStore, fallback: Path) -> str:
    """Where large uploads are spooled: the store's own temp folder when it has one."""
    folder = getattr(store, "spool_dir", None) or str(fallback)
    private_dir(Path(folder))
    return folder


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to the file ``fd`` (a plain descriptor: each chunk is a read of the
    body, up to a few hundred KiB, that a buffered writer would pass straight through anyway)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Receiver:
    """python-multipart callbacks that fill a :class:`ReceivedForm`."""

    def __init__(self, folder: str, max_fields: int, max_text: int, many: bool = False,
                 max_files: int = MAX_FILES) -> None:
        self.folder = folder
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_text = max_text
        self._text_total = 0
        self.many = many
        # a series' files are many and small: each goes to disk past 64 KiB, not 1 MiB
        self.memory_limit = (64 << 10) if many else MEMORY_LIMIT
        # bytes the request's file parts may still hold in memory (MEMORY_BUDGET in all): a part
        # goes to disk once it outgrows ``_room``, the smaller of its own limit and what is left
        self._memory_left = MEMORY_BUDGET
        self._room = self.memory_limit
        self.form = ReceivedForm()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._content_type: bytes | None = None
        self._name: str | None = None
        self._file: ReceivedFile | None = None
        self._sink: int | None = None  # the spool file's descriptor, written without a buffered writer
        self._text = bytearray()

    def on_part_begin(self) -> None:
        if self._sink is not None:  # the parser ends every part first; never leak a descriptor anyway
            os.close(self._sink)
        self._disposition, self._content_type, self._name, self._file, self._sink = b"", None, None, None, None
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._check_header()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_header()

    def _check_header(self) -> None:
        if len(self._header_name) + len(self._header_value) > PART_HEADER_LIMIT:
            raise BadRequestError(f"A part header of the multipart body is longer than {PART_HEADER_LIMIT} bytes")

    def on_header_end(self) -> None:
        name = self._header_name.lower()
        if name == b"content-disposition":
            self._disposition = self._header_value
        elif name == b"content-type":
            self._content_type = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BadRequestError('Malformed multipart body: a part has no Content-Disposition "name"')
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options and self._name == (FILES_FIELD if self.many else FILE_FIELD):
            if self.form.file is not None:
                raise BadRequestError("Send one file per request (one 'resource' part)")
            self._file = ReceivedFile(options[b"filename"].decode("utf-8", "replace"),
                                      self._content_type.decode("latin-1") if self._content_type else None,
                                      buffer=io.BytesIO())
            self._room = min(self.memory_limit, self._memory_left)
            if self.many:
                if len(self.form.files) >= self.max_files:
                    raise PayloadTooLargeError(f"More than {self.max_files} files in one request; send them in parts")
                self.form.files.append(self._file)
            else:
                self.form.file = self._file
            return
        self.form.text_fields += 1
        if self.form.text_fields > self.max_fields:
            raise PayloadTooLargeError(f"The form has more than {self.max_fields} text fields "
                                       "(setting max_form_fields)")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        # a view, not a copy: most chunks are a whole 64 KiB read, hashed and written once each
        chunk = memoryview(data)[start:end]
        if self._file is None:
            if len(self._text) + len(chunk) > FIELD_LIMIT:
                raise PayloadTooLargeError(f"The form field '{self._name}' is larger than {FIELD_LIMIT >> 20} MiB")
            self._text_total += len(chunk)
            if self._text_total > self.max_text:
                raise PayloadTooLargeError(f"The form's text fields are larger than {self.max_text >> 10} KiB "
                                           "together (setting max_form_text_kb)")
            self._text += chunk
            return
        self._file.feed(chunk)
        if self._sink is None and self._file.size > self._room:  # one compare per chunk, as before the budget
            self._sink, self._file.path = tempfile.mkstemp(dir=self.folder, prefix="upload-", suffix=".part")
            assert self._file.buffer is not None
            _write_all(self._sink, self._file.buffer.getbuffer())
            self._file.buffer = None
        if self._sink is not None:
            _write_all(self._sink, chunk)
        else:
            assert self._file.buffer is not None
            self._file.buffer.write(chunk)

    def on_part_end(self) -> None:
        if self._sink is not None:
            os.close(self._sink)
            self._sink = None
        elif self._file is not None:  # it stayed in memory: its bytes count against the request's budget
            self._memory_left -= self._file.size
        if self._file is None and self._name is not None:
            value = self._text.decode("utf-8", "replace")
            check_text(value, self._name, max_length=FIELD_LIMIT, single_line=False)
            self.form.fields[self._name] = value

    def close(self) -> None:
        """Close and delete a half-written spool file (after an error)."""
        if self._sink is not None:
            os.close(self._sink)
            self._sink = None
        self.form.discard()


async def receive_form(request: Request, folder: str, max_fields: int, max_text: int,
                       many: bool = False, max_files: int = MAX_FILES) -> ReceivedForm:
    """Parse the multipart body of ``request`` as it streams in.

    Args:
        request: The request (authenticated already: the request gate runs before any body is read).
        folder: Where a large file part is spooled.
        max_fields: Most text fields the form may have.
        max_text: Most bytes of all text fields together.
        many: Collect every ``resources`` file part (a series or batch upload) instead of one ``resource``.
        max_files: Most file parts with ``many`` (413 above it, before the next one is read).

    Raises:
        BadRequestError: The body is not well-formed multipart/form-data, or a part header is too long.
        PayloadTooLargeError: A text field is too large, or there are too many or too much of them.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadRequestError("Send the file as multipart/form-data with a 'resource' part (wire §6.2)")
    receiver = _Receiver(folder, max_fields, max_text, many, max_files)
    callbacks = {name: getattr(receiver, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # malformed parts, or a boundary over 256 characters
        receiver.close()
        raise BadRequestError(f"Malformed multipart body: {exc}")
    except BaseException:
        receiver.close()
        raise
    return receiver.form


async def _received_upload(request: Request) -> AsyncIterator[ReceivedForm]:
    settings, store = request.app.state.settings, request.app.state.blob_store
    form = await receive_form(request, spool_dir(store, settings.data_dir / "upload-spool"),
                              settings.max_form_fields, settings.max_form_text_bytes)
    try:
        if form.file is None:
            raise ValidationFailedError("The request has no 'resource' file part; send the file as "
                                        "multipart/form-data field 'resource' with a filename")
        yield form
    finally:
        if form.file is not None:
            form.file.discard()


#: The received body of an upload (declared before the caller so the body is read first, as for
#: any form: a client that sends its whole body before reading the answer then gets the answer).
ReceivedUpload = Annotated[ReceivedForm, Depends(_received_upload)]


async def _receive_many(request: Request, max_files: int = MAX_FILES) -> AsyncIterator[ReceivedForm]:
    """The form of a many-file upload (at least one ``resources`` file part), discarded after the route."""
    settings, store = request.app.state.settings, request.app.state.blob_store
    form = await receive_form(request, spool_dir(store, settings.data_dir / "upload-spool"),
                              settings.max_form_fields, settings.max_form_text_bytes, many=True, max_files=max_files)
    try:
        if not form.files:
            raise ValidationFailedError(f"The request has no '{FILES_FIELD}' file part; send the files as "
                                        f"multipart/form-data fields '{FILES_FIELD}', each with a filename")
        yield form
    finally:
        form.discard()


async def _received_files(request: Request) -> AsyncIterator[ReceivedForm]:
    async for form in _receive_many(request):
        yield form


#: The received body of a series upload: its fields and every ``resources`` file part.
ReceivedFiles = Annotated[ReceivedForm, Depends(_received_files)]


#: Most files of one batch upload (``POST /resources/batch``).
MAX_BATCH_FILES = 200


async def _received_batch(request: Request) -> AsyncIterator[ReceivedForm]:
    async for form in _receive_many(request, MAX_BATCH_FILES):
        yield form


#: The received body of a batch upload: its fields and up to :data:`MAX_BATCH_FILES` file parts.
ReceivedBatch = Annotated[ReceivedForm, Depends(_received_batch)]


def store_received(store: BlobStore, key: str, received: ReceivedFile) -> None:
    """Put the received content in the blob store, moving a spool file into place when possible."""
    adopt = getattr(store, "adopt", None)
    if received.path is not None and adopt is not None:
        adopt(key, received.path)
        received.path = None
        return
    with received.open() as fh:
        store.put(key, fh)


def store_many(store: BlobStore, files: Sequence[tuple[str, ReceivedFile]]) -> list[BaseException | None]:
    """:func:`store_received` for several files at once (``(key, file)`` pairs), a few at a time.

    Each store waits for its file's and its folder's fsync; several waiting together let the file
    system write them in one journal commit instead of one after the other (a batch of 50 files
    was 100 fsyncs in a row). The files are dealt to at most :data:`FILE_THREADS` tasks, each
    storing its share in turn: one hand-over between threads per task, not per file.

    Returns:
        Per pair, in order: ``None`` (stored) or the exception that stopped it (nothing of that
        file is in the store then).
    """
    def store_share(share: Sequence[tuple[str, ReceivedFile]]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        for key, received in share:
            try:
                store_received(store, key, received)
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 - reported per file, the others go on
                outcomes.append(exc)
        return outcomes

    tasks = min(FILE_THREADS, len(files))
    futures = [_FILE_POOL.submit(store_share, files[i::tasks]) for i in range(tasks)]
    outcomes: list[BaseException | None] = [None] * len(files)
    for i, future in enumerate(futures):
        outcomes[i::tasks] = future.result()
    return outcomes

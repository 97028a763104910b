"""Sending prepared uploads: concurrency, ``POST /resources`` and segmentations attached at upload.

See :mod:`datamint.api._upload.prepare` for how inputs become upload units.

Files uploaded one resource each go in batches through ``POST /resources/batch`` when the server
takes batches (``GET /resources/batch`` answers its limits; a server without the route answers
404 or 405 and gets one ``POST /resources`` per file, as before). A batch holds at most
:data:`BATCH_FILES` files and :data:`BATCH_BYTES` bytes (fewer when the server says so); each
file carries its own idempotency key, repeated when the batch is retried, so a retry after a lost
answer stores nothing twice. Assembled series keep one ``POST /resources`` each.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from datamint.api._upload.prepare import (
    PreparedFile,
    SkippedReport,
    UploadInput,
    UploadOptions,
    UploadUnit,
    is_report,
    prepare_unit,
    read_headers,
)

_LOG = logging.getLogger("datamint.upload.duplicates")


class UploadAbortedError(RuntimeError):
    """Put in place of uploads that were not started because another one failed (``on_error='raise'``)."""


class UploadedId(str):
    """The id of an uploaded resource (a plain ``str`` for every other purpose) that also says
    whether its content was already on the server.

    Attributes:
        duplicate_of: The id of an earlier resource of your organization with the same content
            (the same bytes, or the same original files you uploaded before), else ``None``.
        skipped: ``True`` when nothing was uploaded (``on_duplicate='skip'``): the id is the
            earlier resource's.
        mimetype: The type the server stored the file as (decided from its content).
    """

    duplicate_of: str | None
    skipped: bool
    mimetype: str | None

    def __new__(cls, resource_id: str, duplicate_of: str | None = None, skipped: bool = False,
                mimetype: str | None = None) -> UploadedId:
        obj = super().__new__(cls, resource_id)
        obj.duplicate_of = duplicate_of
        obj.skipped = skipped
        obj.mimetype = mimetype
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return UploadedId, (str(self), self.duplicate_of, self.skipped, self.mimetype)


#: Uploads in flight at once, and among them assembled series (large in-memory payloads).
UPLOAD_CONCURRENCY = 20
HEAVY_CONCURRENCY = 4
#: Most files and bytes per ``POST /resources/batch`` (the server's limits win when smaller), and
#: batches in flight at once (smaller batches, more of them at once, cost the server more CPU per
#: file and were not faster: docs/resources.md, "Ingest speed").
BATCH_FILES = 50
BATCH_BYTES = 64 << 20
BATCH_CONCURRENCY = 4
#: Files whose metadata JSON is larger go one by one (the batch's manifest stays small).
BATCH_METADATA_BYTES = 64 << 10
_NO_BATCHES: dict[str, int] = {}


def batch_limits(api: Any) -> dict[str, int]:
    """The server's batch limits (``GET /resources/batch``), asked once per handler; empty when
    the server has no batch route (it answers 404 or 405): files then go one by one."""
    cached = getattr(api, "_batch_limits", None)
    if cached is not None:
        return cached
    limits = _NO_BATCHES
    try:
        response = api._request("GET", "/resources/batch", raise_errors=False)
        body = response.json() if response.status_code == 200 else None
        if isinstance(body, dict) and isinstance(body.get("max_files"), int) and isinstance(body.get("max_bytes"), int):
            limits = {"max_files": body["max_files"], "max_bytes": body["max_bytes"]}
    except ValueError:  # not JSON: not our batch route
        limits = _NO_BATCHES
    api._batch_limits = limits
    return limits


def plan_batches(units: Sequence[UploadUnit], limits: dict[str, int]) -> list[list[UploadUnit]]:
    """Group the units that may go in a batch (one file each, not assembled, metadata small) into
    batches within the limits; every other unit is a batch of its own, sent one by one."""
    most_files = max(1, min(BATCH_FILES, limits.get("max_files", 1)))
    most_bytes = max(1, min(BATCH_BYTES, limits.get("max_bytes", 1) // 2))
    batches: list[list[UploadUnit]] = []
    current: list[UploadUnit] = []
    size = 0
    for unit in units:
        if not limits or unit.assemble or not _small_metadata(unit):
            batches.append([unit])
            continue
        unit_size = _unit_size(unit)
        if current and (len(current) >= most_files or size + unit_size > most_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(unit)
        size += unit_size
    if current:
        batches.append(current)
    return batches


def _unit_size(unit: UploadUnit) -> int:
    source = unit.inputs[0].source
    if isinstance(source, str):
        try:
            return os.path.getsize(source)
        except OSError:
            return 0
    try:
        position = source.tell()
        source.seek(0, 2)
        size = source.tell()
        source.seek(position)
        return size
    except (OSError, ValueError):
        return 0


def _small_metadata(unit: UploadUnit) -> bool:
    meta = unit.inputs[0].metadata
    if meta is None or isinstance(meta, dict) and len(json.dumps(meta)) <= BATCH_METADATA_BYTES:
        return True
    if isinstance(meta, str):
        try:
            return os.path.getsize(os.path.expanduser(meta)) <= BATCH_METADATA_BYTES
        except OSError:
            return True  # the error is reported when the unit is prepared
    return False


async def post_file(api: Any, client: Any, prepared: PreparedFile, form: dict[str, str]) -> UploadedId:
    """``POST /resources`` with one prepared file (wire §6.2); returns the resource id (the earlier
    resource's when the server skipped a duplicate)."""
    import httpx

    from datamint.exceptions import ServerError

    data = dict(form)
    data["mimetype"] = prepared.mimetype
    if prepared.source_filepath:
        data["source_filepath"] = prepared.source_filepath
    if prepared.modality:
        data["modality"] = prepared.modality
    if prepared.tags:
        data["tags"] = ",".join(prepared.tags)
    if prepared.source_sha256:
        data["source_sha256"] = prepared.source_sha256
    files: list[tuple[str, Any]] = [("resource", (prepared.filename, _LargeReads(prepared.fileobj),
                                                  prepared.mimetype))]
    if prepared.metadata_json is not None:
        files.append(("metadata", (None, prepared.metadata_json, "application/json")))
    seconds = max(1800.0, prepared.size / (512 * 1024))
    body = _JoinedChunks(data, files)
    # One key per file, repeated by every retry: the server answers a repeat with the resource the
    # first attempt created, so a retry after a lost answer never makes a duplicate.
    response = await api._arequest(client, "POST", "/resources", content=body,
                                   headers={**body.headers, "Idempotency-Key": str(uuid.uuid4())},
                                   timeout=httpx.Timeout(seconds, connect=60.0))
    body = response.json()
    if isinstance(body, dict) and "error" in body:
        raise ServerError(str(body["error"]), status_code=response.status_code)
    rid = str(body["id"])
    earlier = body.get("duplicate_of")
    return UploadedId(rid, str(earlier) if earlier else None, skipped=response.status_code == 200 and earlier == rid,
                      mimetype=body.get("mimetype"))


#: Bytes read from a file at once while its part is streamed.
_READ_SIZE = 1 << 20


class _LargeReads:
    """A binary file whose reads return up to :data:`_READ_SIZE` bytes at once.

    httpx streams a file part in 64 KiB reads, each one socket write and one trip through the event
    loop; with 1 MiB reads an upload costs the client a fraction of that CPU, and memory stays at
    one read per file in flight.
    """

    def __init__(self, fileobj: Any) -> None:
        self._fileobj = fileobj

    def read(self, size: int = -1) -> bytes:
        """Read ``size`` bytes, or at least :data:`_READ_SIZE` of them (everything for ``-1``)."""
        return self._fileobj.read(-1 if size is None or size < 0 else max(size, _READ_SIZE))

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move in the file (httpx rewinds it before a retry)."""
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        """The position in the file."""
        return self._fileobj.tell()

    def fileno(self) -> int:
        """The file descriptor (httpx reads the length from it); OSError for in-memory files."""
        return self._fileobj.fileno()


#: Multipart chunks smaller than this (boundaries, part headers, form fields) are sent together.
_SMALL_CHUNK = 64 << 10


class _JoinedChunks:
    """A multipart body, encoded by httpx byte for byte as ``data=``/``files=`` would be, whose
    small chunks are sent together.

    httpx writes every chunk of a multipart body on its own: per file a boundary, the part's
    headers, its content and a line break, each write a trip through httpcore, h11, anyio (a
    timeout scope) and the event loop. Joined (up to :data:`_SMALL_CHUNK` bytes at once), a file
    costs two writes instead of four or five: roughly 0.1 ms less client CPU per file. Large chunks (file
    content) go out as read, never copied. The body can be sent again (a retry): each pass
    re-renders it, rewinding the files.

    Attributes:
        headers: Its ``Content-Type`` (with the boundary), and its ``Content-Length`` (or
            ``Transfer-Encoding: chunked`` when a file's length is unknown).
    """

    def __init__(self, data: dict[str, str], files: list[tuple[str, Any]]) -> None:
        import httpx

        request = httpx.Request("POST", "http://localhost/", data=data, files=files)
        self._stream = request.stream
        self.headers = {name: request.headers[name] for name in ("Content-Type", "Content-Length", "Transfer-Encoding")
                        if name in request.headers}

    async def __aiter__(self) -> Any:
        pending: list[bytes] = []
        size = 0
        for chunk in self._stream:  # httpx reads files synchronously in its async path too
            if len(chunk) >= _SMALL_CHUNK:
                if pending:
                    yield b"".join(pending)
                    pending, size = [], 0
                yield chunk
                continue
            pending.append(chunk)
            size += len(chunk)
            if size >= _SMALL_CHUNK:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


class BatchRouteMissingError(RuntimeError):
    """The server answered ``POST /resources/batch`` with 405: it has no batch route after all."""


async def post_batch(api: Any, client: Any, prepared: Sequence[PreparedFile],
                     form: dict[str, str]) -> list[UploadedId | BaseException]:
    """``POST /resources/batch`` with several prepared files; one id or exception per file, in order.

    Raises:
        BatchRouteMissingError: The server has no batch route (send the files one by one).
        DatamintException: The whole batch was refused (a shared field, the project).
    """
    import httpx

    from datamint.api.base_api import error_from_response
    from datamint.exceptions import DatamintException

    manifest = []
    files: list[tuple[str, Any]] = []
    for item in prepared:
        entry: dict[str, Any] = {"mimetype": item.mimetype, "idempotency_key": str(uuid.uuid4())}
        if item.source_filepath:
            entry["source_filepath"] = item.source_filepath
        if item.modality:
            entry["modality"] = item.modality
        if item.tags:
            entry["tags"] = list(item.tags)
        if item.source_sha256:
            entry["source_sha256"] = item.source_sha256
        if item.metadata_json is not None:
            entry["metadata"] = item.metadata_json
        manifest.append(entry)
        files.append(("resources", (item.filename, _LargeReads(item.fileobj), item.mimetype)))
    data = {**form, "files": json.dumps(manifest)}
    size = sum(item.size for item in prepared)
    seconds = max(1800.0, size / (512 * 1024))
    try:
        # Each file's key is in the manifest and repeated by every retry; the header marks the
        # request as safe to retry. A new connection per batch: a server with several worker
        # processes hands each new connection to a worker that is free to accept it, where kept
        # connections stay with the worker that took them (often one worker takes them all).
        body = _JoinedChunks(data, files)
        response = await api._arequest(client, "POST", "/resources/batch", content=body,
                                       headers={**body.headers, "Idempotency-Key": str(uuid.uuid4()),
                                                "Connection": "close"},
                                       timeout=httpx.Timeout(seconds, connect=60.0))
    except DatamintException as exc:
        if getattr(exc, "status_code", None) == 405:
            raise BatchRouteMissingError(str(exc)) from exc
        raise
    items = response.json()["items"]
    results: list[UploadedId | BaseException] = []
    for item in sorted(items, key=lambda i: i["index"]):
        if item["status"] >= 400:
            failed = httpx.Response(item["status"], json=item.get("error") or {}, request=response.request)
            results.append(error_from_response(failed))
            continue
        body = item["resource"]
        rid, earlier = str(body["id"]), body.get("duplicate_of")
        results.append(UploadedId(rid, str(earlier) if earlier else None,
                                  skipped=item["status"] == 200 and earlier == rid, mimetype=body.get("mimetype")))
    if len(results) != len(prepared):
        raise RuntimeError(f"The server answered {len(results)} items for a batch of {len(prepared)} files")
    return results


def report_duplicates(names: Sequence[str], results: Sequence[Any], on_duplicate: str) -> None:
    """Log, in one warning, which uploaded files were already on the server and what was done."""
    found = [(name, r) for name, r in zip(names, results, strict=True) if isinstance(r, UploadedId) and r.duplicate_of]
    if not found:
        return
    shown = ", ".join(f"{name} (resource {r.duplicate_of})" for name, r in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    if on_duplicate == "skip":
        _LOG.warning("Skipped %d file(s) already on the server (same content); their ids are the existing "
                     "resources': %s%s", len(found), shown, more)
    else:
        _LOG.warning("%d file(s) were already on the server (same content) and were uploaded again as new "
                     "resources: %s%s. Pass on_duplicate='skip' to reuse the existing resources instead",
                     len(found), shown, more)


def send_units(api: Any, units: Sequence[UploadUnit], options: UploadOptions, form: dict[str, str],
               on_error: Literal["raise", "skip"], progress_bar: bool) -> dict[int, str | BaseException]:
    """Prepare and upload every unit: in batches (``POST /resources/batch``, at most
    :data:`BATCH_CONCURRENCY` at once) when the server takes them, else one request per unit;
    at most :data:`UPLOAD_CONCURRENCY` requests at once.

    Returns:
        The id or exception of every input (by :attr:`UploadInput.index`); the inputs of an
        assembled series share its id, except slices that could not be read. With
        ``on_error='raise'``, units not yet started when a failure happens get
        :class:`UploadAbortedError`.
    """
    import asyncio
    import contextlib
    import threading

    from tqdm.auto import tqdm

    abort = threading.Event()
    heavy = asyncio.Semaphore(HEAVY_CONCURRENCY)
    batching = asyncio.Semaphore(BATCH_CONCURRENCY)
    bar = tqdm(total=len(units), desc="Uploading resources", unit="file", disable=not progress_bar)
    batchable = sum(1 for unit in units if not unit.assemble)
    batches = plan_batches(units, batch_limits(api) if batchable > 1 else _NO_BATCHES)

    results: dict[int, str | BaseException] = {}

    def settle(unit: UploadUnit, outcome: Any, failures: dict[int, Exception] | None = None) -> None:
        for item in unit.inputs:
            results[item.index] = (failures or {}).get(item.index, outcome)
        if on_error == "raise" and (isinstance(outcome, BaseException) and not isinstance(outcome, SkippedReport)
                                    or failures):
            abort.set()
        bar.update(1)

    def read_units(batch: list[UploadUnit]) -> dict[int, OSError]:
        """Sniff the batch's units and read their DICOM headers (:func:`read_headers`); the units
        that could not be read, by position, with the error."""
        unreadable = {}
        for position, unit in enumerate(batch):
            try:
                read_headers(unit.inputs)
            except OSError as exc:
                unreadable[position] = exc
        return unreadable

    async def read_unread_headers(batch: list[UploadUnit]) -> list[UploadUnit]:
        """Sniff the batch's inputs not read yet and read their DICOM headers (in a worker thread:
        the uploads in flight go on meanwhile); the units to send (a unit whose file cannot be read
        fails alone; reports are skipped when asked)."""
        unreadable: dict[int, OSError] = {}
        if any(not item.head_read for unit in batch for item in unit.inputs):
            unreadable = await asyncio.to_thread(read_units, batch)
        kept = []
        for position, unit in enumerate(batch):
            if position in unreadable:
                settle(unit, unreadable[position])
            elif options.discard_reports and not unit.assemble and is_report(unit.inputs[0]):
                settle(unit, SkippedReport(unit.inputs[0].name))
            else:
                kept.append(unit)
        return kept

    async def prepare(unit: UploadUnit) -> PreparedFile:
        return (await asyncio.to_thread(prepare_unit, unit, options) if unit.is_rewritten(options)
                else prepare_unit(unit, options))  # only opens the file: no thread needed

    async def send_one(client: Any, unit: UploadUnit) -> None:
        if not await read_unread_headers([unit]):
            return
        try:
            async with heavy if unit.assemble else contextlib.nullcontext():
                prepared = await prepare(unit)
                try:
                    rid = await post_file(api, client, prepared, form)
                finally:
                    prepared.close()
        except Exception as exc:  # noqa: BLE001 - reported in place of the unit's ids
            settle(unit, exc)
            return
        settle(unit, rid, prepared.failures)

    async def send_batch(client: Any, batch: list[UploadUnit]) -> None:
        async with batching:
            batch = await read_unread_headers(batch)
            ready: list[tuple[UploadUnit, PreparedFile]] = []
            for unit in batch:
                try:
                    ready.append((unit, await prepare(unit)))
                except Exception as exc:  # noqa: BLE001 - this file fails alone
                    settle(unit, exc)
            if not ready:
                return
            try:
                outcomes = await post_batch(api, client, [prepared for _, prepared in ready], form)
            except BatchRouteMissingError:
                api._batch_limits = _NO_BATCHES
                for _, prepared in ready:
                    prepared.close()
                for unit, _ in ready:
                    await send_one(client, unit)
                return
            except Exception as exc:  # noqa: BLE001 - the whole batch was refused
                outcomes = [exc] * len(ready)
            finally:
                for _, prepared in ready:
                    prepared.close()
            for (unit, _), outcome in zip(ready, outcomes, strict=True):
                settle(unit, outcome)

    def make_job(batch: list[UploadUnit]) -> Any:
        async def job(client: Any) -> None:
            if abort.is_set():
                error = UploadAbortedError("not uploaded: an earlier upload failed and on_error='raise'")
                for unit in batch:
                    settle(unit, error)
                return
            if len(batch) == 1:
                await send_one(client, batch[0])
            else:
                await send_batch(client, batch)
        return job

    try:
        api._run_concurrently([make_job(b) for b in batches], limit=UPLOAD_CONCURRENCY, return_exceptions=True)
    finally:
        bar.close()
    for unit in units:  # a job cancelled before it settled its units
        for item in unit.inputs:
            results.setdefault(item.index, UploadAbortedError("not uploaded: the upload was interrupted"))
    return results


def attach_segmentations(annotations: Any, results: list[Any], inputs: Sequence[UploadInput],
                         segmentation_files: list[Any], transpose: bool, ai_model: str | None) -> list[Any]:
    """Upload the segmentation files given for each uploaded resource with the annotations handler.

    NIfTI files go to ``upload_volume_segmentation``, others (PNG masks, arrays) to
    ``upload_segmentations``; a failure replaces the resource's id in ``results``.
    """
    for position, item in enumerate(inputs):
        spec, rid = segmentation_files[item.index], results[position]
        if spec is None or isinstance(rid, BaseException):
            continue
        files = spec.get("files", []) if isinstance(spec, dict) else list(spec)
        names = spec.get("names") if isinstance(spec, dict) else None
        for n, seg in enumerate(files):
            name = names[n] if isinstance(names, list) else names
            try:
                if str(seg).lower().endswith((".nii", ".nii.gz")):
                    annotations.upload_volume_segmentation(rid, seg, name, ai_model_name=ai_model,
                                                           transpose_segmentation=transpose)
                else:
                    annotations.upload_segmentations(rid, seg, name, transpose_segmentation=transpose,
                                                     ai_model_name=ai_model)
            except Exception as exc:  # noqa: BLE001 - reported in place like upload failures
                results[position] = exc
                break
    return results

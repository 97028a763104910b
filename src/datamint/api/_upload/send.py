"""Sending prepared uploads: concurrency, ``POST /resources`` and segmentations attached at upload.

See :mod:`datamint.api._upload.prepare` for how inputs become upload units.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from datamint.api._upload.prepare import (
    PreparedFile,
    UploadInput,
    UploadOptions,
    UploadUnit,
    prepare_unit,
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
    files: list[tuple[str, Any]] = [("resource", (prepared.filename, prepared.fileobj, prepared.mimetype))]
    if prepared.metadata_json is not None:
        files.append(("metadata", (None, prepared.metadata_json, "application/json")))
    seconds = max(1800.0, prepared.size / (512 * 1024))
    # One key per file, repeated by every retry: the server answers a repeat with the resource the
    # first attempt created, so a retry after a lost answer never makes a duplicate.
    response = await api._arequest(client, "POST", "/resources", data=data, files=files,
                                   headers={"Idempotency-Key": str(uuid.uuid4())},
                                   timeout=httpx.Timeout(seconds, connect=60.0))
    body = response.json()
    if isinstance(body, dict) and "error" in body:
        raise ServerError(str(body["error"]), status_code=response.status_code)
    rid = str(body["id"])
    earlier = body.get("duplicate_of")
    return UploadedId(rid, str(earlier) if earlier else None, skipped=response.status_code == 200 and earlier == rid,
                      mimetype=body.get("mimetype"))


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
    """Prepare and upload every unit, at most :data:`UPLOAD_CONCURRENCY` at once.

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
    bar = tqdm(total=len(units), desc="Uploading resources", unit="file", disable=not progress_bar)

    results: dict[int, str | BaseException] = {}

    def make_job(unit: UploadUnit) -> Any:
        async def job(client: Any) -> str:
            if abort.is_set():
                raise UploadAbortedError("not uploaded: an earlier upload failed and on_error='raise'")
            try:
                async with heavy if unit.assemble else contextlib.nullcontext():
                    prepared = (await asyncio.to_thread(prepare_unit, unit, options) if unit.is_rewritten(options)
                                else prepare_unit(unit, options))  # only opens the file: no thread needed
                    try:
                        rid = await post_file(api, client, prepared, form)
                    finally:
                        prepared.close()
                    for item in unit.inputs:
                        results[item.index] = prepared.failures.get(item.index, rid)
                    if prepared.failures and on_error == "raise":
                        abort.set()
                    return rid
            except BaseException:
                if on_error == "raise":
                    abort.set()
                raise
        return job

    try:
        outcomes = api._run_concurrently([make_job(u) for u in units], limit=UPLOAD_CONCURRENCY,
                                         return_exceptions=True, on_done=lambda: bar.update(1))
    finally:
        bar.close()
    for unit, outcome in zip(units, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            for item in unit.inputs:
                results[item.index] = outcome
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

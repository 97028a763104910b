"""Uploads: check the file, derive its metadata, store the bytes, then record the resource.

Order of operations (crash safety):

1. The multipart body is already spooled to a temporary file by the form parser (never held whole
   in memory). The file name, mimetype and content are checked; anything wrong is a 4xx and
   nothing is written anywhere.
2. An :class:`~datamint.server.resources.models.UploadIntent` naming the blob key is committed
   (the only extra commit of the request, and on the request's own connection: a second
   connection per upload would exhaust the pool under concurrent uploads).
3. The bytes are stored in the blob store under ``<customer_id>/resources/<resource_id>/original``.
4. The resource row is inserted and the intent deleted in one transaction, committed here (the
   upload is the one request that commits more than once). If anything fails after step 3,
   :func:`discard` deletes the blob and the intent at once; if the process dies, the janitor
   finds the intent later and deletes both.

Duplicates (same content in the organization, :mod:`.duplicates`) are looked for before step 2;
with ``on_duplicate=skip`` a duplicate ends the upload there, and the check is repeated under a
database lock in step 4 (where a duplicate found then discards the stored blob).

With ``anonymize=true`` a DICOM file is de-identified after the checks and before step 2
(:mod:`.deidentify`), so only the de-identified bytes are stored.

File names must be plain names: anything with a directory part (``/`` or ``\\``), ``.``/``..``,
control characters or more than 255 bytes is rejected with 422 rather than silently rewritten,
so a client never ends up with a resource named differently from what it sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datamint.imaging._sources import read_start
from datamint.imaging.dicom_header import DicomIndexEntry, index_entry
from datamint.imaging.dicom_io import HEADER_READ, read_checked_header
from datamint.imaging.errors import ImagingError, MimetypeMismatchError, UnsupportedFormatError
from datamint.imaging.limits import DecodedSizeError
from datamint.imaging.metadata import dicom_metadata, extract_metadata
from datamint.imaging.sniff import DICOM, HEAD_SIZE, resolve_mimetype
from datamint.imaging.validate import validate_content
from datamint.server import policy
from datamint.server.audit import recorder
from datamint.server.auth.models import User
from datamint.server.auth.service import Principal
from datamint.server.common.limits import DecodedTooLargeError
from datamint.server.common.values import check_text, parse_json, storable_json
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import AppError, ConflictError, UnsupportedMediaError, ValidationFailedError
from datamint.server.resources import deidentify, dicom_index, duplicates, idempotency, membership, wire
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource, UploadIntent
from datamint.server.resources.receive import ReceivedFile, store_received
from datamint.server.resources.service import clean_tags
from datamint.server.resources.wire import storage_for
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.resources")
MAX_METADATA_BYTES = 1024 * 1024
_SQLITE_WRITES = threading.Lock()
_GENERIC = ("application/octet-stream", "application/gzip", "application/zip", "application/pdf",
            "application/json")


@dataclass
class UploadForm:
    """The form fields of ``POST /resources`` (wire protocol §6.2) besides the file itself."""

    filename: str | None
    declared_mimetype: str | None = None
    source_filepath: str | None = None
    channel: str | None = None
    modality: str | None = None
    publish: bool = False
    tags: list[str] = field(default_factory=list)
    metadata: str | None = None
    project_id: str | None = None
    source: str | None = None
    anonymize: bool = False
    anonymize_key: str | None = None
    on_duplicate: str | None = None
    source_sha256: str | None = None
    idempotency_key: str | None = None


class _KeyUsed(Exception):
    """Raised inside the insert transaction when another request with the same
    ``Idempotency-Key`` committed first (the unique constraint refused this one's record)."""


class _AlreadyThere(Exception):
    """Raised inside the insert transaction when a ``skip`` upload finds its duplicate there."""

    def __init__(self, resource_id: str) -> None:
        super().__init__(resource_id)
        self.resource_id = resource_id


def blob_key(customer_id: str, resource_id: str) -> str:
    """Where the original bytes of a resource are stored."""
    return f"{customer_id}/resources/{resource_id}/original"


def check_filename(filename: str | None) -> str:
    """Return the file name if it is a plain name; 422 otherwise (see the module docstring)."""
    name = (filename or "").strip()
    if not name:
        raise ValidationFailedError("The uploaded file part has no filename; send it with filename=...")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ValidationFailedError(f"Invalid filename {name!r}: send a plain file name without directories "
                                    "or '..' (use source_filepath for the original path)")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ValidationFailedError("Invalid filename: control characters are not allowed")
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        raise ValidationFailedError("Invalid filename: longer than 255 bytes")
    return name


def one_line(value: str | None, name: str, limit: int) -> str | None:
    """A form field's one line of text of at most ``limit`` characters (stripped; empty means none)."""
    if value is None:
        return None
    return check_text(value.strip(), name, max_length=limit) or None


def parse_user_metadata(raw: str | None) -> dict[str, Any]:
    """The client's ``metadata`` JSON object (empty when absent); 422 when it is not an object."""
    if raw in (None, ""):
        return {}
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise ValidationFailedError("The metadata document is larger than 1 MiB")
    value = parse_json(raw, "metadata")
    if not isinstance(value, dict):
        raise ValidationFailedError("The metadata field must be a JSON object")
    return value


def _imaging_error(exc: ImagingError, filename: str) -> AppError:
    message = str(exc) if exc.filename else f"{filename}: {exc}"
    if isinstance(exc, DecodedSizeError):
        return DecodedTooLargeError(message, details={"limit": exc.limit})
    if isinstance(exc, (MimetypeMismatchError, UnsupportedFormatError)):
        return UnsupportedMediaError(message)
    return ValidationFailedError(message)


def analyse(source: str | BinaryIO, filename: str,
            declared: str | None) -> tuple[str, dict[str, Any], DicomIndexEntry | None]:
    """Decide the real mimetype from the content, check the file fully, and extract its metadata.

    Args:
        source: A path to the content, or a binary reader positioned at its start.

    Returns:
        The mimetype, the metadata, and for a DICOM instance its DICOM index entry (from the same
        parse: a few attribute reads and a copy of the header bytes).

    Raises:
        UnsupportedMediaError: The content contradicts the declared type or is not readable as it (415).
        ValidationFailedError: The file is empty, truncated or damaged (422).
    """
    head, size = read_start(source, HEADER_READ)  # a DICOM header within it is checked without opening again
    entry = None
    try:
        mimetype = resolve_mimetype(head[:HEAD_SIZE], filename, declared)
        if mimetype == DICOM:  # one parse (header only) serves the check, the metadata and the DICOM index
            checked = read_checked_header(source, head, size)
            metadata = dicom_metadata(checked.dataset, values=checked.values)
            entry = index_entry(checked.dataset, checked.header_source or source, checked.pixel_offset,
                                values=checked.values)
        else:
            validate_content(source, mimetype)
            try:
                metadata = extract_metadata(source, mimetype)
            except UnsupportedFormatError:
                if mimetype not in _GENERIC:
                    raise
                metadata = {}
    except ImagingError as exc:
        error = _imaging_error(exc, filename)
        error.message = _client_named(error.message, source, filename)
        raise error from exc
    except AppError:
        raise
    except Exception as exc:  # a library choked on the content: still the client's file, not our bug
        _LOG.warning("cannot read %s: %r", filename, exc)
        detail = _client_named(f"{type(exc).__name__}: {exc}", source, filename)
        raise ValidationFailedError(f"{filename}: cannot read the file ({detail}); "
                                    "check that it is complete and of the declared type") from exc
    return mimetype, *storable(metadata, entry)


def storable(metadata: dict[str, Any], entry: DicomIndexEntry | None) -> tuple[dict[str, Any], DicomIndexEntry | None]:
    """The metadata and DICOM index entry read from a file, made storable on every backend
    (:func:`~datamint.server.common.values.storable_json`: NUL padding dropped, NaN header fields
    as null): a file's odd header never makes its upload fail, nor a later listing."""
    if entry is not None:
        entry = dataclasses.replace(entry, study=storable_json(entry.study), series=storable_json(entry.series),
                                    instance=storable_json(entry.instance))
    return storable_json(metadata), entry


def _client_named(message: str, source: str | BinaryIO, filename: str) -> str:
    """``message`` with the spool file's path (or its bare name) replaced by the name the client
    gave the file."""
    if not isinstance(source, str):
        return message
    return message.replace(source, filename).replace(os.path.basename(source), filename)


@contextlib.contextmanager
def serialized_writes(session: Session) -> Iterator[None]:
    """Queue this process's SQLite write transactions on a lock.

    SQLite has one writer at a time and makes the others wait in a busy handler that sleeps for
    milliseconds between retries; under concurrent uploads that sleeping, not the writes, was most
    of the upload time. A plain lock hands the writer slot over at once. PostgreSQL needs no lock.
    """
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITES:
        yield


def ingest(session: Session, store: BlobStore, me: Principal, received: ReceivedFile,
           form: UploadForm) -> dict[str, Any]:
    """Check an uploaded file, store it and commit its resource row (see the module docstring).

    The database connection goes back to the pool while the file is checked and stored.

    Returns:
        The wire dict of the committed resource (built without further queries).

    Raises:
        AppError: A 4xx describing what is wrong with the request or the file; nothing is kept.
    """
    policy.require(me, policy.Action.RESOURCES_UPLOAD)
    filename = check_filename(form.filename)
    channel = one_line(form.channel, "channel", 300) or ""
    modality = one_line(form.modality, "modality", 64)
    source_filepath = one_line(form.source_filepath, "source_filepath", 1024)
    mechanism = one_line(form.source, "source", 20) or "api"
    tags = clean_tags(form.tags)
    user_metadata = parse_user_metadata(form.metadata)
    project = membership.managed_project(session, me, form.project_id) if form.project_id else None
    on_duplicate = duplicates.check_policy(form.on_duplicate)
    declared = duplicates.check_declared(form.source_sha256)
    idem_key = idempotency.check_key(form.idempotency_key)
    original_sha256 = received.sha256 if idem_key else ""
    request_sha256 = idempotency.request_fingerprint(dict(
        filename=filename, mimetype=form.declared_mimetype, source_filepath=source_filepath, channel=channel,
        modality=modality, publish=form.publish, tags=tags, metadata=user_metadata,
        project_id=project.id if project else None, anonymize=form.anonymize, on_duplicate=on_duplicate,
        source_sha256=declared, source=mechanism)) if idem_key else ""
    if idem_key is not None and (used := idempotency.find(session, me, idem_key)) is not None:
        return idempotency.replay(session, me, used, original_sha256, request_sha256)  # a retry: nothing stored
    names = uploader_names(session, me)  # for the answer, read while the user authenticated is at hand
    session.commit()  # ends the read transaction: no connection is held during the checks below
    if received.size == 0:
        raise ValidationFailedError(f"{filename}: the file is empty (0 bytes); upload the complete file")
    if received.path is not None:
        mimetype, metadata, entry = analyse(received.path, filename, form.declared_mimetype)
    else:
        with received.open() as reader:
            mimetype, metadata, entry = analyse(reader, filename, form.declared_mimetype)
    if form.anonymize and mimetype == DICOM:
        declared = declared or received.sha256  # duplicates are found by the original's content
        received, metadata, entry, laterality = deidentify.anonymized(received, form.anonymize_key)
        metadata, entry = storable(metadata, entry)
        tags = clean_tags([*tags, *laterality])
    size = received.size
    content_sha256 = received.sha256
    earlier = duplicates.find(session, me, content_sha256, declared)
    earlier_id = earlier.id if earlier is not None else None
    session.commit()
    if earlier is not None and on_duplicate == "skip":
        return _reuse(session, me, earlier, project)
    resource_id = new_id()
    key = blob_key(me.customer_id, resource_id)
    with serialized_writes(session):
        session.execute(insert(UploadIntent), {"id": resource_id, "customer_id": me.customer_id, "blob_key": key,
                                               "started_at": utcnow()})  # parameters: compiled once
        session.commit()
    try:
        store_received(store, key, received)
        now = utcnow()
        values = dict(
            id=resource_id, customer_id=me.customer_id, storage=storage_for(mimetype), location=key,
            filename=filename, mimetype=mimetype, size=size, status="published" if form.publish else "inbox",
            modality=modality or short_text(metadata.get("Modality")), file_metadata={**user_metadata, **metadata},
            source_filepath=source_filepath, upload_channel=channel, upload_mechanism=mechanism,
            created_at=now, created_by=me.email, created_by_id=me.user_id, published=form.publish,
            published_on=now if form.publish else None, published_by=me.email if form.publish else None,
            deleted=False, deleted_at=None, deleted_by=None, instance_uid=short_text(metadata.get("SOPInstanceUID")),
            series_uid=short_text(metadata.get("SeriesInstanceUID")),
            study_uid=short_text(metadata.get("StudyInstanceUID")),
            patient_id=short_text(metadata.get("PatientID")), content_sha256=content_sha256, source_sha256=declared,
        )
        with serialized_writes(session):
            if on_duplicate == "skip":
                duplicates.lock(session, me, [content_sha256, declared])
                if (found := duplicates.find(session, me, content_sha256, declared)) is not None:
                    raise _AlreadyThere(found.id)
            session.execute(insert(Resource), [values])
            recorder.note_created(session, "resource", [resource_id])
            if idem_key is not None:  # the unique (user, key) lets one request with this key commit
                try:
                    idempotency.record(session, me, idem_key, original_sha256, request_sha256, resource_id,
                                       earlier_id)
                except IntegrityError:
                    raise _KeyUsed() from None
            if tags:
                repo.insert_tags(session, resource_id, tags)
            if project is not None:
                repo.add_to_project(session, project.id, [resource_id], me.email)
            if entry is not None:
                dicom_index.add(session, me.customer_id, resource_id, entry)
            session.execute(delete(UploadIntent).where(UploadIntent.id == resource_id))
            session.commit()
    except _KeyUsed:  # a request with the same Idempotency-Key committed while this one was stored
        discard(session, store, resource_id, key)
        used = idempotency.find(session, me, idem_key or "")
        if used is None:
            raise ConflictError("Another upload with this Idempotency-Key was being stored at the same time; "
                                "retry with the same key") from None
        return idempotency.replay(session, me, used, original_sha256, request_sha256)
    except _AlreadyThere as found:  # an identical upload committed while this one was stored
        discard(session, store, resource_id, key)
        return _reuse(session, me, repo.get_resource(session, me.customer_id, found.resource_id), project)
    except BaseException:
        discard(session, store, resource_id, key)
        raise
    projects = [{"id": project.id, "name": project.name}] if project else []
    result = wire.new_resource_to_wire(values, tags, projects, names)  # from the values inserted: no query
    return {**result, "duplicate_of": earlier_id}


def uploader_names(session: Session, me: Principal) -> dict[str, str]:
    """The uploader's names, as the wire dicts of the new resources show them (the user row is in
    the session since authentication: no query while it is not expired by a commit)."""
    user = session.get(User, me.user_id)
    return {"firstname": user.firstname, "lastname": user.lastname} if user else {}


def _reuse(session: Session, me: Principal, resource: Resource | None, project: Any) -> dict[str, Any]:
    """The answer of a skipped duplicate: the existing resource, added to the upload's project."""
    if resource is None:  # deleted for good in between: vanishingly rare, and safe to retry
        raise ConflictError("The resource this upload duplicates was just removed; upload again")
    if project is not None:
        with serialized_writes(session):
            try:
                with session.begin_nested():
                    repo.add_to_project(session, project.id, [resource.id], me.email)
            except IntegrityError:  # an identical upload added it at the same moment
                pass
            session.commit()
    return {**wire.to_wire(session, resource), "duplicate_of": resource.id}


def short_text(value: Any) -> str | None:
    """A metadata value as an indexed column's text (stripped, at most 128 characters; empty: None)."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:128] or None


def discard(session: Session, store: BlobStore, resource_id: str, key: str) -> None:
    """Delete the blob and the intent of an upload whose resource row was not committed."""
    try:
        session.rollback()
        store.delete(key)
        with serialized_writes(session):  # a bulk statement: housekeeping, not an audited change
            session.execute(delete(UploadIntent).where(UploadIntent.id == resource_id))
            session.commit()
    except Exception:  # the janitor retries later
        session.rollback()
        _LOG.exception("could not clean up the failed upload %s; the janitor will retry", resource_id)

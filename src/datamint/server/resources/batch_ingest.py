"""Batch uploads (``POST /resources/batch``): many files in one request, one resource per file.

The SDK sends the files of ``upload_resources(assemble_dicoms=False)`` this way: one request,
one authentication, one idempotency lookup, one duplicate lookup, one intent commit and one insert
commit per batch instead of per file. Each file keeps the guarantees of ``POST /resources``
(:mod:`.ingest`) on its own:

* **all or nothing per file**: a file that fails its checks (not the declared type, truncated,
  too large once decoded, bad form values) gets its own error in the answer and leaves nothing
  behind; the other files of the batch are stored.
* **crash safety**: every blob is written after its :class:`~.models.UploadIntent` committed
  (one commit for the batch's intents, ``unit_of_work.commit_early``: the documented exception),
  and the resource rows and the intents' deletion commit together; a crash in between leaves
  intents the janitor clears with their blobs.
* **idempotency**: each file carries its own ``idempotency_key`` (the SDK makes one per file and
  repeats it when it retries the batch); a key already used answers with the resource it created
  and stores nothing, exactly as the ``Idempotency-Key`` header of the one-file route does.
* **duplicates** (``on_duplicate``): as for one file; two files of one batch with the same
  content count as an earlier and a later upload.
* **audit**: the request writes one audit event listing the resources (and their tags and
  project links) it created.

The rows are inserted with Core statements, several rows per statement (no ORM objects on the
insert path). If the batch's insert transaction meets a constraint (another request committed the
same idempotency key meanwhile), it is rolled back and the files are inserted one by one, each in
its own transaction, so one file's conflict never costs the others.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datamint.imaging.dicom_header import DicomIndexEntry
from datamint.imaging.sniff import DICOM
from datamint.server import policy
from datamint.server.audit import recorder
from datamint.server.auth.service import Principal
from datamint.server.common.values import parse_json
from datamint.server.db import locks, unit_of_work
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import AppError, ConflictError, ValidationFailedError
from datamint.server.resources import deidentify, dicom_index, duplicates, idempotency, membership, wire
from datamint.server.resources.ingest import (
    analyse,
    blob_key,
    check_filename,
    discard,
    one_line,
    parse_user_metadata,
    serialized_writes,
    short_text,
    storable,
    uploader_names,
)
from datamint.server.resources.models import (
    DicomInstance,
    DicomSeries,
    DicomStudy,
    ProjectResource,
    Resource,
    ResourceTag,
    UploadIdempotency,
    UploadIntent,
)
from datamint.server.resources.receive import MAX_BATCH_FILES, ReceivedFile, store_many
from datamint.server.resources.service import clean_tags
from datamint.server.resources.wire import storage_for
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.resources")

#: Largest manifest (the ``files`` field), in bytes.
MAX_MANIFEST_BYTES = 2 << 20
#: The per-file keys of a manifest entry.
_SPEC_KEYS = frozenset({"mimetype", "source_filepath", "modality", "tags", "metadata", "source_sha256",
                        "idempotency_key"})


@dataclass
class BatchFileSpec:
    """What the manifest says about one file (the per-file fields of ``POST /resources``)."""

    mimetype: str | None = None
    source_filepath: str | None = None
    modality: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: str | None = None
    source_sha256: str | None = None
    idempotency_key: str | None = None


@dataclass
class BatchForm:
    """The fields of ``POST /resources/batch`` shared by every file, and the per-file manifest."""

    channel: str | None = None
    modality: str | None = None
    publish: bool = False
    tags: list[str] = field(default_factory=list)
    project_id: str | None = None
    source: str | None = None
    anonymize: bool = False
    anonymize_key: str | None = None
    on_duplicate: str | None = None
    manifest: str | None = None


@dataclass
class _Item:
    """One file of the batch on its way through the steps."""

    index: int
    received: ReceivedFile
    spec: BatchFileSpec
    filename: str = ""
    tags: list[str] = field(default_factory=list)
    user_metadata: dict[str, Any] = field(default_factory=dict)
    declared: str | None = None
    idem_key: str | None = None
    original_sha256: str = ""
    request_sha256: str = ""  # with a key: the fingerprint of the file's other fields
    mimetype: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    entry: DicomIndexEntry | None = None
    earlier_id: str | None = None
    resource_id: str = ""
    key: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    status: int = 201
    reuse: Resource | None = None  # skip: the copy that committed while this file was stored
    twin: _Item | None = None  # skip: the earlier file of this batch with the same content

    @property
    def pending(self) -> bool:
        """Whether the file still goes on (no answer and no error yet)."""
        return self.answer is None


def parse_manifest(raw: str | None, count: int) -> list[BatchFileSpec]:
    """The per-file options: a JSON array with one object per file part, in the parts' order
    (absent: no per-file options). 422 when it is not such an array."""
    if raw in (None, ""):
        return [BatchFileSpec() for _ in range(count)]
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise ValidationFailedError(f"The files manifest is larger than {MAX_MANIFEST_BYTES >> 20} MiB; "
                                    "send fewer files per batch")
    value = parse_json(raw, "files")  # the edge rules: no NaN/Infinity, NUL, lone surrogates, deep nesting
    if not isinstance(value, list) or len(value) != count:
        raise ValidationFailedError(f"The files manifest must be a JSON array with one object per file part "
                                    f"({count} files were sent)")
    specs = []
    for position, entry in enumerate(value):
        if not isinstance(entry, dict) or not set(entry) <= _SPEC_KEYS:
            raise ValidationFailedError(f"files[{position}] must be an object with some of the keys "
                                        f"{sorted(_SPEC_KEYS)}")
        tags = entry.get("tags") or []
        if isinstance(tags, str):
            tags = tags.split(",")
        metadata = entry.get("metadata")
        if metadata is not None and not isinstance(metadata, str):
            metadata = json.dumps(metadata, allow_nan=False)
        texts = {k: entry.get(k) for k in ("mimetype", "source_filepath", "modality", "source_sha256",
                                          "idempotency_key")}
        if not isinstance(tags, list) or any(not isinstance(t, str) for t in tags) \
                or any(not isinstance(v, (str, type(None))) for v in texts.values()):
            raise ValidationFailedError(f"files[{position}]: tags must be a list of strings, the other keys strings")
        specs.append(BatchFileSpec(tags=list(tags), metadata=metadata, **texts))
    return specs


def _failed(item: _Item, error: AppError) -> None:
    item.status = error.status_code
    item.answer = {"code": error.code, "message": error.message,
                   **({"details": error.details} if error.details is not None else {})}


def ingest_batch(session: Session, store: BlobStore, me: Principal, files: list[ReceivedFile],
                 form: BatchForm) -> list[dict[str, Any]]:
    """Check, store and record every file of a batch upload (see the module docstring).

    Returns:
        One entry per file part, in order: ``{"index", "status": 201, "resource": {...}}`` (stored),
        ``{"index", "status": 200, "resource": {...}}`` (a repeat of an earlier upload: its
        idempotency key was used, or ``on_duplicate=skip`` found the same content) or
        ``{"index", "status": 4xx, "error": {"code", "message"}}`` (nothing kept of that file).

    Raises:
        AppError: The batch itself is refused (a shared field is wrong, the project is not
            yours to manage, the manifest does not match the files); nothing is stored.
    """
    policy.require(me, policy.Action.RESOURCES_UPLOAD)
    if len(files) > MAX_BATCH_FILES:
        raise ValidationFailedError(f"A batch holds at most {MAX_BATCH_FILES} files; {len(files)} were sent")
    channel = one_line(form.channel, "channel", 300) or ""
    modality = one_line(form.modality, "modality", 64)
    mechanism = one_line(form.source, "source", 20) or "api"
    shared_tags = clean_tags(form.tags)
    on_duplicate = duplicates.check_policy(form.on_duplicate)
    specs = parse_manifest(form.manifest, len(files))
    project = membership.managed_project(session, me, form.project_id) if form.project_id else None
    items = [_Item(i, received, spec) for i, (received, spec) in enumerate(zip(files, specs, strict=True))]
    _check_fields(items, shared_tags)
    for item in items:
        if item.pending and item.idem_key is not None:  # the names and values of POST /resources
            item.request_sha256 = idempotency.request_fingerprint(dict(
                filename=item.filename, mimetype=item.spec.mimetype or item.received.content_type,
                source_filepath=item.spec.source_filepath, channel=channel, modality=item.spec.modality or modality,
                publish=form.publish, tags=item.tags, metadata=item.user_metadata,
                project_id=project.id if project else None, anonymize=form.anonymize, on_duplicate=on_duplicate,
                source_sha256=item.declared, source=mechanism))
    _replay_used_keys(session, me, items)
    session.commit()  # ends the read transaction: no connection is held while the files are checked
    for item in items:
        if item.pending:
            _analyse(item, form)
    _find_duplicates(session, me, items, on_duplicate, project)
    names = uploader_names(session, me)  # read with the duplicates, not in a transaction of its own
    session.commit()
    stored = [item for item in items if item.pending]
    if stored:
        _store(session, store, me, stored)
        stored = [item for item in stored if item.pending]
    if not stored:
        return [_entry(item) for item in items]
    now = utcnow()
    for item in stored:
        item.values = _resource_values(me, item, channel, modality, mechanism, form.publish, now)
    try:
        with serialized_writes(session):
            _insert(session, me, stored, project, on_duplicate)
            session.commit()
    except (IntegrityError, AppError):  # a key committed meanwhile, or one file's values: file by file
        session.rollback()
        for item in stored:
            item.status, item.answer, item.reuse, item.twin = 201, None, None, None
            _insert_alone(session, store, me, item, project, on_duplicate)
    except BaseException:
        for item in stored:
            discard(session, store, item.resource_id, item.key)
        raise
    _after_insert(session, store, me, stored, project, names)
    return [_entry(item) for item in items]


def _check_fields(items: list[_Item], shared_tags: list[str]) -> None:
    """The per-file form values (file name, texts, tags, metadata, hashes, keys); a wrong one fails
    its file only. A key used twice in one batch fails the later file."""
    seen_keys: set[str] = set()
    for item in items:
        spec = item.spec
        try:
            item.filename = check_filename(item.received.filename)
            spec.source_filepath = one_line(spec.source_filepath, "source_filepath", 1024)
            spec.modality = one_line(spec.modality, "modality", 64)
            item.tags = clean_tags([*shared_tags, *spec.tags])
            item.user_metadata = parse_user_metadata(spec.metadata)
            item.declared = duplicates.check_declared(spec.source_sha256)
            item.idem_key = idempotency.check_key(spec.idempotency_key)
            if item.idem_key is not None:
                if item.idem_key in seen_keys:
                    raise ValidationFailedError("This idempotency_key is used by another file of the batch; "
                                                "give each file a key of its own")
                seen_keys.add(item.idem_key)
                item.original_sha256 = item.received.sha256
            if item.received.size == 0:
                raise ValidationFailedError(f"{item.filename}: the file is empty (0 bytes); upload the complete file")
        except AppError as error:
            _failed(item, error)


def _replay_used_keys(session: Session, me: Principal, items: list[_Item]) -> None:
    """Answer the files whose idempotency key already created a resource (one query)."""
    keyed = {item.idem_key: item for item in items if item.pending and item.idem_key is not None}
    if not keyed:
        return
    rows = session.scalars(select(UploadIdempotency).where(UploadIdempotency.user_id == me.user_id,
                                                           UploadIdempotency.idem_key.in_(list(keyed))))
    for row in rows:
        item = keyed[row.idem_key]
        try:
            _replayed(item, idempotency.replay(session, me, row, item.original_sha256, item.request_sha256))
        except AppError as error:
            _failed(item, error)


def _replayed(item: _Item, answer: dict[str, Any]) -> None:
    """Answer a file with what its key's first upload answered (200 when that skipped a duplicate)."""
    item.answer, item.status = answer, 200 if answer.get("duplicate_of") == answer.get("id") else 201


def _analyse(item: _Item, form: BatchForm) -> None:
    """Sniff, check and read one file (one parse for a DICOM instance), de-identify it if asked."""
    try:
        received = item.received
        declared_type = item.spec.mimetype or received.content_type
        if received.path is not None:
            item.mimetype, item.metadata, item.entry = analyse(received.path, item.filename, declared_type)
        else:
            with received.open() as reader:
                item.mimetype, item.metadata, item.entry = analyse(reader, item.filename, declared_type)
        if form.anonymize and item.mimetype == DICOM:
            item.declared = item.declared or received.sha256  # duplicates are found by the original's content
            anonymous, item.metadata, item.entry, laterality = deidentify.anonymized(received, form.anonymize_key)
            received.discard()
            item.received = anonymous
            item.metadata, item.entry = storable(item.metadata, item.entry)
            item.tags = clean_tags([*item.tags, *laterality])
    except AppError as error:
        _failed(item, error)


def _find_duplicates(session: Session, me: Principal, items: list[_Item], on_duplicate: str,
                     project: Any) -> None:
    """Set each pending file's earlier copy (one query for the batch); with ``skip``, answer the
    files that have one with it."""
    pending = [item for item in items if item.pending]
    if not pending or not policy.allowed(me, policy.Action.RESOURCES_READ):
        return
    earlier = _earlier_copies(session, me, pending)
    reused: list[str] = []
    for item in pending:
        found = earlier.get(item.received.sha256) or (earlier.get(("declared", item.declared))
                                                      if item.declared else None)
        if found is None:
            continue
        item.earlier_id = found.id
        if on_duplicate == "skip":
            item.answer, item.status = {**wire.to_wire(session, found), "duplicate_of": found.id}, 200
            reused.append(found.id)
    if reused and project is not None:
        _add_existing_to_project(session, me, project, reused)


def _earlier_copies(session: Session, me: Principal, items: list[_Item]) -> dict[Any, Resource]:
    """The oldest live resource of the organization per content hash (``sha``) and per declared
    original hash of the caller's own uploads (``("declared", sha)``)."""
    hashes = sorted({item.received.sha256 for item in items})
    declared = sorted({item.declared for item in items if item.declared})
    found: dict[Any, Resource] = {}
    order = (Resource.created_at, Resource.id)
    base = select(Resource).where(Resource.customer_id == me.customer_id, Resource.deleted.is_(False))
    for start in range(0, len(hashes), 500):
        for row in session.scalars(base.where(Resource.content_sha256.in_(hashes[start:start + 500])).order_by(*order)):
            found.setdefault(row.content_sha256, row)
    for start in range(0, len(declared), 500):
        query = base.where(Resource.source_sha256.in_(declared[start:start + 500]),
                           Resource.created_by_id == me.user_id).order_by(*order)
        for row in session.scalars(query):
            key = ("declared", row.source_sha256)
            if key not in found or (row.created_at, row.id) < (found[key].created_at, found[key].id):
                found[key] = row
    for item in items:  # a declared match older than the content match wins, as in repo.find_same_content
        by_content, by_declared = found.get(item.received.sha256), found.get(("declared", item.declared))
        if by_content is not None and by_declared is not None and \
                (by_declared.created_at, by_declared.id) < (by_content.created_at, by_content.id):
            found[item.received.sha256] = by_declared
    return found


def _add_existing_to_project(session: Session, me: Principal, project: Any, resource_ids: list[str]) -> None:
    with serialized_writes(session):
        existing = set(session.scalars(select(ProjectResource.resource_id).where(
            ProjectResource.project_id == project.id, ProjectResource.resource_id.in_(resource_ids))))
        new = [rid for rid in dict.fromkeys(resource_ids) if rid not in existing]
        if new:
            try:
                with session.begin_nested():
                    session.execute(insert(ProjectResource), [
                        {"project_id": project.id, "resource_id": rid, "added_by": me.email} for rid in new])
            except IntegrityError:  # an identical upload added one at the same moment
                pass
            recorder.note_created(session, "project_resource", (f"{project.id}:{rid}" for rid in new))
        session.commit()


def _store(session: Session, store: BlobStore, me: Principal, items: list[_Item]) -> None:
    """Commit the batch's intents (one statement), then write every blob, several at once
    (:func:`receive.store_many`); a blob that cannot be written fails its file and leaves nothing."""
    now = utcnow()
    for item in items:
        item.resource_id = new_id()
        item.key = blob_key(me.customer_id, item.resource_id)
    with serialized_writes(session):
        session.execute(insert(UploadIntent), [{"id": item.resource_id, "customer_id": me.customer_id,
                                                "blob_key": item.key, "started_at": now} for item in items])
        unit_of_work.commit_early(session)
    for item, exc in zip(items, store_many(store, [(item.key, item.received) for item in items]), strict=True):
        if exc is not None:  # reported per file; the others go on
            _LOG.error("could not store the blob of %s", item.filename, exc_info=exc)
            discard(session, store, item.resource_id, item.key)
            _failed(item, AppError(f"{item.filename}: the file could not be stored ({type(exc).__name__}); "
                                   "upload it again", status_code=503))


def _resource_values(me: Principal, item: _Item, channel: str, modality: str | None, mechanism: str,
                     publish: bool, now: Any) -> dict[str, Any]:
    metadata = item.metadata
    return dict(
        id=item.resource_id, customer_id=me.customer_id, storage=storage_for(item.mimetype), location=item.key,
        filename=item.filename, mimetype=item.mimetype, size=item.received.size,
        status="published" if publish else "inbox",
        modality=item.spec.modality or modality or short_text(metadata.get("Modality")),
        file_metadata={**item.user_metadata, **metadata}, source_filepath=item.spec.source_filepath,
        upload_channel=channel, upload_mechanism=mechanism, created_at=now, created_by=me.email,
        created_by_id=me.user_id, published=publish, published_on=now if publish else None,
        published_by=me.email if publish else None, deleted=False, deleted_at=None, deleted_by=None,
        instance_uid=short_text(metadata.get("SOPInstanceUID")),
        series_uid=short_text(metadata.get("SeriesInstanceUID")),
        study_uid=short_text(metadata.get("StudyInstanceUID")), patient_id=short_text(metadata.get("PatientID")),
        content_sha256=item.received.sha256, source_sha256=item.declared,
    )


def _insert(session: Session, me: Principal, items: list[_Item], project: Any, on_duplicate: str) -> None:
    """Insert the rows of ``items`` and delete their intents, in the caller's transaction (several
    rows per statement). With ``skip``, the duplicate check runs again under the content locks:
    files whose copy committed meanwhile, or that repeat an earlier file of the batch, get status
    200 and no row (:func:`_after_insert` answers them and removes their blobs)."""
    if on_duplicate == "skip":
        _skip_late_duplicates(session, me, items)
    else:
        _link_duplicates_within(items)
    rows = [item for item in items if item.status == 201]
    if rows:
        session.execute(insert(Resource), [item.values for item in rows])
        recorder.note_created(session, "resource", (item.resource_id for item in rows))
        keyed = sorted((item for item in rows if item.idem_key is not None), key=lambda item: item.idem_key or "")
        if keyed:  # the unique (user, key) lets one request with a key commit; in key order, as _index
            session.execute(insert(UploadIdempotency), [
                {"id": new_id(), "user_id": me.user_id, "idem_key": item.idem_key, "content_sha256":
                 item.original_sha256, "request_sha256": item.request_sha256, "resource_id": item.resource_id,
                 "duplicate_of": item.earlier_id, "created_at": item.values["created_at"]} for item in keyed])
        tags = [{"resource_id": item.resource_id, "tag": tag, "position": i}
                for item in rows for i, tag in enumerate(item.tags)]
        if tags:
            session.execute(insert(ResourceTag), tags)
            recorder.note_created(session, "resource_tag", (f"{t['resource_id']}:{t['tag']}" for t in tags))
        if project is not None:
            session.execute(insert(ProjectResource), [{"project_id": project.id, "resource_id": item.resource_id,
                                                       "added_by": me.email} for item in rows])
            recorder.note_created(session, "project_resource", (f"{project.id}:{item.resource_id}" for item in rows))
        _index(session, me, [item for item in rows if item.entry is not None])
    session.execute(delete(UploadIntent).where(UploadIntent.id.in_([item.resource_id for item in items])))


def _link_duplicates_within(items: list[_Item]) -> None:
    """``keep``: a file with the content of an earlier file of the batch names it in ``duplicate_of``."""
    first: dict[Any, str] = {}
    for item in items:
        if item.earlier_id is None:
            item.earlier_id = first.get(item.received.sha256) or (first.get(("declared", item.declared))
                                                                  if item.declared else None)
        first.setdefault(item.received.sha256, item.resource_id)
        if item.declared:
            first.setdefault(("declared", item.declared), item.resource_id)


def _skip_late_duplicates(session: Session, me: Principal, items: list[_Item]) -> None:
    """``skip``: under the content locks, find the files whose copy committed since the first
    check (``reuse``: that resource) or that repeat an earlier file of this batch (``twin``)."""
    duplicates.lock(session, me, [h for item in items for h in (item.received.sha256, item.declared)])
    earlier = _earlier_copies(session, me, items) if policy.allowed(me, policy.Action.RESOURCES_READ) else {}
    first: dict[Any, _Item] = {}
    for item in items:
        found = earlier.get(item.received.sha256) or (earlier.get(("declared", item.declared))
                                                      if item.declared else None)
        twin = first.get(item.received.sha256) or (first.get(("declared", item.declared)) if item.declared else None)
        if found is not None:
            item.status, item.reuse = 200, found
        elif twin is not None:
            item.status, item.twin = 200, twin
        else:
            first.setdefault(item.received.sha256, item)
            if item.declared:
                first.setdefault(("declared", item.declared), item)


def _index(session: Session, me: Principal, items: list[_Item]) -> None:
    """The DICOM index rows of the batch's instances (studies and series once each).

    Study and series rows are shared: another upload of the same study may be inserting them
    at the same moment, and an insert waits for an uncommitted row of the same key. So they are
    inserted in the order of their keys (:func:`dicom_index.in_key_order`), the same in every
    transaction; in the files' order, two batches holding each other's rows would deadlock.
    """
    if not items:
        return
    studies: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    for item in items:
        assert item.entry is not None
        studies.setdefault(item.entry.study["study_uid"], {"customer_id": me.customer_id, **item.entry.study})
        series.setdefault(item.entry.series["series_uid"], {"customer_id": me.customer_id, **item.entry.series})
    session.execute(dicom_index.insert_ignoring_existing(session, DicomStudy), dicom_index.in_key_order(studies))
    session.execute(dicom_index.insert_ignoring_existing(session, DicomSeries), dicom_index.in_key_order(series))
    session.execute(insert(DicomInstance), [
        {"resource_id": item.resource_id, "customer_id": me.customer_id, "header": item.entry.header,
         **item.entry.instance} for item in items if item.entry is not None])


def _insert_alone(session: Session, store: BlobStore, me: Principal, item: _Item, project: Any,
                  on_duplicate: str) -> None:
    """Insert one file of a batch whose common transaction failed, in a transaction of its own.

    With ``keep``, the earlier copy it names (``duplicate_of``) is looked up again in this
    transaction: the batch's own earlier file of the same content it named before may never have
    been stored (its insert failed too), while one stored alone before it is found like any other.
    """
    try:
        with serialized_writes(session):
            if on_duplicate == "keep":
                item.earlier_id = _earliest_copy(session, me, item)
            _insert(session, me, [item], project, on_duplicate)
            session.commit()
    except IntegrityError:
        discard(session, store, item.resource_id, item.key)
        used = idempotency.find(session, me, item.idem_key) if item.idem_key else None
        if used is None:
            _failed(item, ConflictError(f"{item.filename}: another upload of this file was being stored at the "
                                        "same time; send it again"))
            return
        try:
            _replayed(item, idempotency.replay(session, me, used, item.original_sha256, item.request_sha256))
        except AppError as error:
            _failed(item, error)
    except AppError as error:
        discard(session, store, item.resource_id, item.key)
        _failed(item, error)


def _earliest_copy(session: Session, me: Principal, item: _Item) -> str | None:
    """The id of the live resource ``item`` duplicates now (as :func:`_find_duplicates` finds it),
    read under the write lock on SQLite; ``None`` when there is none or the caller may not see it."""
    if not policy.allowed(me, policy.Action.RESOURCES_READ):
        return None
    locks.write_lock(session)  # SQLite: read the latest state in the transaction that writes
    found = _earlier_copies(session, me, [item])
    copy = found.get(item.received.sha256) or (found.get(("declared", item.declared)) if item.declared else None)
    return copy.id if copy is not None else None


def _after_insert(session: Session, store: BlobStore, me: Principal, items: list[_Item], project: Any,
                  names: dict[str, str]) -> None:
    """After the commit: the wire dicts of the new resources (from their values and the uploader's
    ``names``, no query); the answers of the files a ``skip`` found a copy for, whose blobs go."""
    projects = [{"id": project.id, "name": project.name}] if project else []
    for item in items:
        if item.status == 201 and item.answer is None:
            item.answer = {**wire.new_resource_to_wire(item.values, item.tags, projects, names),
                           "duplicate_of": item.earlier_id}
    reused: list[str] = []
    for item in items:
        if item.status != 200 or item.answer is not None:
            continue
        store.delete(item.key)  # its intent went with the batch's insert transaction
        if item.reuse is not None:
            item.answer = {**wire.to_wire(session, item.reuse), "duplicate_of": item.reuse.id}
            reused.append(item.reuse.id)
        elif item.twin is not None and item.twin.answer is not None and item.twin.status == 201:
            item.answer = {**item.twin.answer, "duplicate_of": item.twin.resource_id}
        else:
            _failed(item, ConflictError(f"{item.filename}: the resource this file duplicates could not be "
                                        "stored; send it again"))
    if reused and project is not None:
        _add_existing_to_project(session, me, project, reused)
    session.commit()


def _entry(item: _Item) -> dict[str, Any]:
    if item.status >= 400:
        return {"index": item.index, "status": item.status, "error": item.answer}
    return {"index": item.index, "status": item.status, "resource": item.answer}

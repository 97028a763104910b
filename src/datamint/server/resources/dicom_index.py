"""SQL of the DICOM index: rows written at upload, headers turned into DICOM JSON on first read.

Tables in :mod:`datamint.server.resources.models` (``DicomStudy``, ``DicomSeries``,
``DicomInstance``). An upload adds its instance row and, unless they exist, its study and series
rows (``INSERT ... ON CONFLICT DO NOTHING``, so sixteen uploads of one series at once create one
series row and never a conflict error; a batch inserts its rows in key order, so two batches sharing
studies never deadlock). Deleting a resource hides its instance from every
query (they join ``resources`` on ``deleted``); studies and series without a live instance are
not listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from datamint.imaging.dicom_header import DicomIndexEntry, header_to_json, index_entry
from datamint.imaging.dicom_io import read_dicom
from datamint.imaging.errors import ImagingError
from datamint.imaging.sniff import DICOM
from datamint.server.resources.frames import local_copy
from datamint.server.resources.models import DicomInstance, DicomSeries, DicomStudy, Resource
from datamint.server.storage.base import BlobNotFoundError


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


def insert_ignoring_existing(session: Session, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` for the session's database (study and
    series rows: the first instance's values stay); execute it with one or many rows."""
    return _insert(session, table).on_conflict_do_nothing()


def in_key_order(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The study or series rows of one organization (``{uid: row}``) in the order of their unique
    key (customer, uid): every transaction that inserts several of them takes their locks in one
    order, so two uploads sharing studies never wait for each other in a cycle (a deadlock on
    PostgreSQL). One row per statement, study before series (:func:`add`) needs no sorting."""
    return [rows[uid] for uid in sorted(rows)]


def add(session: Session, customer_id: str, resource_id: str, entry: DicomIndexEntry) -> None:
    """Index one uploaded instance (in the caller's transaction). The statements take their
    values as parameters, so each is compiled once per process and reused."""
    session.execute(insert_ignoring_existing(session, DicomStudy), {"customer_id": customer_id, **entry.study})
    session.execute(insert_ignoring_existing(session, DicomSeries), {"customer_id": customer_id, **entry.series})
    session.execute(insert(DicomInstance), {"resource_id": resource_id, "customer_id": customer_id,
                                            "header": entry.header, **entry.instance})


def instance_path(study_uid: str, series_uid: str, instance_uid: str) -> str:
    """The path of an instance below the DICOMweb root."""
    return f"studies/{study_uid}/series/{series_uid}/instances/{instance_uid}"


def headers_json(rows: Sequence[Row[Any]], load_dataset: Any) -> tuple[list[str], dict[str, str]]:
    """The stored DICOM JSON of each instance row (``resource_id``, uids, ``header_json``...).

    Rows whose JSON was not made yet get it now, from their stored header bytes (or, when the
    upload could not cut them out, from the file, via ``load_dataset(resource_id)``); give the
    texts made to :func:`save_headers_json` so the next request only reads them.

    Args:
        rows: Rows selected with :data:`INSTANCE_COLUMNS`.
        load_dataset: ``(resource_id) -> pydicom Dataset`` for instances without header bytes.

    Returns:
        The texts in the order of ``rows``, and those made now by resource id.
    """
    texts: list[str] = []
    made: dict[str, str] = {}
    for row in rows:
        if row.header_json is not None:
            texts.append(row.header_json)
            continue
        path = instance_path(row.study_uid, row.series_uid, row.instance_uid)
        try:
            source = row.header if row.header is not None else load_dataset(row.resource_id)
            text = header_to_json(source, path, transfer_syntax=row.transfer_syntax_uid)
        except (ImagingError, ValueError, EOFError, OSError) as exc:
            raise RuntimeError(f"cannot read the DICOM header of resource {row.resource_id}: {exc}") from exc
        made[row.resource_id] = text
        texts.append(text)
    return texts, made


def save_headers_json(session: Session, made: dict[str, str]) -> None:
    """Save the texts :func:`headers_json` made (one executemany by primary key). Two requests
    saving the same header at once write the same text to the same row."""
    if made:
        session.execute(update(DicomInstance), [{"resource_id": resource_id, "header_json": text, "header": None}
                                                for resource_id, text in made.items()])


#: The columns :func:`headers_json` needs, plus what WADO-RS needs to find the file.
INSTANCE_COLUMNS = (DicomInstance.resource_id, DicomInstance.study_uid, DicomInstance.series_uid,
                    DicomInstance.instance_uid, DicomInstance.sop_class_uid, DicomInstance.instance_number,
                    DicomInstance.number_of_frames, DicomInstance.rows, DicomInstance.columns,
                    DicomInstance.transfer_syntax_uid, DicomInstance.header, DicomInstance.header_json,
                    Resource.location, Resource.size)


def newest_live() -> ColumnElement[bool]:
    """The condition, for a query joining ``DicomInstance`` to its ``Resource``, that keeps the
    instances QIDO-RS, WADO-RS and C-FIND answer with: live (not deleted) and, of the live
    resources holding one SOP Instance UID in the organization (the same instance sent again,
    perhaps corrected), the newest only (latest ``created_at``, then the greatest id)."""
    newer_resource = aliased(Resource)
    newer = aliased(DicomInstance)
    duplicate = exists(select(1).select_from(newer).join(newer_resource, newer_resource.id == newer.resource_id)
                       .where(newer.customer_id == DicomInstance.customer_id,
                              newer.instance_uid == DicomInstance.instance_uid,
                              newer_resource.deleted.is_(False),
                              or_(newer_resource.created_at > Resource.created_at,
                                  and_(newer_resource.created_at == Resource.created_at,
                                       newer_resource.id > Resource.id))))
    return and_(Resource.deleted.is_(False), ~duplicate)


def live_instances(session: Session, customer_id: str, study_uid: str, series_uid: str | None = None,
                   instance_uid: str | None = None, *, with_headers: bool = False) -> Sequence[Row[Any]]:
    """The live (not deleted) instances of a study, series or one instance, in series/instance order.

    Several resources may hold the same SOP Instance UID (the same file uploaded twice, or sent
    again corrected); only the newest of them is returned (:func:`newest_live`, as QIDO-RS).
    """
    columns = INSTANCE_COLUMNS if with_headers else INSTANCE_COLUMNS[:10] + INSTANCE_COLUMNS[12:]
    stmt = (select(*columns).join(Resource, Resource.id == DicomInstance.resource_id)
            .where(DicomInstance.customer_id == customer_id, DicomInstance.study_uid == study_uid, newest_live()))
    if series_uid is not None:
        stmt = stmt.where(DicomInstance.series_uid == series_uid)
    if instance_uid is not None:
        stmt = stmt.where(DicomInstance.instance_uid == instance_uid)
    stmt = stmt.order_by(DicomInstance.series_uid, DicomInstance.instance_number, DicomInstance.instance_uid)
    return session.execute(stmt).all()


def backfill(session: Session, store: Any, batch: int = 200) -> int:
    """Index the DICOM resources that have no index row yet (uploaded before the index existed).

    Reads each such file once from the blob store; files that cannot be read are skipped.
    Commits every ``batch`` resources. Returns how many were indexed.
    """
    missing = (select(Resource.id, Resource.customer_id, Resource.location)
               .where(Resource.mimetype == DICOM, ~exists().where(DicomInstance.resource_id == Resource.id)))
    done = 0
    for resource_id, customer_id, location in session.execute(missing).all():
        try:
            with local_copy(store, location) as path:
                entry = index_entry(read_dicom(path, check=False), path)
        except (ImagingError, BlobNotFoundError, OSError, ValueError):
            continue
        if entry is not None:
            add(session, customer_id, resource_id, entry)
            done += 1
            if done % batch == 0:
                session.commit()
    session.commit()
    return done

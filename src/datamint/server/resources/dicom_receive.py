"""DICOM that arrives over the network (STOW-RS, C-STORE) goes through the upload's ingest path.

Each instance is anonymized first when its organization says so (with the organization's UID
mapper, so the instances of one study keep one new Study Instance UID across requests and
associations), then handed to :func:`datamint.server.resources.ingest.ingest` exactly like a
``POST /resources`` upload: same checks, metadata, DICOM index, crash-safe storing, audit.
C-STORE may assemble the single-frame instances of a series into one multi-frame resource
(:func:`store_series`), as the SDK's ``assemble_dicoms`` does.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy.orm import Session

from datamint.imaging.dicom_anonymize import UidMapper, anonymize_dataset
from datamint.imaging.dicom_assemble import assemble_series, assembled_filename, group_series
from datamint.imaging.dicom_io import number_of_frames, read_dicom, write_dicom_bytes
from datamint.imaging.errors import ImagingError
from datamint.imaging.limits import DecodedSizeError, check_frames
from datamint.imaging.sniff import DICOM
from datamint.server.auth.service import Principal
from datamint.server.common.limits import too_large
from datamint.server.errors import AppError, ValidationFailedError
from datamint.server.resources import ingest
from datamint.server.resources.receive import ReceivedFile
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.resources")


def received_bytes(data: bytes, filename: str) -> ReceivedFile:
    """Bytes of a DICOM file as a received upload."""
    return ReceivedFile(filename, DICOM, buffer=io.BytesIO(data), size=len(data))


def _name(uid: Any) -> str:
    text = "".join(ch for ch in str(uid or "instance") if ch.isalnum() or ch in ".-")[:120]
    return f"{text or 'instance'}.dcm"


def anonymized(received: ReceivedFile, mapper: UidMapper) -> ReceivedFile:
    """A de-identified copy of a received instance (422 when it is not readable DICOM)."""
    try:
        with received.open() as reader:
            ds = read_dicom(reader, check=False)
    except DecodedSizeError as exc:
        raise too_large(exc) from exc
    except ImagingError as exc:
        raise ValidationFailedError(f"cannot read the instance to anonymize it: {exc}") from exc
    anonymize_dataset(ds, uid_map=mapper)
    return received_bytes(write_dicom_bytes(ds), _name(ds.get("SOPInstanceUID")))


def store_instance(session: Session, store: BlobStore, me: Principal, received: ReceivedFile, *,
                   mapper: UidMapper | None, channel: str, project_id: str | None, source: str,
                   filename: str | None = None) -> dict[str, Any]:
    """Anonymize (with ``mapper``) and ingest one instance; the new resource's wire dict.

    Raises:
        AppError: The instance is refused (the reason is the message); nothing is kept.
    """
    if mapper is not None:
        received = anonymized(received, mapper)
        filename = received.filename
    received.filename = filename or received.filename or "instance.dcm"
    form = ingest.UploadForm(filename=received.filename, declared_mimetype=DICOM, channel=channel,
                             project_id=project_id, source=source)
    return ingest.ingest(session, store, me, received, form)


def check_instance(received: ReceivedFile) -> None:
    """The ingest's checks of one received instance, without storing it: C-STORE acknowledges an
    instance it keeps for assembly only once they pass.

    Raises:
        AppError: The ingest would refuse the instance (the reason is the message).
    """
    with received.open() as reader:
        ingest.analyse(reader, received.filename or "instance.dcm", DICOM)


def _assemblable(group: Sequence[Dataset]) -> bool:
    """Whether the series, as one multi-frame object, would be within the decoded-size limits
    (checked from the headers before any pixels are stacked; otherwise its instances are kept apart)."""
    first = group[0]
    try:
        check_frames(rows=int(first.get("Rows") or 0), columns=int(first.get("Columns") or 0),
                     frames=sum(number_of_frames(ds) for ds in group), samples=int(first.get("SamplesPerPixel") or 1),
                     bits=int(first.get("BitsAllocated") or 8), what="the assembled series")
    except (DecodedSizeError, TypeError, ValueError):
        return False
    return True


def store_series(session: Session, store: BlobStore, me: Principal, datasets: Sequence[Dataset], *,
                 mapper: UidMapper | None, channel: str, project_id: str | None, source: str,
                 load: Callable[[Dataset], Dataset] | None = None) -> list[dict[str, Any]]:
    """Assemble the single-frame instances of each series into one resource and ingest it.

    Groups that cannot be assembled (one instance, multi-frame objects, mixed sizes), or whose
    assembled object the ingest refuses, are stored instance by instance. An instance the ingest
    refuses is logged and left out: it never stops the others.

    Args:
        datasets: The instances; with ``load``, their headers only (read without pixel data).
        load: ``(header) -> whole data set``, called for the members of one group when that
            group is stored, so only one group's pixels are in memory at a time.

    Returns:
        The wire dicts of the new resources.
    """
    stored = []
    for headers in group_series(list(datasets)):
        group = [load(ds) for ds in headers] if load is not None else headers
        if mapper is not None:
            for ds in group:
                anonymize_dataset(ds, uid_map=mapper)
        assembled = None
        if len(group) > 1 and _assemblable(group):
            try:
                assembled = assemble_series(group)
            except ImagingError:
                assembled = None
        if assembled is not None:
            name = assembled_filename(assembled)
            try:
                stored.append(store_instance(session, store, me, received_bytes(write_dicom_bytes(assembled), name),
                                             mapper=None, channel=channel, project_id=project_id, source=source,
                                             filename=name))
                continue
            except AppError as exc:
                session.rollback()
                _LOG.warning("series %s refused assembled (%s); storing its %d instances one by one",
                             group[0].get("SeriesInstanceUID"), exc.message, len(group))
        for ds in group:
            name = _name(ds.get("SOPInstanceUID"))
            try:
                stored.append(store_instance(session, store, me, received_bytes(write_dicom_bytes(ds), name),
                                             mapper=None, channel=channel, project_id=project_id, source=source,
                                             filename=name))
            except AppError as exc:
                session.rollback()
                _LOG.warning("instance %s refused: %s", ds.get("SOPInstanceUID"), exc.message)
    return stored

"""``POST /resources/series``: a folder of DICOM files in, one resource per series out.

The SDK's ``upload_resources`` groups the single-frame instances of a series and assembles them
into one multi-frame object before it sends (``assemble_dicoms=True``), so a 250-slice CT becomes
one resource a viewer scrolls through. A browser cannot run pydicom, so the web app sends the
whole folder in one request and the server does the same work with the same code
(:func:`datamint.imaging.dicom_assemble.group_series` and ``assemble_series``), after de-identifying
every instance with one mapper when asked (the PS3.15 profile of :mod:`.deidentify`, so a series
keeps one new Series Instance UID). Each resulting object then goes through the upload's ingest
path, exactly like a ``POST /resources`` upload.

Every file must be DICOM: one that is not makes the request fail with 422 before anything is
stored. Series are stored one after the other; groups that cannot be assembled (a single
instance, multi-frame objects, mixed sizes) are stored instance by instance, as the SDK does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy.orm import Session

from datamint.imaging.dicom_anonymize import UidMapper, anonymize_dataset
from datamint.imaging.dicom_assemble import assemble_series, assembled_filename, group_series
from datamint.imaging.dicom_io import read_dicom, write_dicom_bytes
from datamint.imaging.errors import ImagingError
from datamint.imaging.sniff import DICOM
from datamint.server.auth.service import Principal
from datamint.server.errors import ValidationFailedError
from datamint.server.resources import ingest
from datamint.server.resources.deidentify import MAX_KEY
from datamint.server.resources.dicom_receive import received_bytes
from datamint.server.resources.receive import MAX_FILES, ReceivedFile
from datamint.server.storage.base import BlobStore


@dataclass
class SeriesForm:
    """The fields of a series upload (those of ``POST /resources`` that apply to a folder)."""

    project_id: str | None = None
    channel: str | None = None
    publish: bool = False
    anonymize: bool = False
    anonymize_key: str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None


def _read(files: Sequence[ReceivedFile]) -> list[Dataset]:
    if len(files) > MAX_FILES:
        raise ValidationFailedError(f"{len(files)} files in one series upload; send at most {MAX_FILES}")
    datasets = []
    for received in files:
        try:
            with received.open() as reader:
                datasets.append(read_dicom(reader, check=True))
        except ImagingError as exc:
            raise ValidationFailedError(f"{received.filename or 'a file'} is not a DICOM file ({exc}); "
                                        "send other files with POST /resources") from exc
    return datasets


def _instance_name(ds: Dataset) -> str:
    text = "".join(ch for ch in str(ds.get("SOPInstanceUID") or "") if ch.isalnum() or ch in ".-")[:120]
    return f"{text or 'instance'}.dcm"


def store_series_upload(session: Session, store: BlobStore, me: Principal, files: Sequence[ReceivedFile],
                        form: SeriesForm) -> list[dict[str, Any]]:
    """De-identify (when asked), group, assemble and ingest the DICOM files of one upload.

    Args:
        session: The request's session (ingest commits each resource).
        store: The blob store.
        me: The caller.
        files: The received files.
        form: The upload's fields.

    Returns:
        The wire dicts of the new resources, one per assembled series (or per instance that could
        not be assembled), each with ``instances``: how many of the files it holds.

    Raises:
        ValidationFailedError: A file is not DICOM, too many files, or ``anonymize_key`` is too long (422).
        Any error of :func:`datamint.server.resources.ingest.ingest` for the series being stored.
    """
    if form.anonymize_key is not None and len(form.anonymize_key) > MAX_KEY:
        raise ValidationFailedError(f"anonymize_key is longer than {MAX_KEY} characters")
    datasets = _read(files)
    if form.anonymize:
        mapper = UidMapper(secret=form.anonymize_key) if form.anonymize_key else UidMapper()
        for ds in datasets:
            anonymize_dataset(ds, uid_map=mapper)
    stored = []
    for group in group_series(datasets):
        assembled = None
        if len(group) > 1:
            try:
                assembled = assemble_series(group)
            except ImagingError:
                assembled = None
        parts = [assembled] if assembled is not None else group
        for ds in parts:
            name = assembled_filename(ds) if assembled is not None else _instance_name(ds)
            upload = ingest.UploadForm(filename=name, declared_mimetype=DICOM, channel=form.channel,
                                       publish=form.publish, tags=form.tags, project_id=form.project_id,
                                       source=form.source)
            created = ingest.ingest(session, store, me, received_bytes(write_dicom_bytes(ds), name), upload)
            stored.append({**created, "instances": len(group) if assembled is not None else 1})
    return stored

"""STOW-RS (PS3.18 10.5): storing instances sent as ``multipart/related; type="application/dicom"``.

Every part goes through the upload's ingest path (:mod:`datamint.server.resources.dicom_receive`),
anonymized when the organization's DICOM settings say so. A part that is refused does not stop
the others: the answer lists stored instances in ReferencedSOPSequence and refused ones in
FailedSOPSequence with a FailureReason, with status 200 (all stored), 202 (some) or 409 (none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.imaging.dicom_io import read_dicom
from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.errors import AppError, BadRequestError
from datamint.server.resources import dicom_receive, dicom_settings
from datamint.server.resources.receive import ReceivedFile
from datamint.server.storage.base import BlobStore

#: FailureReason codes (PS3.4 Annex GG, PS3.18 Table 10.5.3-2).
PROCESSING_FAILURE = 0x0110
STUDY_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
_FILE_PREFIX = re.compile(r"^[^\s:]+\.dcm: ")


def authorize(me: Principal) -> None:
    """403 before the body is read when the caller may not upload."""
    policy.require(me, policy.Action.RESOURCES_UPLOAD)


def _uids(part: ReceivedFile) -> tuple[str | None, str | None, str | None]:
    try:
        with part.open() as reader:
            ds = read_dicom(reader, stop_before_pixels=True, check=False)  # a deflated one: inflated within the limits
    except Exception:  # unreadable: the ingest reports why
        return None, None, None
    return (str(ds.get("SOPClassUID") or "") or None, str(ds.get("SOPInstanceUID") or "") or None,
            str(ds.get("StudyInstanceUID") or "") or None)


def _reason(message: str) -> str:
    """The ingest's message as a 64-character LO value: without the ``<name>.dcm: `` the ingest
    starts it with (a SOP Instance UID is up to 64 characters: the reason itself would be cut off)."""
    return _FILE_PREFIX.sub("", message, count=1)[:64]


def _ref(sop_class: str | None, sop_instance: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if sop_class:
        item["00081150"] = {"vr": "UI", "Value": [sop_class]}
    if sop_instance:
        item["00081155"] = {"vr": "UI", "Value": [sop_instance]}
    return item


def store(session: Session, blobs: BlobStore, me: Principal, parts: Sequence[ReceivedFile], *,
          study_uid: str | None, project_id: str | None, base_url: str) -> tuple[int, dict[str, Any]]:
    """Store every part; returns the HTTP status and the DICOM JSON answer.

    Raises:
        BadRequestError: The body holds no part.
    """
    if not parts:
        raise BadRequestError("The multipart/related body holds no instance")
    settings = dicom_settings.current(session, me.customer_id)
    mapper = dicom_settings.anonymizer(settings)
    stored: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for part in parts:
        sop_class, sop_instance, part_study = _uids(part)
        media = (part.content_type or "application/dicom").split(";")[0].strip().lower()
        if media != "application/dicom" or sop_instance is None:
            failed.append({**_ref(sop_class, sop_instance), "00081197": {"vr": "US", "Value": [CANNOT_UNDERSTAND]}})
            continue
        if study_uid is not None and part_study != study_uid:
            failed.append({**_ref(sop_class, sop_instance), "00081197": {"vr": "US", "Value": [STUDY_MISMATCH]}})
            continue
        try:
            created = dicom_receive.store_instance(session, blobs, me, part, mapper=mapper,
                                                   channel=settings.channel, project_id=project_id,
                                                   source="dicomweb", filename=f"{sop_instance}.dcm")
        except AppError as exc:
            session.rollback()
            failed.append({**_ref(sop_class, sop_instance), "00081197": {"vr": "US", "Value": [PROCESSING_FAILURE]},
                           "00741048": {"vr": "LO", "Value": [_reason(exc.message)]}})
            continue
        meta = created.get("metadata") or {}
        uids = (meta.get("StudyInstanceUID"), meta.get("SeriesInstanceUID"), meta.get("SOPInstanceUID"))
        url = f"{base_url}/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"
        stored.append({**_ref(meta.get("SOPClassUID"), uids[2]), "00081190": {"vr": "UR", "Value": [url]}})
    answer: dict[str, Any] = {}
    if study_uid is not None:
        answer["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{study_uid}"]}
    if failed:
        answer["00081198"] = {"vr": "SQ", "Value": failed}
    if stored:
        answer["00081199"] = {"vr": "SQ", "Value": stored}
    status = 200 if not failed else 202 if stored else 409
    return status, answer

"""De-identifying a DICOM upload on the server (``anonymize=true`` on ``POST /resources``).

The SDK anonymizes before it sends (``upload_resources(anonymize=True)``); a browser cannot run
pydicom, so the web app asks the server to apply the same code (:func:`datamint.imaging.anonymize_dataset`,
the PS3.15 Basic Application Level Confidentiality Profile) before anything is stored: the
original bytes never reach the blob store. Files of one upload batch send the same
``anonymize_key`` (a random value the client draws per batch and never stores), so their study and
series UIDs are replaced consistently and still group, as with the SDK's one mapper per upload.
(DICOM received over the network is anonymized with the organization's own mapper instead:
``resources.dicom_receive``.) The metadata and the DICOM index entry are taken from the
de-identified data set, so no original identifier reaches the database either.
"""

from __future__ import annotations

import io
from typing import Any

from datamint.imaging.dicom_anonymize import UidMapper, anonymize_dataset
from datamint.imaging.dicom_header import DicomIndexEntry, index_entry
from datamint.imaging.dicom_io import read_dicom, write_dicom_bytes
from datamint.imaging.metadata import dicom_metadata
from datamint.imaging.sniff import DICOM
from datamint.server.errors import ValidationFailedError
from datamint.server.resources.receive import ReceivedFile

MAX_KEY = 200


def anonymized(received: ReceivedFile, key: str | None
               ) -> tuple[ReceivedFile, dict[str, Any], DicomIndexEntry | None, list[str]]:
    """The de-identified file of a DICOM upload, its metadata, its DICOM index entry and the tags
    derived from the original.

    Args:
        received: The uploaded (already validated) DICOM file.
        key: The batch's secret for consistent UID replacement; a random one when absent.

    Returns:
        The new file (in memory), its metadata and index entry, and ``left``/``right`` tags from
        the original's laterality.

    Raises:
        ValidationFailedError: ``key`` is longer than 200 characters.
    """
    if key is not None and len(key) > MAX_KEY:
        raise ValidationFailedError(f"anonymize_key is longer than {MAX_KEY} characters")
    with received.open() as reader:
        ds = read_dicom(reader, check=True)
    tags: list[str] = []
    anonymize_dataset(ds, uid_map=UidMapper(secret=key) if key else None, tags_out=tags)
    data = write_dicom_bytes(ds)
    received.discard()
    new = ReceivedFile(received.filename, DICOM, buffer=io.BytesIO(data), size=len(data))
    return new, dicom_metadata(ds), index_entry(ds, data), tags

"""DICOMweb and DICOM settings routes in the authorization matrix: one DICOM instance of the
world's organization that the retrieve routes read, and STOW bodies (see tests/e2e/authz_world.py).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from pydicom.uid import generate_uid

from datamint.server.resources import ingest
from datamint.server.resources.receive import ReceivedFile

from imaging_data import make_ct_slice, to_bytes

if TYPE_CHECKING:
    from authz_world import Actor, Request, World

BOUNDARY = "matrix-boundary"


def _slice(study: str | None = None) -> bytes:
    return to_bytes(make_ct_slice(0, study=study or generate_uid(), series=generate_uid(),
                                  frame_of_reference=generate_uid(), size=8))


def dicom_defaults(w: World) -> dict[str, str]:
    """The world's DICOM instance (uploaded once) as path parameters of the DICOMweb routes."""
    if not hasattr(w, "_dicom"):
        data = _slice()
        session = w.db.session()
        try:
            admin = w._principal(session, "admin")
            upload = ReceivedFile("ct.dcm", "application/dicom", buffer=io.BytesIO(data), size=len(data))
            meta = ingest.ingest(session, w.store, admin, upload, ingest.UploadForm(filename="ct.dcm"))["metadata"]
        finally:
            session.close()
        w._dicom = {"study_uid": meta["StudyInstanceUID"], "series_uid": meta["SeriesInstanceUID"],  # type: ignore
                    "instance_uid": meta["SOPInstanceUID"], "frames": "1", "frame": "1", "tag": "7FE00010"}
    return dict(w._dicom)  # type: ignore[attr-defined]


def _stow(w: World, study: str | None) -> Request:
    from authz_world import Request

    body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + _slice(study)
            + f"\r\n--{BOUNDARY}--\r\n".encode())
    return Request(content=body,
                   headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})


def _settings(w: World, a: Actor) -> Request:
    from authz_world import Request

    return Request(json={"anonymize": False, "channel": "matrix"})


DICOM_REQUESTS = {
    "POST /dicomweb/studies": lambda w, a: _stow(w, None),
    "POST /dicomweb/studies/{study_uid}": lambda w, a: _stow(w, dicom_defaults(w)["study_uid"]),
    "PUT /dicom/settings": _settings,
}

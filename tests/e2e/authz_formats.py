"""Export routes in the authorization matrix (see tests/e2e/authz_world.py).

The download routes act on a completed export job of project ``P`` created by its manager, whose
archive (a small zip) is in the server's blob store with a known download token (one per world).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from datamint.server.db.base import new_id, utcnow
from datamint.server.formats.models import ExportArchive, ImportFile, ImportSession
from datamint.server.jobs.models import Job

if TYPE_CHECKING:
    from authz_world import Request, World



def _token(w: World) -> str:
    return f"matrix-export-{w.customer_id}"


def _export_job(w: World) -> str:
    if hasattr(w, "_export_job_id"):
        return w._export_job_id  # type: ignore[attr-defined]
    manager = w.actors["manager"]
    with w.db.transaction() as s:
        now = utcnow()
        job = Job(customer_id=w.customer_id, kind="formats.export", project_id=w.project_id,
                  created_by=manager.user_id, created_by_email=manager.email, params={}, status="completed",
                  attempt=1, started_at=now, finished_at=now)
        s.add(job)
        s.flush()
        key = f"{w.customer_id}/exports/{job.id}/matrix.zip"
        size = w.store.put(key, b"PK\x05\x06" + b"\x00" * 18)
        s.add(ExportArchive(job_id=job.id, customer_id=w.customer_id, blob_key=key, filename="matrix.zip", size=size,
                            token_hash=hashlib.sha256(_token(w).encode()).hexdigest(),
                            expires_at=now + timedelta(days=1)))
        w._export_job_id = job.id  # type: ignore[attr-defined]
    return w._export_job_id  # type: ignore[attr-defined]


def _import_session(w: World) -> str:
    """A fresh open import session of project ``P``, opened by its manager, holding one file."""
    manager = w.actors["manager"]
    with w.db.transaction() as s:
        found = ImportSession(id=new_id(), customer_id=w.customer_id, project_id=w.project_id,
                              created_by=manager.user_id, created_by_email=manager.email, status="open",
                              file_count=1, total_bytes=2)
        s.add(found)
        s.flush()
        key = f"{w.customer_id}/imports/{found.id}/{new_id()}"
        w.store.put(key, b"{}")
        s.add(ImportFile(id=new_id(), session_id=found.id, name="empty.json", blob_key=key, size=2,
                         status="pending", created_count=0))
        return found.id


def format_defaults(w: World) -> dict[str, str]:
    """The ``token`` path parameter (the download token of the matrix's export) and ``session_id``
    (an open import session of project ``P``)."""
    _export_job(w)
    if not hasattr(w, "_import_session_id"):
        w._import_session_id = _import_session(w)  # type: ignore[attr-defined]
    return {"token": _token(w), "session_id": w._import_session_id}  # type: ignore[attr-defined]


def _fresh_session(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(params={"session_id": _import_session(w)})


def _dry_run(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(params={"session_id": _import_session(w)}, json={"dry_run": True})


def _add_file(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(files={"file": ("labels.json", b'{"labels": {}}')}, params={"session_id": _import_session(w)})


def _download(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(params={"job_id": _export_job(w)})


def _export(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(json={"format": "datamint", "resource_ids": [w.resource_id]})


FORMAT_REQUESTS: dict[str, Any] = {
    "POST /imports/{session_id}/commit": _dry_run,
    "DELETE /imports/{session_id}": _fresh_session,
    "POST /imports/{session_id}/files": _add_file,
    "GET /exports/{job_id}/download": _download,
    "POST /projects/{project_id}/exports": _export,
}

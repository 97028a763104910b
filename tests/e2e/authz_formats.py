"""Export routes in the authorization matrix (see tests/e2e/authz_world.py).

The download routes act on a completed export job of project ``P`` created by its manager, whose
archive (a small zip) is in the server's blob store with a known download token (one per world).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from datamint.server.db.base import utcnow
from datamint.server.formats.models import ExportArchive
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


def format_defaults(w: World) -> dict[str, str]:
    """The ``token`` path parameter: the download token of the matrix's export."""
    _export_job(w)
    return {"token": _token(w)}


def _download(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(params={"job_id": _export_job(w)})


def _export(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(json={"format": "datamint", "resource_ids": [w.resource_id]})


FORMAT_REQUESTS: dict[str, Any] = {
    "GET /exports/{job_id}/download": _download,
    "POST /projects/{project_id}/exports": _export,
}

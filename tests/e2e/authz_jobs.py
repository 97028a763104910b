"""Job routes in the authorization matrix (see tests/e2e/authz_world.py).

The read routes act on a completed job of project ``P`` created by its manager (a stream of a
finished job ends at once); cancelling acts on a fresh running job per call, held by a lease that
no worker of the test server owns, so none runs it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from datamint.server.db.base import utcnow
from datamint.server.jobs.models import Job

if TYPE_CHECKING:
    from authz_world import Request, World


def _job(w: World, status: str) -> str:
    manager = w.actors["manager"]
    with w.db.transaction() as s:
        now = utcnow()
        job = Job(customer_id=w.customer_id, kind="matrix.probe", project_id=w.project_id, created_by=manager.user_id,
                  created_by_email=manager.email, params={}, status=status, attempt=1, started_at=now,
                  finished_at=now if status == "completed" else None,
                  lease_owner=None if status == "completed" else "matrix:0:none",
                  lease_expires_at=None if status == "completed" else now + timedelta(days=1))
        s.add(job)
        s.flush()
        return job.id


def job_defaults(w: World) -> dict[str, str]:
    """The ``job_id`` path parameter: a completed job of project ``P`` created by its manager."""
    if not hasattr(w, "_job_id"):
        w._job_id = _job(w, "completed")  # type: ignore[attr-defined]
    return {"job_id": w._job_id}  # type: ignore[attr-defined]


def _fresh_running(w: World, a: Any) -> Request:
    from authz_world import Request

    return Request(params={"job_id": _job(w, "running")})


JOB_REQUESTS: dict[str, Any] = {
    "POST /jobs/{job_id}/cancel": _fresh_running,
}

"""``/jobs``: follow, list, cancel and read the logs of background jobs.

::

    GET  /jobs                          paginated jobs you may see; ?kind=&status=&project_id=&creator=
    GET  /jobs/{job_id}                 one job
    POST /jobs/{job_id}/cancel          cancel (queued: at once; running: at its next step) → the job
    GET  /jobs/{job_id}/logs            {"lines": [{seq, at, level, line}], "next_after", ...}; ?after=&limit= or ?tail=
    GET  /jobs/{job_id}/stream          SSE: ``data: {job}`` per change, ending at a terminal status
    GET  /jobs/{job_id}/logs/stream     SSE: ``start``, ``log`` per line, ``end``

Jobs are created by the routes of the work they do (e.g. ``POST /datasets/{id}/versions``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from datamint.server.common.pagination import PageDep, envelope
from datamint.server.deps import CurrentUser, JobsDep, SessionDep, UnitOfWork
from datamint.server.jobs import events, service

router = APIRouter(prefix="/jobs", tags=["jobs"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("")
def list_jobs(session: SessionDep, me: CurrentUser, page: PageDep,
              kind: Annotated[str | None, Query(max_length=64, description="e.g. datasets.version")] = None,
              status: Annotated[str | None, Query(description="queued, running, completed, failed, cancelled")] = None,
              project_id: Annotated[str | None, Query(description="jobs of one project")] = None,
              creator: Annotated[str | None, Query(max_length=320, description="creator's email or id")] = None,
              ) -> dict[str, Any]:
    """The jobs you may see (yours, your managed projects', all for admins), newest first."""
    items, total = service.list_jobs(session, me, kind=kind, status=status, project_id=project_id,
                                     creator=creator, offset=page.offset, limit=page.limit)
    return envelope(items, total)


@router.get("/{job_id}")
def get_job(job_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One job: status, progress, result or error."""
    return service.to_wire(service.visible_job(session, me, job_id))


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, session: UnitOfWork, me: CurrentUser, jobs: JobsDep) -> dict[str, Any]:
    """Cancel a job; 409 if it already completed or failed."""
    return service.to_wire(service.cancel(session, jobs, me, job_id))


@router.get("/{job_id}/logs")
def get_logs(job_id: str, session: SessionDep, me: CurrentUser,
             after: Annotated[int, Query(ge=0, le=10**9, description="lines after this seq")] = 0,
             limit: Annotated[int, Query(ge=1, le=service.MAX_LOG_PAGE)] = 1000,
             tail: Annotated[int | None, Query(ge=1, le=service.MAX_LOG_PAGE, description="the last N lines")] = None,
             ) -> dict[str, Any]:
    """A job's log lines with timestamps (tail with ``after=<next_after>``)."""
    return service.logs(session, me, job_id, after=after, limit=limit, tail=tail)


@router.get("/{job_id}/stream")
def stream_job(job_id: str, request: Request, session: SessionDep, me: CurrentUser) -> StreamingResponse:
    """Server-Sent Events of the job's status and progress until it ends."""
    job = service.visible_job(session, me, job_id)
    return StreamingResponse(events.status_events(request.app.state.database, job.id, request.is_disconnected),
                             media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/{job_id}/logs/stream")
def stream_logs(job_id: str, request: Request, session: SessionDep, me: CurrentUser,
                after: Annotated[int, Query(ge=0, le=10**9)] = 0) -> StreamingResponse:
    """Server-Sent Events of the job's log lines (``start``, ``log``..., ``end``)."""
    job = service.visible_job(session, me, job_id)
    return StreamingResponse(events.log_events(request.app.state.database, job.id, after, request.is_disconnected),
                             media_type="text/event-stream", headers=SSE_HEADERS)

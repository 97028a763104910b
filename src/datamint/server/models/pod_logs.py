"""Logs of a running deployment (wire §4.8 "pod logs", ``/datamint/api/v1/pod-logs/...``).

A deployment runs inside this server's workers (no container per model), so its one "pod" is the
deployment itself, running while it is deployed, and its log is the log of the jobs that served
it: its deploy job and the inference jobs run on it, newest lines last. The stream follows that log
live (polling the job log table every ``interval`` seconds, so it sees the lines of every worker
process) until the deployment is removed, the client leaves, or an hour passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from datamint.server import policy
from datamint.server.db.base import iso
from datamint.server.db.session import Database
from datamint.server.deps import CurrentUser, SessionDep
from datamint.server.errors import NotFoundError
from datamint.server.jobs.models import Job, JobLog
from datamint.server.jobs.router import SSE_HEADERS
from datamint.server.models import common
from datamint.server.models.models import ModelDeployment

router = APIRouter(prefix="/datamint/api/v1/pod-logs", tags=["models"])
RECENT_JOBS = 200
REPLAY = 2000
MAX_STREAM_S = 3600.0
KEEP_ALIVE_S = 15.0


def _deployment(session: Session, request: Request, me: Any, model_name: str, tag: str,
                project_id: str | None) -> ModelDeployment:
    pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id,
                                     policy.ProjectAction.JOBS)
    deployment = common.deployment(session, pid, name, tag)
    if deployment is None:
        raise NotFoundError("Deployed image", f"No deployed image found for model '{name}:{tag}'")
    return deployment


def _job_ids(session: Session, d: ModelDeployment) -> list[str]:
    jobs = session.scalars(select(Job).where(Job.project_id == d.project_id,
                                             Job.kind.in_(("models.deploy", "models.inference")))
                           .order_by(Job.created_at.desc()).limit(RECENT_JOBS)).all()
    return [j.id for j in jobs if j.id == d.deploy_job_id or (j.params or {}).get("deployment_id") == d.id]


def _line(r: JobLog) -> str:
    return f"{iso(r.at)} {r.level.upper()} [{r.job_id[:8]}] {r.line}"


def _lines(session: Session, d: ModelDeployment, tail: int, since: str | None) -> list[str]:
    ids = _job_ids(session, d)
    if not ids:
        return []
    rows = session.scalars(select(JobLog).where(JobLog.job_id.in_(ids)).order_by(JobLog.at, JobLog.seq)).all()
    lines = [_line(r) for r in rows if not since or (iso(r.at) or "") >= since]
    return lines[-tail:]


def _new_lines(database: Database, deployment_id: str, seen: dict[str, int]) -> list[str] | None:
    """The deployment's log lines not sent yet (``seen``: the last line sent per job, updated);
    ``None`` once the deployment is gone (undeployed, or replaced by another deploy of its tag)."""
    with database.transaction() as session:
        d = session.get(ModelDeployment, deployment_id)
        if d is None:
            return None
        ids = _job_ids(session, d)
        if not ids:
            return []
        rows = session.scalars(select(JobLog).where(or_(*(and_(JobLog.job_id == j, JobLog.seq > seen.get(j, 0))
                                                          for j in ids)))
                               .order_by(JobLog.at, JobLog.seq)).all()
        for r in rows:
            seen[r.job_id] = max(seen.get(r.job_id, 0), r.seq)
        return [_line(r) for r in rows]


def _sse(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'event': name, **payload})}\n\n".encode()


async def follow(database: Database, d_id: str, pod: dict[str, Any], interval: float,
                 disconnected: Callable[[], Awaitable[bool]], max_seconds: float = MAX_STREAM_S
                 ) -> AsyncIterator[bytes]:
    """``start``, the deployment's recent lines, then its new lines as its jobs write them (polled every
    ``interval`` s) until the client leaves, the deployment is removed or ``max_seconds`` pass: ``end``."""
    yield _sse("start", pod)
    seen: dict[str, int] = {}
    first = True
    started = quiet_since = time.monotonic()
    while True:
        lines = await run_in_threadpool(_new_lines, database, d_id, seen)
        if lines is None:
            yield _sse("end", {"status": "removed", "reason": "the deployment was removed"})
            return
        for line in lines[-REPLAY:] if first else lines:
            yield _sse("log", {"line": line})
        first = False
        if lines:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEP_ALIVE_S:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"
        if time.monotonic() - started >= max_seconds:
            yield _sse("end", {"status": "running", "reason": f"the stream's {max_seconds:g} s are over; "
                                                              "open it again to go on" if max_seconds else
                                                              "follow=false: the recent lines only"})
            return
        if await disconnected():
            return
        await anyio.sleep(interval)


def _pod(d: ModelDeployment) -> dict[str, Any]:
    return {"pod_id": d.id, "id": d.id, "name": d.image_name, "pod_name": d.image_name, "status": "running",
            "is_running": True, "host_port": None, "need_gpu": bool((d.details or {}).get("with_gpu"))}


@router.get("/{model_name}")
def get_logs(model_name: str, request: Request, session: SessionDep, me: CurrentUser,
             tag: Annotated[str, Query(max_length=128)] = common.DEFAULT_TAG,
             tail: Annotated[int, Query(ge=1, le=5000)] = 200, since: str | None = None,
             project_id: str | None = None) -> dict[str, Any]:
    """The deployment's recent log lines (its deploy job's and its inference jobs')."""
    d = _deployment(session, request, me, model_name, tag, project_id)
    pod = _pod(d)
    return {"model_name": d.model_name, "image_tag": d.tag, "pod_id": pod["pod_id"], "pod_name": pod["pod_name"],
            "status": pod["status"], "host_port": None, "logs": _lines(session, d, tail, since)}


@router.get("/{model_name}/pods")
def list_pods(model_name: str, request: Request, session: SessionDep, me: CurrentUser,
              tag: Annotated[str, Query(max_length=128)] = common.DEFAULT_TAG,
              project_id: str | None = None) -> list[dict[str, Any]]:
    """The deployment's one "pod": the deployment itself, running in the server's workers."""
    return [_pod(_deployment(session, request, me, model_name, tag, project_id))]


@router.get("/{model_name}/stream")
def stream_logs(model_name: str, request: Request, session: SessionDep, me: CurrentUser,
                tag: Annotated[str, Query(max_length=128)] = common.DEFAULT_TAG,
                interval: Annotated[float, Query(ge=0.5, le=10)] = 2.0,
                project_id: str | None = None, follow_new: Annotated[bool, Query(alias="follow")] = True,
                ) -> StreamingResponse:
    """SSE of the deployment's log, following it: ``start``, its recent lines and then each new line as a
    ``log`` event, ``end`` when the deployment is removed or after an hour (``follow=false``: right after
    the recent lines)."""
    d = _deployment(session, request, me, model_name, tag, project_id)
    return StreamingResponse(follow(request.app.state.database, d.id, _pod(d), interval, request.is_disconnected,
                                    MAX_STREAM_S if follow_new else 0.0),
                             media_type="text/event-stream", headers=SSE_HEADERS)

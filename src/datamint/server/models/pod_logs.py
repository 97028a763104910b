"""Logs of a running deployment (wire §4.8 "pod logs", ``/datamint/api/v1/pod-logs/...``).

A deployment runs inside this server's workers (no container per model), so its one "pod" is the
deployment itself, running while it is deployed, and its log is the log of the jobs that served
it: its deploy job and the inference jobs run on it, newest lines last.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.db.base import iso
from datamint.server.deps import CurrentUser, SessionDep
from datamint.server.errors import NotFoundError
from datamint.server.jobs.models import Job, JobLog
from datamint.server.jobs.router import SSE_HEADERS
from datamint.server.models import common
from datamint.server.models.models import ModelDeployment

router = APIRouter(prefix="/datamint/api/v1/pod-logs", tags=["models"])
RECENT_JOBS = 200


def _deployment(session: Session, request: Request, me: Any, model_name: str, tag: str,
                project_id: str | None) -> ModelDeployment:
    pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id,
                                     policy.ProjectAction.JOBS)
    deployment = common.deployment(session, pid, name, tag)
    if deployment is None:
        raise NotFoundError("Deployed image", f"No deployed image found for model '{name}:{tag}'")
    return deployment


def _lines(session: Session, d: ModelDeployment, tail: int, since: str | None) -> list[str]:
    jobs = session.scalars(select(Job).where(Job.project_id == d.project_id,
                                             Job.kind.in_(("models.deploy", "models.inference")))
                           .order_by(Job.created_at.desc()).limit(RECENT_JOBS)).all()
    ids = [j.id for j in jobs if j.id == d.deploy_job_id or (j.params or {}).get("deployment_id") == d.id]
    if not ids:
        return []
    rows = session.scalars(select(JobLog).where(JobLog.job_id.in_(ids)).order_by(JobLog.at, JobLog.seq)).all()
    lines = [f"{iso(r.at)} {r.level.upper()} [{r.job_id[:8]}] {r.line}" for r in rows
             if not since or (iso(r.at) or "") >= since]
    return lines[-tail:]


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
                project_id: str | None = None) -> StreamingResponse:
    """SSE of the deployment's log: ``start``, its recent lines as ``log`` events, ``end``."""
    d = _deployment(session, request, me, model_name, tag, project_id)
    lines = _lines(session, d, 2000, None)
    pod = _pod(d)

    def events() -> Iterator[bytes]:
        yield f"event: start\ndata: {json.dumps({'event': 'start', **pod})}\n\n".encode()
        for line in lines:
            yield f"event: log\ndata: {json.dumps({'event': 'log', 'line': line})}\n\n".encode()
        yield f"event: end\ndata: {json.dumps({'event': 'end', 'status': 'running'})}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

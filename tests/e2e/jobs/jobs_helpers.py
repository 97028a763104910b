"""Helpers of the jobs tests: submit a job as a caller (as an area's route would), wait for a state."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jobs_probe  # noqa: F401 - registers the probe kinds in this process

from datamint.server.auth.service import authenticate
from datamint.server.jobs import service


def submit(server: Any, key: str, kind: str, params: dict[str, Any], project_id: str | None = None) -> str:
    """Create a job as the owner of ``key`` through ``jobs.service.submit``; its id."""
    with server.database.transaction() as session:
        me = authenticate(session, key)
        return service.submit(session, server.app.state.jobs, me, kind, params, project_id=project_id).id


def get(url: str, key: str, job_id: str) -> dict[str, Any]:
    """``GET /jobs/{id}`` as ``key``."""
    response = httpx.get(f"{url}/jobs/{job_id}", headers={"apikey": key}, timeout=30)
    response.raise_for_status()
    return response.json()


def wait_for(url: str, key: str, job_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    """Poll the job until ``until(job)`` holds; the job then (fails the test after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        job = get(url, key, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached the expected state; last: {job}")
        time.sleep(0.05)


def terminal(job: dict[str, Any]) -> bool:
    """Whether the job has ended."""
    return job["status"] in ("completed", "failed", "cancelled")


def sse_events(url: str, key: str, path: str, timeout: float = 60) -> list[tuple[str | None, dict[str, Any]]]:
    """Read an SSE stream to its end: ``(event name, data)`` pairs in order."""
    events: list[tuple[str | None, dict[str, Any]]] = []
    name = None
    with httpx.stream("GET", f"{url}{path}", headers={"apikey": key}, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
                name = None
    return events


def log_lines(url: str, key: str, job_id: str) -> list[str]:
    """Every log line of a job, in order."""
    response = httpx.get(f"{url}/jobs/{job_id}/logs", headers={"apikey": key}, timeout=30)
    response.raise_for_status()
    return [line["line"] for line in response.json()["lines"]]

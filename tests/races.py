"""Many identical (or conflicting) requests at the same moment against a live server.

:func:`at_once` starts one thread per request, each with its own HTTP connection, lines them up
on a barrier and lets them go together; the concurrency tests then check that the invariant under
attack holds exactly and that every answer was a success or a clean refusal (never a 5xx).
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

#: How many requests each concurrency test fires at once.
N = 16


@dataclass(frozen=True)
class Call:
    """One request of a burst: who sends it (an API key) and what."""

    key: str
    method: str
    path: str
    json: Any = None
    files: Any = None


def at_once(base_url: str, calls: Sequence[Call]) -> list[httpx.Response]:
    """Send every call at the same moment (one thread and connection each); the responses in order."""
    barrier = threading.Barrier(len(calls))

    def send(call: Call) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=120, headers={"apikey": call.key}) as client:
            request = client.build_request(call.method, call.path, json=call.json, files=call.files)
            barrier.wait(timeout=60)
            response = client.send(request)
            response.read()
            return response

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(send, calls))


def same(call: Call, n: int = N) -> list[Call]:
    """``n`` copies of one call."""
    return [call] * n


def statuses(responses: Sequence[httpx.Response]) -> list[int]:
    """The status codes, in order."""
    return [r.status_code for r in responses]


def assert_clean(responses: Sequence[httpx.Response], allowed: Callable[[httpx.Response], bool] | None = None) -> None:
    """Every answer is 2xx or 409 (a 409 with a message), or passes ``allowed``; never anything else."""
    bad = []
    for r in responses:
        if 200 <= r.status_code < 300:
            continue
        if r.status_code == 409 and r.json().get("message"):
            continue
        if allowed is not None and allowed(r):
            continue
        bad.append(f"{r.status_code}: {r.text[:200]}")
    assert not bad, "answers other than 2xx/409:\n" + "\n".join(bad)


def unique(prefix: str = "r") -> str:
    """A unique name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def png_bytes(width: int = 8, height: int = 6, value: int = 1) -> bytes:
    """A small grayscale PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_png(client: httpx.Client, **fields: str) -> str:
    """Upload a small PNG resource (with form ``fields``); its id."""
    response = client.post("/resources", files={"resource": ("r.png", png_bytes(), "image/png")}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def finished_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll ``GET /jobs/{job_id}`` until the job reaches a terminal state; its final JSON."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s"
        time.sleep(0.1)

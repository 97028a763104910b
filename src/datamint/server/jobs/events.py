"""Server-Sent Events of a job: its state and progress, and its log lines, as they change.

Both streams poll the job row (every process sees the database, whichever worker runs the job)
and are shaped as wire §10 says the official client reads them:

* status stream: ``data: {job json}`` + blank line, one event per change of status, progress or
  attempt, in order; it ends after the event with a terminal status.
* log stream: ``event: start`` (the job), ``event: log`` per line (``{"event": "log", "seq",
  "at", "level", "line"}``), ``event: end`` (the final status) when the job has ended and every
  line was sent.

A comment line (``: keep-alive``) goes out every 15 s of silence so that proxies keep the
connection; the stream stops when the client goes away.

How soon a change is seen: the row is read again after ``FIRST_POLL_S``, then at doubling
intervals up to ``POLL_S`` while nothing changes (a short job is seen ending within tens of
milliseconds, a long one costs a read every quarter second). A job run by this process also wakes
its streams at once when it ends or logs (:func:`.wakeups.notify`, called by the runner and the job
context); jobs run by other worker processes are seen by polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.concurrency import run_in_threadpool

from datamint.server.jobs import repository as repo
from datamint.server.jobs import service, wakeups
from datamint.server.jobs.models import TERMINAL

if TYPE_CHECKING:
    from datamint.server.db.session import Database

POLL_S = 0.25
FIRST_POLL_S = 0.02
KEEP_ALIVE_S = 15.0
_WATCHED = ("status", "progress", "attempt", "cancel_requested", "error_message")


def _event(payload: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _load(database: Database, job_id: str) -> dict[str, Any] | None:
    with database.transaction() as session:
        job = repo.get_any(session, job_id)
        return service.to_wire(job) if job is not None else None


def _load_logs(database: Database, job_id: str, after: int) -> tuple[str | None, list[dict[str, Any]]]:
    with database.transaction() as session:
        job = repo.get_any(session, job_id)
        rows = repo.read_logs(session, job_id, after, 1000)
        return (job.status if job else None), [service.log_to_wire(r) for r in rows]


class _Poll(NamedTuple):
    """What one read of the job gave a stream."""

    events: list[bytes]
    """Events to send (none: nothing changed)."""
    finished: bool = False
    """The stream ends after these events."""
    again: bool = False
    """Read again at once (more may be waiting) instead of waiting for a wake-up or the next poll."""


async def _stream(job_id: str, disconnected: Callable[[], Any],
                  poll: Callable[[], Awaitable[_Poll]]) -> AsyncIterator[bytes]:
    """The poll/wake loop of both streams: ``poll`` reads the job, this sends what it found, a
    keep-alive after :data:`KEEP_ALIVE_S` of silence, and waits (woken early by
    :func:`.wakeups.notify`) at doubling intervals from :data:`FIRST_POLL_S` to :data:`POLL_S`
    while nothing changes, until ``poll`` finishes or the client goes away."""
    quiet_since = time.monotonic()
    delay = FIRST_POLL_S
    with wakeups.watching(job_id) as woken:
        while True:
            found = await poll()
            for event in found.events:
                yield event
            if found.finished:
                return
            if found.events:
                quiet_since, delay = time.monotonic(), FIRST_POLL_S
            elif time.monotonic() - quiet_since > KEEP_ALIVE_S:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            if await disconnected():
                return
            if not found.again:
                await wakeups.wait(woken, delay)
                delay = min(POLL_S, delay * 2)


async def status_events(database: Database, job_id: str, disconnected: Callable[[], Any]) -> AsyncIterator[bytes]:
    """The status stream of ``job_id`` (already checked visible)."""
    last: tuple[Any, ...] | None = None

    async def poll() -> _Poll:
        nonlocal last
        wire = await run_in_threadpool(_load, database, job_id)
        if wire is None:
            return _Poll([], finished=True)
        key = tuple(json.dumps(wire[k], sort_keys=True) for k in _WATCHED)
        if key == last:
            return _Poll([])
        last = key
        return _Poll([_event(wire)], finished=wire["status"] in TERMINAL)

    async for event in _stream(job_id, disconnected, poll):
        yield event


async def log_events(database: Database, job_id: str, after: int,
                     disconnected: Callable[[], Any]) -> AsyncIterator[bytes]:
    """The log stream of ``job_id`` (already checked visible), from line ``after`` on."""
    wire = await run_in_threadpool(_load, database, job_id)
    if wire is None:
        return
    yield _event({"event": "start", "job": wire}, "start")

    async def poll() -> _Poll:
        nonlocal after
        status, lines = await run_in_threadpool(_load_logs, database, job_id, after)
        if lines:
            after = lines[-1]["seq"]
            return _Poll([_event({"event": "log", **line}, "log") for line in lines], again=True)
        if status is None or status in TERMINAL:
            return _Poll([_event({"event": "end", "status": status}, "end")], finished=True)
        return _Poll([])

    async for event in _stream(job_id, disconnected, poll):
        yield event

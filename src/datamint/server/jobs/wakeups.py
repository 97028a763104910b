"""Waking a job's event streams in this process when the job changes (see :mod:`.events`).

The runner and the job context call :func:`notify` after they commit a change of a job (its end,
progress or log lines); the streams of that job served by this process then read the row at once
instead of at their next poll. Nothing is shared between processes: streams of jobs run elsewhere
poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import anyio

_WAITERS: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
_LOCK = threading.Lock()


def notify(job_id: str) -> None:
    """Wake the streams of ``job_id`` in this process (call it from any thread, after the commit)."""
    with _LOCK:
        waiting = list(_WAITERS.get(job_id, ()))
    for loop, event in waiting:
        with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
            loop.call_soon_threadsafe(event.set)


async def wait(event: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if :func:`notify` sets ``event`` meanwhile."""
    with anyio.move_on_after(seconds):
        await event.wait()
    event.clear()


@contextlib.contextmanager
def watching(job_id: str) -> Iterator[asyncio.Event]:
    """An event :func:`notify` sets for ``job_id`` while the block runs (in the running event loop)."""
    event = asyncio.Event()
    entry = (asyncio.get_running_loop(), event)
    with _LOCK:
        _WAITERS.setdefault(job_id, set()).add(entry)
    try:
        yield event
    finally:
        with _LOCK:
            waiting = _WAITERS.get(job_id)
            if waiting is not None:
                waiting.discard(entry)
                if not waiting:
                    del _WAITERS[job_id]

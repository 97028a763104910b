"""Following a job to its end: its status stream first, polling when the stream breaks (jobs, deploys, inference)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from datamint.exceptions import DatamintException, JobTimeoutError, NetworkError


def follow_job(is_done: Callable[[], bool], seen: Callable[[dict[str, Any]], None],
               stream: Callable[[float | None], Iterable[dict[str, Any]]], poll: Callable[[], dict[str, Any]], *,
               timeout: float | None, poll_interval: float, timeout_message: Callable[[], str]) -> None:
    """Feed ``seen`` every status of a job until ``is_done()``.

    Args:
        is_done: Whether the job has ended (read after each status).
        seen: Called with each status (an SSE event or a polled answer).
        stream: Opens the job's status stream, given the read timeout left.
        poll: Reads the job's status once (used when the stream breaks or ends early).
        timeout: Seconds to wait in all (``None``: no limit).
        poll_interval: Seconds between two polls.
        timeout_message: The message of the :class:`JobTimeoutError` raised when ``timeout`` passes.

    Raises:
        JobTimeoutError: ``timeout`` passed first (the job goes on).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if not is_done():
        try:
            for data in stream(None if deadline is None else deadline - time.monotonic()):
                seen(data)
                if is_done() or (deadline is not None and time.monotonic() > deadline):
                    break
        except (NetworkError, httpx.HTTPError, ValueError, DatamintException):
            pass  # the stream broke: poll instead
    while not is_done():
        if deadline is not None and time.monotonic() > deadline:
            raise JobTimeoutError(timeout_message())
        time.sleep(poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.monotonic())))
        seen(poll())

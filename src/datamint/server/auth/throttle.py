"""Throttling of repeated authentication failures from one client address."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from datamint.server.errors import TooManyRequestsError


class AuthFailureGuard:
    """Counts failed authentications per client in a sliding window of one minute.

    Once a client has failed ``max_failures`` times within the window, every further request
    from it gets 429 with ``Retry-After`` until the oldest failure leaves the window.

    Args:
        max_failures: Failures allowed per client per minute.
        window_s: Length of the window in seconds.
    """

    def __init__(self, max_failures: int, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, client: str, now: float) -> deque[float]:
        q = self._failures[client]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def check(self, client: str) -> None:
        """Raise :class:`TooManyRequestsError` when ``client`` is currently throttled."""
        now = time.monotonic()
        with self._lock:
            q = self._prune(client, now)
            if len(q) >= self.max_failures:
                retry = max(1, int(self.window_s - (now - q[0])) + 1)
                raise TooManyRequestsError(
                    f"Too many failed authentication attempts from this address; retry in {retry} s", retry
                )
            if not q:
                self._failures.pop(client, None)

    def record_failure(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        with self._lock:
            q = self._prune(client, time.monotonic())
            q.append(time.monotonic())

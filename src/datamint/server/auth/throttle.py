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
        self._next_sweep = time.monotonic() + window_s

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
        """Count one failed authentication of ``client`` (and, once a window, forget clients whose
        failures have all expired, so the table does not grow with every address ever seen)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._next_sweep:
                for stale in [c for c, q in self._failures.items() if not q or now - q[-1] > self.window_s]:
                    del self._failures[stale]
                self._next_sweep = now + self.window_s
            self._prune(client, now).append(now)

    def tracked_clients(self) -> int:
        """How many client addresses currently have failures on record."""
        with self._lock:
            return len(self._failures)

"""The failed-authentication guard: throttles within the window, forgets expired clients."""

from __future__ import annotations

import pytest

from datamint.server.auth import throttle
from datamint.server.auth.throttle import AuthFailureGuard
from datamint.server.errors import TooManyRequestsError


def test_throttles_then_forgets_expired_clients(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: clock[0])
    guard = AuthFailureGuard(max_failures=2, window_s=60)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        guard.record_failure(address)
    guard.record_failure("10.0.0.1")
    with pytest.raises(TooManyRequestsError) as info:
        guard.check("10.0.0.1")
    assert info.value.retry_after == 61
    guard.check("10.0.0.2")
    assert guard.tracked_clients() == 3

    clock[0] += 61  # every failure has left the window
    guard.check("10.0.0.1")
    guard.record_failure("10.0.0.9")
    assert guard.tracked_clients() == 1

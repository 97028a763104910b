"""The failed-authentication guard: throttles within the window, counts in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from datamint.server.auth import throttle
from datamint.server.auth.throttle import AuthFailureGuard
from datamint.server.db.base import utcnow
from datamint.server.errors import TooManyRequestsError


def test_throttles_then_forgets_expired_failures(migrated_database, monkeypatch):
    start = utcnow()
    clock = [start]
    monkeypatch.setattr(throttle, "utcnow", lambda: clock[0])
    guard = AuthFailureGuard(migrated_database, max_failures=2, window_s=60)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        guard.record_failure(address)
    clock[0] = start + timedelta(seconds=5)
    guard.record_failure("10.0.0.1")
    with pytest.raises(TooManyRequestsError) as info:
        guard.check("10.0.0.1")
    assert info.value.retry_after == 56  # the first failure leaves the window 55 s from now (+1)
    guard.check("10.0.0.2")
    assert guard.tracked_clients() == 3
    assert AuthFailureGuard(migrated_database, max_failures=2).tracked_clients() == 3  # another process sees them

    clock[0] = start + timedelta(seconds=61)  # the first failure of 10.0.0.1 has left the window
    guard.check("10.0.0.1")
    assert guard.tracked_clients() == 1

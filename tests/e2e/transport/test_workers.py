"""Issue 9 §7: ``datamint server run --workers N``.

Workers die with their supervisor (``kill -9`` of it leaves nothing serving, and a new server on
the same port starts), and the failed-login throttle counts across workers (a client gets
``auth_failures_per_minute`` attempts, not N times as many).
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import pytest

from conftest import BACKENDS
from process_server import alive, process_server, start, stop

LIMIT = 5


def test_workers_die_with_a_killed_supervisor_and_the_port_is_free_again(tmp_path):
    """SQLite only: process supervision does not involve the database (each server start costs
    three interpreter starts, so this runs once)."""
    database_url = f"sqlite:///{tmp_path / 'data' / 'datamint.sqlite3'}"
    srv = start(tmp_path / "data", database_url, workers=2)
    try:
        workers = srv.serving_pids()
        assert len(workers) == 2 and srv.pid not in workers
        os.kill(srv.pid, signal.SIGKILL)
        srv.process.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "workers outlived their supervisor"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{srv.url}/health", timeout=2)
        again = start(tmp_path / "data", database_url, workers=2, port=srv.port, admin_key=srv.admin_key)
        try:
            with again.client() as http:
                assert http.get("/projects").status_code == 200
        finally:
            stop(again)
    finally:
        stop(srv)


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL not selected (DATAMINT_TEST_BACKENDS)")
def test_failed_logins_are_counted_across_workers(tmp_path, own_pg_database):
    """The issue's setup (PostgreSQL, --workers 2). Counting in the database is tested on both
    backends by test_brute_force.test_every_server_process_sees_the_same_failures."""
    database_url = own_pg_database
    env = {"DATAMINT_SERVER_AUTH_FAILURES_PER_MINUTE": str(LIMIT)}
    with process_server(tmp_path / "data", database_url, workers=2, env=env) as srv:
        statuses = []
        for _ in range(4 * LIMIT):  # a new connection each time: the workers share them out
            bad = {"apikey": "dmk_" + uuid.uuid4().hex * 2, "Connection": "close"}
            statuses.append(httpx.get(f"{srv.url}/projects", headers=bad).status_code)
        assert statuses == [401] * LIMIT + [429] * (3 * LIMIT)

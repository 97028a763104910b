"""Jobs survive restarts of the server on the embedded default (the job rows are the truth, the
in-process queue is refilled at start): queued jobs run after a restart, a job whose worker died
runs again, and a job running at a graceful stop goes back to the queue without losing an attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jobs_helpers import get, log_lines, submit, terminal, wait_for
from sqlalchemy import update

from datamint.server.db.base import utcnow
from datamint.server.jobs.models import Job

from conftest import BACKENDS, start_server


@pytest.fixture(params=BACKENDS)
def restartable(request, tmp_path):
    """``start(**settings)`` starts a server on one data folder and database, again after each stop."""
    database_url = (f"sqlite:///{tmp_path / 'datamint.sqlite3'}" if request.param == "sqlite"
                    else request.getfixturevalue("own_pg_database"))
    running = []

    def start(**settings):
        generator = start_server(request.param, request, tmp_path, database_url=database_url,
                                 job_sweep_interval_s=0.2, **settings)
        server = next(generator)
        running.append(generator)
        return server, generator

    def stop(generator):
        generator.close()
        running.remove(generator)

    start.stop = stop
    yield start
    for generator in list(running):
        generator.close()


def test_queued_jobs_and_a_lost_attempt_run_after_a_restart(restartable):
    first, handle = restartable(job_threads=0)  # a server that queues but runs nothing
    key = first.admin_key
    queued = [submit(first, key, "probe.steps", {"steps": 2}) for _ in range(3)]
    lost = submit(first, key, "probe.steps", {"steps": 1})
    with first.database.transaction() as session:  # as if the worker running it was killed
        session.execute(update(Job).where(Job.id == lost).values(
            status="running", attempt=1, lease_owner="gone:1:abc", lease_expires_at=utcnow() - timedelta(seconds=5)))
    assert [get(first.url, key, j)["status"] for j in queued] == ["queued"] * 3
    restartable.stop(handle)

    second, _ = restartable(job_threads=2, admin_api_key=key)
    for job_id in queued:
        job = wait_for(second.url, key, job_id, terminal)
        assert (job["status"], job["attempt"], job["result"]) == ("completed", 1, {"steps": 2, "attempt": 1})
    job = wait_for(second.url, key, lost, terminal)
    assert (job["status"], job["attempt"], job["result"]) == ("completed", 2, {"steps": 1, "attempt": 2})
    lines = log_lines(second.url, key, lost)
    assert "worker gone:1:abc stopped renewing its lease during attempt 1; re-queued" in lines
    assert lines[-2:] == ["step 1 of 1 (attempt 2)", "completed"]


def test_a_job_running_at_a_graceful_stop_runs_again_after_the_restart(restartable):
    first, handle = restartable(job_threads=1)
    key = first.admin_key
    job_id = submit(first, key, "probe.steps", {"steps": 2, "delay": 1.5})
    wait_for(first.url, key, job_id, lambda j: j["status"] == "running")
    restartable.stop(handle)

    second, _ = restartable(job_threads=1, admin_api_key=key)
    job = wait_for(second.url, key, job_id, terminal)
    assert (job["status"], job["attempt"]) == ("completed", 1)  # the interrupted run did not count
    lines = log_lines(second.url, key, job_id)
    assert any(line.endswith("stopped; job re-queued") for line in lines)
    assert lines.count("attempt 1 of 3 started on " + lines[1].split(" started on ")[1]) == 1

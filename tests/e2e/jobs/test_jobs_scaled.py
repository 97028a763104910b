"""The scaled-out shape: the server enqueues to Redis, two ``datamint server worker`` processes run
the jobs, all on PostgreSQL (the database several processes share; SQLite is the one-process
default, so this file runs on PostgreSQL only). Workers are killed with SIGKILL mid-job: the job
is re-run by the other worker after its lease expires, or failed with a clear error (and its
leftovers removed) when it was its last attempt — never left ``running``.

Redis at 127.0.0.1:6379 is shared: this test uses database 9 under a namespace of its own and
deletes its keys at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from jobs_helpers import get, log_lines, sse_events, submit, terminal, wait_for

from datamint.server.jobs.models import Job

from conftest import start_server

REDIS_URL = os.environ.get("DATAMINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
HERE = Path(__file__).resolve().parent
SRC = HERE.parents[2] / "src"
LEASE_S = 2.0


class Workers:
    """``datamint server worker`` subprocesses sharing the server's database, blobs and queue."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def spawn(self) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "datamint.cli", "server", "worker", "--threads", "1",
                                 "--import", "jobs_probe"], env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def read() -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                if "thread(s) on" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60), "the worker did not start"
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def scaled(tmp_path, own_pg_database, request):
    namespace = f"dmtest-{uuid.uuid4().hex[:10]}"
    settings = {"database_url": own_pg_database, "queue_url": REDIS_URL, "queue_namespace": namespace,
                "job_lease_s": LEASE_S, "job_sweep_interval_s": 0.3}
    generator = start_server("postgresql", request, tmp_path, **settings)
    server = next(generator)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
           "DATAMINT_SERVER_DATA_DIR": str(tmp_path), "DATAMINT_SERVER_LOG_LEVEL": "INFO",
           **{f"DATAMINT_SERVER_{k.upper()}": str(v) for k, v in settings.items()}}
    workers = Workers(env)
    try:
        workers.spawn()
        workers.spawn()
        yield server, workers
    finally:
        workers.stop()
        generator.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{namespace}*", count=1000):
            client.delete(key)
        client.close()


def _running_pid(server, job_id):
    with server.database.transaction() as session:
        owner = session.get(Job, job_id).lease_owner
    return int(owner.split(":")[1])


def test_two_worker_processes_share_the_jobs(scaled):
    server, workers = scaled
    key = server.admin_key
    assert server.app.state.jobs.threads == 0  # the server only enqueues
    job_ids = [submit(server, key, "probe.steps", {"steps": 2, "delay": 0.5}) for _ in range(4)]
    events = [data["status"] for _, data in sse_events(server.url, key, f"/jobs/{job_ids[0]}/stream")]
    assert events[-1] == "completed"
    pids = set()
    for job_id in job_ids:
        job = wait_for(server.url, key, job_id, terminal)
        assert (job["status"], job["attempt"]) == ("completed", 1)
        pids.add(int(log_lines(server.url, key, job_id)[1].split(" started on ")[1].split(":")[1]))
    assert pids == {p.pid for p in workers.procs}


def test_a_worker_killed_mid_job_its_job_reruns_on_the_other(scaled):
    server, workers = scaled
    key = server.admin_key
    job_id = submit(server, key, "probe.steps", {"steps": 4, "delay": 0.5})
    wait_for(server.url, key, job_id, lambda j: j["status"] == "running" and j["progress"]["done"] >= 1)
    victim = _running_pid(server, job_id)
    os.kill(victim, signal.SIGKILL)
    job = wait_for(server.url, key, job_id, terminal, timeout=60)
    assert (job["status"], job["attempt"], job["result"]) == ("completed", 2, {"steps": 4, "attempt": 2})
    lines = log_lines(server.url, key, job_id)
    assert any(line.startswith("worker ") and f":{victim}:" in line and
               line.endswith("stopped renewing its lease during attempt 1; re-queued") for line in lines)
    survivor = next(p.pid for p in workers.procs if p.pid != victim)
    assert f":{survivor}:" in next(line for line in lines if line.startswith("attempt 2 of 3 started on "))


def test_a_worker_killed_on_the_last_attempt_fails_the_job_and_cleans_up(scaled):
    server, workers = scaled
    key = server.admin_key
    store = server.app.state.blob_store
    job_id = submit(server, key, "probe.blob", {"delay": 60})  # probe.blob allows one attempt
    running = wait_for(server.url, key, job_id, lambda j: j["progress"]["message"] == "holding the blob")
    blob = f"{running['customer_id']}/probe/{job_id}.bin"
    assert store.exists(blob)
    os.kill(_running_pid(server, job_id), signal.SIGKILL)
    job = wait_for(server.url, key, job_id, terminal, timeout=60)
    assert (job["status"], job["error_where"]) == ("failed", "worker lost")
    assert job["error_message"] == ("The job's worker was lost (killed or crashed) during attempt 1 of 1, its "
                                    "last; nothing it did was kept. Run it again.")
    assert not store.exists(blob)  # the failure path removed what the crashed attempt wrote
    assert get(server.url, key, job_id)["result"] is None


def test_cancel_reaches_a_job_running_in_another_process(scaled):
    server, _ = scaled
    key = server.admin_key
    job_id = submit(server, key, "probe.steps", {"steps": 1, "delay": 120})
    wait_for(server.url, key, job_id, lambda j: j["status"] == "running")
    assert httpx.post(f"{server.url}/jobs/{job_id}/cancel", headers={"apikey": key}).status_code == 200
    assert wait_for(server.url, key, job_id, terminal, timeout=30)["status"] == "cancelled"

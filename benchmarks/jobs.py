"""Jobs runtime: how long from enqueue to start, and how many no-op jobs per second?

Three shapes, one result line each:

* embedded: SQLite, the worker threads inside the server process (the default, 2 threads);
* Redis + PostgreSQL with 1 ``datamint server worker`` process (2 threads);
* Redis + PostgreSQL with 2 worker processes (2 threads each).

For each: enqueue→start latency of 200 jobs sent one at a time (``started_at - created_at`` of the
job rows; median and p99), then throughput of 1,000 no-op jobs submitted in batches of 50 (first
created → last finished). Every job is checked completed on its first attempt.

usage: python benchmarks/jobs.py   (PostgreSQL at DATAMINT_TEST_PG_URL or root@127.0.0.1:5432/test,
Redis at DATAMINT_BENCH_REDIS_URL or redis://127.0.0.1:6379/9; the benchmark's own database and
Redis keys are removed afterwards)
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis
import uvicorn
from sqlalchemy import func, select

from datamint.server.app import create_app
from datamint.server.auth.service import authenticate
from datamint.server.config import Settings
from datamint.server.jobs import registry, service
from datamint.server.jobs.models import Job

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import create_database, drop_database, serve_in_thread  # noqa: E402 - the benchmarks' shared helpers

# Worker processes import this module (--import jobs) to learn the kind.
registry.register("bench.noop", lambda ctx: None, max_attempts=1, description="benchmark: nothing")

PG_URL = os.environ.get("DATAMINT_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DATAMINT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
KEY = f"dmk_bench_{uuid.uuid4().hex}"
HERE = Path(__file__).resolve().parent


def serve(app) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve ``app`` (its lifespan starts the jobs runtime) on a free loopback port in a thread."""
    _url, server, thread = serve_in_thread(app, lifespan="on")
    return server, thread


def _wait(database, ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with database.transaction() as s:
            left = s.scalar(select(func.count()).select_from(Job).where(
                Job.id.in_(ids), Job.status.in_(("queued", "running")))) or 0
        if not left:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{left} job(s) still not finished after {timeout} s")
        time.sleep(0.002 if len(ids) == 1 else 0.05)


def _submit(app, me, n: int) -> list[str]:
    with app.state.database.transaction() as s:
        return [service.submit(s, app.state.jobs, me, "bench.noop", {}).id for _ in range(n)]


def measure(app, label: str) -> str:
    database = app.state.database
    with database.transaction() as s:
        me = authenticate(s, KEY)
    _wait(database, _submit(app, me, 1))  # warm-up
    latencies = []
    for _ in range(200):
        (job_id,) = _submit(app, me, 1)
        _wait(database, [job_id])
        with database.transaction() as s:
            job = s.get(Job, job_id)
            latencies.append((job.started_at - job.created_at).total_seconds())
    latencies.sort()
    ids: list[str] = []
    for _ in range(20):
        ids += _submit(app, me, 50)
    _wait(database, ids)
    with database.transaction() as s:
        first, last, ok = s.execute(select(func.min(Job.created_at), func.max(Job.finished_at),
                                           func.count()).where(Job.id.in_(ids), Job.status == "completed",
                                                               Job.attempt == 1)).one()
    if ok != len(ids):
        raise SystemExit(f"{label}: only {ok} of {len(ids)} jobs completed on their first attempt")
    rate = len(ids) / (last - first).total_seconds()
    return (f"jobs {label}: enqueue→start median {statistics.median(latencies) * 1000:.1f} ms p99 "
            f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms | 1000 no-op jobs {rate:.0f} jobs/s")


def _app(folder: Path, **settings):
    return create_app(Settings(data_dir=folder, admin_api_key=KEY, **settings))


def embedded() -> str:
    with tempfile.TemporaryDirectory() as folder:
        app = _app(Path(folder), job_threads=2)
        server, thread = serve(app)
        try:
            return measure(app, "embedded sqlite, in-process workers (2 threads)")
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.database.dispose()


def _ready(proc: subprocess.Popen, ready: threading.Event) -> None:
    for line in proc.stderr:  # type: ignore[union-attr]
        if "thread(s) on" in line:
            ready.set()


def scaled(processes: int) -> str:
    url, name = create_database(PG_URL)
    namespace = f"dmbench-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = {"database_url": url, "queue_url": REDIS_URL, "queue_namespace": namespace}
            app = _app(Path(folder), **settings)
            server, thread = serve(app)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)]),
                   "DATAMINT_SERVER_DATA_DIR": folder, "DATAMINT_SERVER_LOG_LEVEL": "INFO",
                   **{f"DATAMINT_SERVER_{k.upper()}": v for k, v in settings.items()}}
            for _ in range(processes):
                proc = subprocess.Popen([sys.executable, "-m", "datamint.cli", "server", "worker", "--threads", "2",
                                         "--import", "jobs"], env=env, stderr=subprocess.PIPE, text=True,
                                        stdout=subprocess.DEVNULL)
                procs.append(proc)
                ready = threading.Event()
                threading.Thread(target=_ready, args=(proc, ready), daemon=True).start()
                if not ready.wait(60):
                    raise SystemExit("a worker did not start")
            try:
                return measure(app, f"redis + postgresql, {processes} worker process(es) (2 threads each)")
            finally:
                server.should_exit = True
                thread.join(10)
                app.state.database.dispose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        drop_database(PG_URL, name)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{namespace}*", count=1000):
            client.delete(key)


if __name__ == "__main__":
    logging.getLogger("datamint").setLevel(logging.WARNING)
    print(embedded(), flush=True)
    print(scaled(1), flush=True)
    print(scaled(2), flush=True)

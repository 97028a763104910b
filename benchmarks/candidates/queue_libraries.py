"""Which queue library carries Datamint's jobs? One worker process per library, on the same Redis.

Measures, for each candidate (dramatiq, arq, saq, taskiq with its Redis stream broker, rq), as it
ships (default settings, one worker process):

* enqueue→start latency of 200 jobs sent one at a time (median, p99);
* throughput of 1,000 no-op jobs enqueued at once (first enqueue → last start);
* redelivery after ``kill -9`` of the worker mid-job: seconds until a fresh worker starts the
  interrupted job again (``lost`` if it does not within 90 s).

The candidates are not dependencies of Datamint; run this in a throw-away venv::

    python -m venv --system-site-packages /tmp/qbench
    /tmp/qbench/bin/pip install arq saq dramatiq taskiq taskiq-redis rq
    /tmp/qbench/bin/python benchmarks/candidates/queue_libraries.py [redis://127.0.0.1:6379/12]

It uses the Redis database given (default 12) and deletes the keys it made. One line per library.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

URL = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "worker" else (sys.argv[1] if len(sys.argv) > 1
                                                                           else "redis://127.0.0.1:6379/12")
R = redis.Redis.from_url(URL)
PREFIX = "qbench"
LIBS = ("dramatiq", "arq", "saq", "taskiq", "rq")


def _record(lib: str, t0: float, sleep: float = 0.0) -> None:
    """The task body every library runs: note the start latency, optionally work a while."""
    R.rpush(f"{PREFIX}:{lib}:starts", f"{time.time() - t0:.6f}")
    if sleep:
        time.sleep(sleep)


# -- the task definitions, per library (imported by the worker and by the producer) ---------------

def _dramatiq():  # type: ignore[no-untyped-def]
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=URL, namespace=f"{PREFIX}-dramatiq")
    dramatiq.set_broker(broker)

    @dramatiq.actor(broker=broker, max_retries=0, time_limit=600_000)
    def noop(t0: float, sleep: float = 0.0) -> None:
        _record("dramatiq", t0, sleep)

    return broker, noop


def rq_noop(t0: float, sleep: float = 0.0) -> None:
    """rq's task (rq imports it by dotted name)."""
    _record("rq", t0, sleep)


async def _arq_noop(ctx: dict, t0: float, sleep: float = 0.0) -> None:
    await asyncio.to_thread(_record, "arq", t0, sleep)


async def _saq_noop(ctx: dict, *, t0: float, sleep: float = 0.0) -> None:
    await asyncio.to_thread(_record, "saq", t0, sleep)


def _taskiq():  # type: ignore[no-untyped-def]
    from taskiq_redis import RedisStreamBroker

    broker = RedisStreamBroker(url=URL, queue_name=f"{PREFIX}-taskiq", consumer_group_name=f"{PREFIX}-taskiq")

    @broker.task(task_name="noop")
    async def noop(t0: float, sleep: float = 0.0) -> None:
        await asyncio.to_thread(_record, "taskiq", t0, sleep)

    return broker, noop


def _arq_settings():  # type: ignore[no-untyped-def]
    from arq.connections import RedisSettings

    class Settings:
        functions = [_arq_noop]
        redis_settings = RedisSettings.from_dsn(URL)
        queue_name = f"{PREFIX}:arq"
        max_jobs = 10
        job_timeout = 30

    return Settings


def _saq_queue():  # type: ignore[no-untyped-def]
    from saq import Queue

    return Queue.from_url(URL, name=f"{PREFIX}-saq")


# -- worker side ---------------------------------------------------------------------------------

def run_worker(lib: str) -> None:
    """Run one worker of ``lib`` until killed."""
    if lib == "dramatiq":
        from dramatiq import Worker

        broker, _ = _dramatiq()
        worker = Worker(broker, worker_threads=8)
        worker.start()
        while True:
            time.sleep(3600)
    elif lib == "arq":
        from arq.worker import run_worker as arq_run

        arq_run(_arq_settings())
    elif lib == "saq":
        from saq import Worker

        async def main() -> None:
            await Worker(_saq_queue(), functions=[("noop", _saq_noop)], concurrency=10).start()

        asyncio.run(main())
    elif lib == "taskiq":
        from taskiq.api import run_receiver_task

        broker, _ = _taskiq()

        async def main() -> None:
            await broker.startup()
            await run_receiver_task(broker, max_async_tasks=10)

        asyncio.run(main())
    elif lib == "rq":
        from rq import Queue, SimpleWorker, Worker

        queue = Queue(f"{PREFIX}-rq", connection=R)
        # The forking Worker is rq's default; SimpleWorker runs jobs in the worker process.
        (SimpleWorker if os.environ.get("RQ_SIMPLE") else Worker)([queue], connection=R).work()


# -- producer side -------------------------------------------------------------------------------

class Producer:
    """Enqueues ``noop(t0, sleep)`` with one library."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self.loop = asyncio.new_event_loop()
        if lib == "dramatiq":
            _, self.actor = _dramatiq()
        elif lib == "arq":
            from arq import create_pool

            self.settings = _arq_settings()
            self.pool = self.loop.run_until_complete(create_pool(self.settings.redis_settings))
        elif lib == "saq":
            self.queue = _saq_queue()
            self.loop.run_until_complete(self.queue.connect())
        elif lib == "taskiq":
            self.broker, self.task = _taskiq()
            self.loop.run_until_complete(self.broker.startup())
        elif lib == "rq":
            from rq import Queue

            self.queue = Queue(f"{PREFIX}-rq", connection=R)

    def send(self, sleep: float = 0.0) -> None:
        t0 = time.time()
        if self.lib == "dramatiq":
            self.actor.send(t0, sleep)
        elif self.lib == "arq":
            self.loop.run_until_complete(self.pool.enqueue_job("_arq_noop", t0, sleep,
                                                               _queue_name=self.settings.queue_name))
        elif self.lib == "saq":
            self.loop.run_until_complete(self.queue.enqueue("noop", t0=t0, sleep=sleep, timeout=30))
        elif self.lib == "taskiq":
            self.loop.run_until_complete(self.task.kiq(t0, sleep))
        elif self.lib == "rq":
            self.queue.enqueue("queue_libraries.rq_noop", t0, sleep, job_timeout=30)


def _spawn(lib: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "queue_libraries", "worker", URL, lib], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def _wait_starts(lib: str, n: int, timeout: float) -> list[float]:
    key = f"{PREFIX}:{lib}:starts"
    deadline = time.time() + timeout
    while R.llen(key) < n:
        if time.time() > deadline:
            break
        time.sleep(0.002)
    return [float(x) for x in R.lrange(key, 0, -1)]


def _cleanup() -> None:
    for pattern in (f"{PREFIX}*", "arq:*", "saq:*", "rq:*", "taskiq*"):
        for key in R.scan_iter(pattern, count=1000):
            R.delete(key)


def measure(lib: str) -> str:
    _cleanup()
    producer = Producer(lib)
    worker = _spawn(lib)
    try:
        producer.send()  # warm-up: the worker is up once this job started
        if not _wait_starts(lib, 1, 60):
            return f"{lib}: worker did not start"
        R.delete(f"{PREFIX}:{lib}:starts")
        latencies = []
        for i in range(200):
            producer.send()
            got = _wait_starts(lib, i + 1, 30)
            latencies.append(got[-1])
        latencies.sort()
        R.delete(f"{PREFIX}:{lib}:starts")
        t = time.time()
        for _ in range(1000):
            producer.send()
        done = _wait_starts(lib, 1000, 300)
        rate = len(done) / (time.time() - t)
        R.delete(f"{PREFIX}:{lib}:starts")
        producer.send(sleep=5.0)  # kill -9 the worker while this job runs
        _wait_starts(lib, 1, 30)
        worker.kill()
        worker.wait()
        killed_at = time.time()
        R.delete(f"{PREFIX}:{lib}:starts")
        worker = _spawn(lib)
        again = _wait_starts(lib, 1, 90)
        redelivery = f"{time.time() - killed_at:.1f} s" if again else "lost"
        return (f"{lib}: latency median {statistics.median(latencies) * 1000:.1f} ms p99 "
                f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms  throughput {rate:.0f} jobs/s  "
                f"redelivery after kill -9: {redelivery}")
    finally:
        worker.kill()
        worker.wait()
        _cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        run_worker(sys.argv[3])
    else:
        for name in os.environ.get("QBENCH_LIBS", ",".join(LIBS)).split(","):
            print(measure(name), flush=True)

"""The queue that carries job ids from whoever creates a job to the workers: dramatiq.

Two brokers, one code path (``docs/jobs.md`` says why dramatiq):

* embedded default (no ``queue_url``): dramatiq's in-memory ``StubBroker``, consumed by worker
  threads inside the server process. Messages do not survive the process, and need not: the job
  rows do, and the runtime sends every queued job again when it starts.
* ``queue_url=redis://...``: dramatiq's ``RedisBroker``. The server only sends; ``datamint server
  worker`` processes (any host sharing the database, the blob store and Redis) consume.

Only the job's id travels; the row in the database is the source of truth. dramatiq's own
retries, time limits and age limits are off (its middleware list is empty): attempts, leases and
cancellation are decided on the job row, where every process sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

_LOG = logging.getLogger("datamint.server.jobs")
QUEUE_NAME = "jobs"
#: Longest pause (ms) of a consumer between two looks at an empty queue (dramatiq backs off up to
#: this while idle): bounds the enqueue→start latency of a job sent to an idle worker.
WORKER_TIMEOUT_MS = 100


class JobQueue:
    """A dramatiq broker with the one actor that runs jobs.

    Args:
        url: ``redis://...`` (or ``rediss://``, ``unix://``) for Redis; ``None`` for the in-process queue.
        namespace: Prefix of the Redis keys.
        execute: Called with a job id by the worker thread that received it.

    Raises:
        ValueError: ``url`` is not a Redis URL.
    """

    def __init__(self, url: str | None, namespace: str, execute: Callable[[str], None]) -> None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"Unsupported queue URL {url!r}: use redis://host:6379/0 (or leave it unset for the "
                             "in-process queue)")
        self.url = url
        self.broker: dramatiq.Broker = (RedisBroker(url=url, namespace=f"{namespace}-jobs", middleware=[])
                                        if url else StubBroker(middleware=[]))
        self.actor = dramatiq.Actor(execute, broker=self.broker, actor_name="run_job", queue_name=QUEUE_NAME,
                                    priority=0, options={})
        self._worker: dramatiq.Worker | None = None

    @property
    def embedded(self) -> bool:
        """Whether messages live in this process only."""
        return self.url is None

    def send(self, job_id: str) -> None:
        """Queue the job ``job_id`` for a worker."""
        self.actor.send(job_id)

    def start_workers(self, threads: int) -> None:
        """Consume in this process with ``threads`` worker threads (no-op for 0)."""
        if threads <= 0 or self._worker is not None:
            return
        worker = dramatiq.Worker(self.broker, worker_timeout=WORKER_TIMEOUT_MS, worker_threads=threads)
        # Take no more messages than there are threads: a long job must not hold queued messages
        # that an idle worker process could run.
        worker.queue_prefetch = threads
        worker.start()
        self._worker = worker

    def stop_workers(self, timeout_s: float = 5.0) -> None:
        """Stop consuming; running jobs get ``timeout_s`` to end (the runtime releases the rest)."""
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout_s * 1000))
            self._worker = None

    def close(self) -> None:
        """Stop the workers and close the broker's connections."""
        self.stop_workers()
        self.broker.close()

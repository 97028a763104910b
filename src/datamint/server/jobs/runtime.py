"""The jobs runtime of one process: the queue, the workers (if this process runs any) and the sweeper.

* The server on the embedded default: ``JobRuntime(...).start(threads)`` runs worker threads and
  the sweeper inside the server; at start it sends every queued job again (the in-process queue
  was empty), so jobs queued before a restart run after it.
* The server with ``queue_url``: ``start(0)`` — it only sends job ids to Redis.
* ``datamint server worker``: ``start(threads)`` on the Redis queue, in its own process.

The sweeper (every ``job_sweep_interval_s``, in every process that runs workers) re-queues running
jobs whose lease ran out — their worker was killed — or fails them after their last attempt, and
sends again jobs that stayed queued past ``job_redispatch_s`` (a message lost with a flushed
Redis). Several sweepers may run at once: each change is a conditional write, so one wins.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datamint.imaging.limits import decode_limits
from datamint.server.db.base import utcnow
from datamint.server.jobs import registry
from datamint.server.jobs import repository as repo
from datamint.server.jobs.context import JobContext
from datamint.server.jobs.queue import JobQueue
from datamint.server.jobs.runner import Runner, run_cleanup

if TYPE_CHECKING:
    from datamint.server.config import Settings
    from datamint.server.db.session import Database
    from datamint.server.jobs.models import Job
    from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.jobs")


def new_worker_id() -> str:
    """``host:pid:random``: unique per process start, readable in logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]


class JobRuntime:
    """Queue, workers and sweeper of one process.

    Args:
        database: The database. store: The blob store.
        settings: ``queue_url``, ``queue_namespace``, ``job_lease_s``, ``job_sweep_interval_s``,
            ``job_redispatch_s`` are read.
    """

    def __init__(self, database: Database, store: BlobStore, settings: Settings) -> None:
        self.database = database
        self.store = store
        self.lease_s = settings.job_lease_s
        self.sweep_interval_s = settings.job_sweep_interval_s
        self.redispatch_s = settings.job_redispatch_s
        self.worker_id = new_worker_id()
        self.runner = Runner(database, store, self.worker_id, self.lease_s)
        self.limits = settings.decode_limits
        self.queue = JobQueue(settings.queue_url, settings.queue_namespace, self._run)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self.threads = 0

    def _run(self, job_id: str) -> None:
        """Run one job with the server's decoded-size limits in force."""
        with decode_limits(self.limits):
            self.runner.run(job_id)

    # -- sending ---------------------------------------------------------------------------------

    def send(self, job_ids: Sequence[str]) -> None:
        """Send jobs (already stamped as sent, e.g. at creation) to the queue."""
        for job_id in job_ids:
            self.queue.send(job_id)

    def redispatch(self, sent_before: datetime | None) -> list[str]:
        """Send again the queued jobs never sent or sent before ``sent_before`` (``None``: all queued)."""
        now = utcnow()
        with self.database.transaction() as session:
            candidates = repo.undelivered(session, sent_before or now + timedelta(days=1))
            ids = repo.mark_sent(session, candidates, sent_before, now) if candidates else []
        self.send(ids)
        return ids

    # -- running ---------------------------------------------------------------------------------

    def start(self, threads: int) -> None:
        """Run ``threads`` worker threads and the sweeper in this process (``0``: only send jobs)."""
        self.threads = threads
        if threads <= 0:
            return
        self.queue.start_workers(threads)
        if self.queue.embedded:
            self.redispatch(None)  # the in-process queue starts empty: every queued job goes in again
        self._sweeper = threading.Thread(target=self._sweep_forever, name="jobs-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop the sweeper and the workers; jobs still running go back to the queue for the next start."""
        self._stop.set()
        running = self.runner.running
        if running:  # released first: the handlers see at their next check that the job is not theirs
            with self.database.transaction() as session:
                released = repo.release(session, self.worker_id, running)
                for job_id in released:
                    repo.append_log(session, job_id, [("info", f"worker {self.worker_id} stopped; job re-queued")])
        self.queue.stop_workers()
        self.queue.close()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self.sweep_interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a failed sweep is retried at the next interval
                _LOG.warning("jobs sweep failed", exc_info=True)

    def sweep(self) -> dict[str, list[str]]:
        """One pass: handle expired leases, then send stale queued jobs again.

        Returns:
            ``{"requeued": [...], "failed": [...], "cancelled": [...], "resent": [...]}`` job ids.
        """
        now = utcnow()
        outcome: dict[str, list[str]] = {"requeued": [], "failed": [], "cancelled": [], "resent": []}
        with self.database.transaction() as session:
            expired = repo.expired(session, now)
        for job in expired:
            status = self._expire(job, now)
            if status:
                outcome[status].append(job.id)
        self.send(outcome["requeued"])
        outcome["resent"] = self.redispatch(now - timedelta(seconds=self.redispatch_s))
        return outcome

    def _expire(self, job: Job, now: datetime) -> str | None:
        lost = f"worker {job.lease_owner} stopped renewing its lease during attempt {job.attempt}"
        with self.database.transaction() as session:
            if not job.cancel_requested and repo.requeue_expired(session, job, now):
                repo.append_log(session, job.id, [("warning", f"{lost}; re-queued")])
                return "requeued"
            status = "cancelled" if job.cancel_requested else "failed"
            message = (f"The job's worker was lost (killed or crashed) during attempt {job.attempt} of "
                       f"{job.max_attempts}, its last; nothing it did was kept. Run it again.")
            if not repo.end_expired(session, job, now, status, message):
                return None
            repo.append_log(session, job.id, [("error" if status == "failed" else "info",
                                               f"{lost}; {status}" + (f": {message}" if status == "failed" else ""))])
        kind = registry.get(job.kind)
        if kind is not None:
            run_cleanup(kind, JobContext(job, self.database, self.store, self.worker_id, self.lease_s))
        return status

    def cleanup(self, job: Job) -> None:
        """Run the cleanup of ``job``'s kind (for a job cancelled while queued)."""
        kind = registry.get(job.kind)
        if kind is not None:
            run_cleanup(kind, JobContext(job, self.database, self.store, self.worker_id, self.lease_s))

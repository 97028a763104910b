"""Runs one job in a worker thread: claim it, keep its lease alive, call its handler, record the end.

The lifecycle, every step a conditional write on the job row (see ``repository``)::

    queued ──claim──▶ running ──handler returns──▶ completed
      │                  │ ├─handler raises──────▶ failed      (cleanup runs first)
      │                  │ └─ctx.check_cancelled─▶ cancelled   (cleanup runs first)
      │                  └─lease expires (worker killed)──▶ queued again, or failed after the
      │                                                      last attempt (the sweeper decides)
      └─cancel──▶ cancelled
"""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from datamint.server.db.base import utcnow
from datamint.server.errors import AppError, public_message, server_dirs
from datamint.server.jobs import registry, wakeups
from datamint.server.jobs import repository as repo
from datamint.server.jobs.context import JobCancelled, JobContext, JobLost

if TYPE_CHECKING:
    from datamint.server.db.session import Database
    from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.jobs")


def where(exc: BaseException) -> str:
    """Where an exception was raised: ``module.py:line in function`` of its innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"[:500]


def describe(exc: BaseException) -> str:
    """The message a user reads for a handler's exception."""
    if isinstance(exc, AppError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Heartbeat(threading.Thread):
    """Renews a running job's lease every third of it and notices cancellation and takeover."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__(name=f"heartbeat-{ctx.job_id[:8]}", daemon=True)
        self.ctx = ctx
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(self.ctx.lease_s / 3, 0.1)
        while not self.stopped.wait(interval):
            try:
                with self.ctx.database.transaction() as session:
                    owned, cancel = repo.renew(session, self.ctx.job_id, self.ctx.worker_id, self.ctx.lease_until())
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next beat
                _LOG.warning("job %s: lease renewal failed", self.ctx.job_id, exc_info=True)
                continue
            if not owned:
                self.ctx.mark_lost()
                return
            if cancel:
                self.ctx.mark_cancel_requested()

    def stop(self) -> None:
        """Stop renewing."""
        self.stopped.set()


class Runner:
    """Executes jobs for one worker identity.

    Args:
        database: The database. store: The blob store.
        worker_id: Who owns the leases this runner takes.
        lease_s: Length of a lease.
    """

    def __init__(self, database: Database, store: BlobStore, worker_id: str, lease_s: float) -> None:
        self.database = database
        self.store = store
        self.worker_id = worker_id
        self.lease_s = lease_s
        self._running: set[str] = set()
        self._lock = threading.Lock()

    @property
    def running(self) -> list[str]:
        """Ids of the jobs this runner is executing now."""
        with self._lock:
            return sorted(self._running)

    def run(self, job_id: str) -> None:
        """Run the job ``job_id`` if it is still queued (duplicate messages are dropped here).

        Never raises: a failure to even claim the job (the database unreachable) is logged, and the
        job, still queued, is sent again by a later sweep.
        """
        try:
            self._run(job_id)
        except Exception:  # noqa: BLE001 - the queue must not retry or dead-letter: the row decides
            _LOG.exception("job %s: could not be run", job_id)

    def _run(self, job_id: str) -> None:
        with self.database.transaction() as session:
            if not repo.claim(session, job_id, self.worker_id, utcnow() + timedelta(seconds=self.lease_s)):
                return
            job = repo.get_any(session, job_id)
            assert job is not None
            repo.append_log(session, job_id, [("info", f"attempt {job.attempt} of {job.max_attempts} started "
                                                       f"on {self.worker_id}")])
        wakeups.notify(job_id)
        ctx = JobContext(job, self.database, self.store, self.worker_id, self.lease_s)
        with self._lock:
            self._running.add(job_id)
        heartbeat = Heartbeat(ctx)
        heartbeat.start()
        try:
            self._execute(ctx)
        finally:
            heartbeat.stop()
            with self._lock:
                self._running.discard(job_id)

    def _execute(self, ctx: JobContext) -> None:
        kind = registry.get(ctx.kind)
        if kind is None:
            self._end(ctx, None, "failed", f"No handler for job kind {ctx.kind!r} on worker {self.worker_id}: "
                      "start the worker with the module that registers it (datamint server worker --import ...)",
                      "worker")
            return
        try:
            ctx.check_cancelled()
            result = kind.handler(ctx)
            if not ctx.completed:
                with ctx.transaction() as session:
                    ctx.complete(session, result)
        except JobLost:
            _LOG.info("job %s: another worker owns it now; attempt %d abandoned", ctx.job_id, ctx.attempt)
        except JobCancelled:
            self._end(ctx, kind, "cancelled", None, None)
        except Exception as exc:  # noqa: BLE001 - any handler failure ends the job, with its reason
            _LOG.info("job %s (%s) failed", ctx.job_id, ctx.kind, exc_info=True)
            hidden = server_dirs(store=self.store)  # the job's creator reads these: no server files, no reprs
            self._log(ctx, "error", public_message("".join(traceback.format_exception(exc)).rstrip(), hidden))
            self._end(ctx, kind, "failed", public_message(describe(exc), hidden), where(exc))

    def _end(self, ctx: JobContext, kind: registry.JobKind | None, status: str, message: str | None,
             where_: str | None) -> None:
        if kind is not None and kind.cleanup is not None:
            run_cleanup(kind, ctx)
        with self.database.transaction() as session:
            ended = repo.finish(session, ctx.job_id, self.worker_id, status, error_message=message, error_where=where_)
            if ended:
                repo.append_log(session, ctx.job_id, [("error" if status == "failed" else "info",
                                                       status + (f": {message}" if message else ""))])
        wakeups.notify(ctx.job_id)

    def _log(self, ctx: JobContext, level: str, line: str) -> None:
        with self.database.transaction() as session:
            repo.append_log(session, ctx.job_id, [(level, line)])


def run_cleanup(kind: registry.JobKind, ctx: JobContext) -> None:
    """Run ``kind``'s cleanup for the job of ``ctx``; a failing cleanup is logged on the job."""
    if kind.cleanup is None:
        return
    try:
        kind.cleanup(ctx)
    except Exception as exc:  # noqa: BLE001 - the job still ends; its log says what stayed behind
        _LOG.warning("job %s: cleanup failed", ctx.job_id, exc_info=True)
        with ctx.database.transaction() as session:
            repo.append_log(session, ctx.job_id, [("error", f"cleanup failed: {describe(exc)}")])


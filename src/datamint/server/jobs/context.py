"""What a job handler receives: its parameters, the blob store, and the way to talk to its job row.

A handler reports progress (``ctx.progress``), writes log lines (``ctx.log``), stops between steps
when asked (``ctx.check_cancelled``), and writes its results in :meth:`JobContext.transaction`
blocks, which commit only while the job is still its own and not cancelled. A handler whose last
transaction also marks the job completed (:meth:`JobContext.complete`) is exactly-once: a crash
after that commit leaves a completed job, a crash before it leaves nothing committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from datamint.server.auth import repository as auth_repo
from datamint.server.auth.service import Principal
from datamint.server.db.base import utcnow
from datamint.server.errors import NotFoundError
from datamint.server.jobs import repository as repo
from datamint.server.jobs import wakeups

if TYPE_CHECKING:
    from datamint.server.db.session import Database
    from datamint.server.jobs.models import Job
    from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.jobs")
#: Least seconds between two progress writes (the last one of a step is always written).
PROGRESS_INTERVAL_S = 0.2
#: Most seconds before a cancellation reaches a handler that calls ``check_cancelled`` often.
CANCEL_POLL_S = 0.5


class JobCancelled(Exception):  # noqa: N818 - a signal, not an error
    """Raised by :meth:`JobContext.check_cancelled` when someone cancelled the job."""


class JobLost(Exception):  # noqa: N818 - a signal, not an error
    """Raised when the worker no longer owns the job (its lease ran out and it was re-queued)."""


class JobContext:
    """The running job as its handler sees it.

    Attributes:
        job_id: The job's id. kind: Its kind. params: Its parameters (a dict, as submitted).
        attempt: 1 for the first run, 2 after a worker died once, ...
        customer_id / project_id / created_by / created_by_email: Whose job it is.
        checkpoint: What an earlier attempt saved with :meth:`save_checkpoint` (``{}`` at first).
        database: The database (open your own sessions with :meth:`transaction` or ``database.session()``).
        store: The blob store.
        worker_id: Who runs it.
    """

    def __init__(self, job: Job, database: Database, store: BlobStore, worker_id: str, lease_s: float) -> None:
        self.job_id = job.id
        self.kind = job.kind
        self.params: dict[str, Any] = dict(job.params or {})
        self.attempt = job.attempt
        self.customer_id = job.customer_id
        self.project_id = job.project_id
        self.created_by = job.created_by
        self.created_by_email = job.created_by_email
        self.checkpoint: dict[str, Any] = dict(job.checkpoint or {})
        self.database = database
        self.store = store
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.completed = False
        self._cancel_requested = threading.Event()
        self._lost = threading.Event()
        self._last_progress = 0.0
        self._last_poll = time.monotonic()
        self._progress: tuple[int, int | None, str] = (job.progress_done, job.progress_total, job.progress_message)

    # -- signals from the heartbeat ---------------------------------------------------------------

    def mark_cancel_requested(self) -> None:
        """Called by the heartbeat when the job row says a cancellation was asked."""
        self._cancel_requested.set()

    def mark_lost(self) -> None:
        """Called by the heartbeat when this worker no longer owns the job."""
        self._lost.set()

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel the job (seen at the last heartbeat or write)."""
        return self._cancel_requested.is_set()

    def check_cancelled(self) -> None:
        """Stop here if the job was cancelled or taken over; call it between steps.

        Raises:
            JobCancelled: Someone cancelled the job.
            JobLost: Another worker owns the job now.
        """
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_S and not (self._lost.is_set() or self._cancel_requested.is_set()):
            self._last_poll = now
            with self.database.transaction() as session:
                owned, cancel = repo.cancel_state(session, self.job_id, self.worker_id)
            if not owned:
                self._lost.set()
            elif cancel:
                self._cancel_requested.set()
        if self._lost.is_set():
            raise JobLost(self.job_id)
        if self._cancel_requested.is_set():
            raise JobCancelled(self.job_id)

    # -- reporting ---------------------------------------------------------------------------------

    def progress(self, done: int, total: int | None = None, message: str | None = None, *,
                 force: bool = False) -> None:
        """Report progress (``done`` of ``total`` steps, and what is happening), then check for
        cancellation. Writes are throttled to one per 0.2 s, except when ``done == total``, the
        message changes, or ``force``.

        Raises:
            JobCancelled: Someone cancelled the job.
            JobLost: Another worker owns the job now.
        """
        text = self._progress[2] if message is None else message
        changed = text != self._progress[2] or (total is not None and done >= total)
        self._progress = (done, total, text)
        now = time.monotonic()
        if force or changed or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            with self.database.transaction() as session:
                if not repo.set_progress(session, self.job_id, self.worker_id, done, total, text):
                    self._lost.set()
            wakeups.notify(self.job_id)
        self.check_cancelled()

    def log(self, line: str, level: str = "info") -> None:
        """Append a line to the job's log (timestamped; ``GET /jobs/{id}/logs`` and ``datamint jobs logs``)."""
        with self.database.transaction() as session:
            repo.append_log(session, self.job_id, [(level, str(line))])
        wakeups.notify(self.job_id)

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save what the next attempt (or the cleanup) needs to know, e.g. blobs about to be written.

        Raises:
            JobLost: Another worker owns the job now.
        """
        with self.database.transaction() as session:
            if not repo.set_checkpoint(session, self.job_id, self.worker_id, checkpoint):
                raise JobLost(self.job_id)
        self.checkpoint = dict(checkpoint)

    # -- writing results ---------------------------------------------------------------------------

    def creator(self, again: str = "start it again") -> Principal:
        """The job's creator, as the principal the job acts for (their permissions as they are now).

        Raises:
            NotFoundError: The creator was deleted (or is no longer of the job's organization); the message
                ends with ``again``, what the user should do.
        """
        with self.database.transaction() as session:
            user = auth_repo.get_user(session, self.created_by) if self.created_by else None
            if user is None or user.customer_id != self.customer_id:
                raise NotFoundError("User", f"User not found: the job's creator was deleted; {again}")
            return Principal(user.id, user.email, user.customer_id, tuple(user.roles or ()))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose commit happens only while the job is still this worker's and not cancelled.

        Raises:
            JobCancelled: The job was cancelled before the commit (nothing is committed).
            JobLost: Another worker owns the job now (nothing is committed).
        """
        self._completing = False
        with self.database.transaction() as session:
            yield session
            if not session.info.pop("job_completed", False):
                self._fence(session)
        if self._completing:
            self.completed, self._completing = True, False
            wakeups.notify(self.job_id)

    def complete(self, session: Session, result: dict[str, Any] | None = None) -> None:
        """Mark the job completed with ``result`` in the same transaction as the handler's writes.

        Call it last inside :meth:`transaction`; the handler's return value is then ignored.

        Raises:
            JobCancelled: The job was cancelled meanwhile (the transaction is rolled back).
            JobLost: Another worker owns the job now (the transaction is rolled back).
        """
        self._fence(session)
        if not repo.finish(session, self.job_id, self.worker_id, "completed", result=result):
            self._lost.set()
            raise JobLost(self.job_id)
        repo.append_log(session, self.job_id, [("info", "completed")])
        session.info["job_completed"] = True
        self._completing = True

    _completing = False

    def _fence(self, session: Session) -> None:
        session.flush()
        if repo.owned_and_live(session, self.job_id, self.worker_id):
            return
        self._completing = False
        job = repo.get_any(session, self.job_id)
        if job is not None and job.cancel_requested and job.lease_owner == self.worker_id:
            self._cancel_requested.set()
            raise JobCancelled(self.job_id)
        self._lost.set()
        raise JobLost(self.job_id)

    def lease_until(self) -> Any:
        """When a lease taken now ends."""
        return utcnow() + timedelta(seconds=self.lease_s)

"""SQL of the jobs area. Every state change is one conditional UPDATE, so the database decides races.

A worker owns a job while ``status = 'running' AND lease_owner = <worker>``; every write a worker
makes (progress, checkpoint, finish) carries that condition and reports whether it still held, so
a worker whose lease was taken over (it stalled past its lease and the job was re-queued) cannot
overwrite the new attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from datamint.server.db.base import utcnow
from datamint.server.jobs.models import Job, JobLog

#: Log lines kept per job; later lines are dropped (one last line says so).
MAX_LOG_LINES = 20_000
MAX_LINE_CHARS = 4000


def get(session: Session, customer_id: str, job_id: str) -> Job | None:
    """The job ``job_id`` of organization ``customer_id``."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.customer_id == customer_id))


def get_any(session: Session, job_id: str) -> Job | None:
    """The job ``job_id`` (workers are not acting for an organization)."""
    return session.get(Job, job_id, populate_existing=True)


def active_with_key(session: Session, customer_id: str, kind: str, dedupe_key: str) -> Job | None:
    """The unfinished job of ``kind`` holding ``dedupe_key``, if any."""
    return session.scalar(select(Job).where(Job.customer_id == customer_id, Job.kind == kind,
                                            Job.dedupe_key == dedupe_key, Job.status.in_(("queued", "running"))))


def visibility(customer_id: str, user_id: str | None, project_ids: Sequence[str]) -> ColumnElement[bool]:
    """Jobs of the organization created by ``user_id`` or in ``project_ids`` (``user_id=None``: all)."""
    condition = Job.customer_id == customer_id
    if user_id is None:
        return condition
    mine = or_(Job.created_by == user_id, Job.project_id.in_(list(project_ids))) if project_ids else \
        Job.created_by == user_id
    return and_(condition, mine)


def list_jobs(session: Session, visible: ColumnElement[bool], *, kind: str | None, status: str | None,
              project_id: str | None, creator: str | None, offset: int, limit: int) -> tuple[list[Job], int]:
    """A page of the visible jobs matching the filters, newest first, and their total."""
    conditions = [visible]
    if kind:
        conditions.append(Job.kind == kind)
    if status:
        conditions.append(Job.status == status)
    if project_id:
        conditions.append(Job.project_id == project_id)
    if creator:
        conditions.append(or_(Job.created_by == creator, func.lower(Job.created_by_email) == creator.lower()))
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    rows = session.scalars(select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id)
                           .offset(offset).limit(limit))
    return list(rows), total


def _owned(job_id: str, worker: str) -> list[ColumnElement[bool]]:
    return [Job.id == job_id, Job.status == "running", Job.lease_owner == worker]


def claim(session: Session, job_id: str, worker: str, lease_until: datetime) -> bool:
    """Take a queued job for ``worker`` (attempt + 1); False when it is not queued (any more)."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "queued", Job.cancel_requested == false())
        .values(status="running", attempt=Job.attempt + 1, lease_owner=worker, lease_expires_at=lease_until,
                started_at=func.coalesce(Job.started_at, now), updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def renew(session: Session, job_id: str, worker: str, lease_until: datetime) -> tuple[bool, bool]:
    """Extend ``worker``'s lease: ``(still owned, cancellation requested)``."""
    result = session.execute(
        update(Job).where(*_owned(job_id, worker)).values(lease_expires_at=lease_until)
        .returning(Job.cancel_requested).execution_options(synchronize_session=False))
    row = result.first()
    return (row is not None, bool(row[0]) if row is not None else False)


def cancel_state(session: Session, job_id: str, worker: str) -> tuple[bool, bool]:
    """``(still owned by worker, cancellation requested)``, read without writing."""
    row = session.execute(select(Job.status, Job.lease_owner, Job.cancel_requested).where(Job.id == job_id)).first()
    if row is None:
        return False, False
    return (row[0] == "running" and row[1] == worker), bool(row[2])


def set_progress(session: Session, job_id: str, worker: str, done: int, total: int | None, message: str) -> bool:
    """Record progress; False when ``worker`` no longer owns the job."""
    result = session.execute(
        update(Job).where(*_owned(job_id, worker))
        .values(progress_done=done, progress_total=total, progress_message=message[:500], updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def set_checkpoint(session: Session, job_id: str, worker: str, checkpoint: dict[str, Any]) -> bool:
    """Save the handler's checkpoint; False when ``worker`` no longer owns the job."""
    result = session.execute(update(Job).where(*_owned(job_id, worker)).values(checkpoint=checkpoint)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def owned_and_live(session: Session, job_id: str, worker: str) -> bool:
    """Lock the job's row and tell whether ``worker`` still owns it and nobody asked to cancel it.

    Called inside a handler's transaction just before it commits, so the handler's writes commit
    only while the job is still its own (PostgreSQL: row lock until the commit; SQLite: the write
    takes the database's write lock).
    """
    result = session.execute(
        update(Job).where(*_owned(job_id, worker), Job.cancel_requested == false()).values(updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def finish(session: Session, job_id: str, worker: str, status: str, *, result: dict[str, Any] | None = None,
           error_message: str | None = None, error_where: str | None = None) -> bool:
    """End ``worker``'s attempt with a terminal ``status``; False when it no longer owned the job."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now, "lease_owner": None,
                              "lease_expires_at": None, "result": result, "error_message": error_message,
                              "error_where": error_where}
    if status == "completed":
        values["progress_done"] = func.coalesce(Job.progress_total, Job.progress_done)
    done = session.execute(update(Job).where(*_owned(job_id, worker)).values(**values)
                           .execution_options(synchronize_session=False))
    return done.rowcount == 1


def release(session: Session, worker: str, job_ids: Sequence[str]) -> list[str]:
    """Give the running jobs of a stopping ``worker`` back to the queue, without counting the attempt."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id.in_(list(job_ids)), Job.status == "running", Job.lease_owner == worker)
        .values(status="queued", attempt=Job.attempt - 1, lease_owner=None, lease_expires_at=None,
                dispatched_at=None, updated_at=now)
        .returning(Job.id).execution_options(synchronize_session=False))
    return [row[0] for row in result]


def cancel_queued(session: Session, job_id: str) -> bool:
    """Cancel a job that has not started; False when it is not queued."""
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def request_cancel(session: Session, job_id: str) -> bool:
    """Ask the worker of a running job to stop; False when it is not running."""
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running")
        .values(cancel_requested=True, updated_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def expired(session: Session, now: datetime, limit: int = 100) -> list[Job]:
    """Running jobs whose lease ran out (their worker died or stalled)."""
    return list(session.scalars(select(Job).where(Job.status == "running", Job.lease_expires_at < now)
                                .order_by(Job.lease_expires_at).limit(limit)))


def requeue_expired(session: Session, job: Job, now: datetime) -> bool:
    """Put an expired job back in the queue if attempts remain; False if it changed meanwhile."""
    result = session.execute(
        update(Job).where(Job.id == job.id, Job.status == "running", Job.lease_owner == job.lease_owner,
                          Job.lease_expires_at < now, Job.attempt < Job.max_attempts,
                          Job.cancel_requested == false())
        .values(status="queued", lease_owner=None, lease_expires_at=None, dispatched_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def end_expired(session: Session, job: Job, now: datetime, status: str, message: str) -> bool:
    """End an expired job that may not run again (last attempt, or cancellation asked)."""
    result = session.execute(
        update(Job).where(Job.id == job.id, Job.status == "running", Job.lease_owner == job.lease_owner,
                          Job.lease_expires_at < now)
        .values(status=status, lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now,
                error_message=message if status == "failed" else None,
                error_where="worker lost" if status == "failed" else None)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def undelivered(session: Session, sent_before: datetime, limit: int = 500) -> list[str]:
    """Ids of queued jobs never sent, or sent before ``sent_before`` (their message may be lost)."""
    return list(session.scalars(select(Job.id).where(
        Job.status == "queued", or_(Job.dispatched_at.is_(None), Job.dispatched_at < sent_before))
        .order_by(Job.created_at).limit(limit)))


def mark_sent(session: Session, job_ids: Sequence[str], sent_before: datetime | None, now: datetime) -> list[str]:
    """Stamp jobs as sent now; only those still queued (and, with ``sent_before``, not sent since)."""
    conditions = [Job.id.in_(list(job_ids)), Job.status == "queued"]
    if sent_before is not None:
        conditions.append(or_(Job.dispatched_at.is_(None), Job.dispatched_at < sent_before))
    result = session.execute(update(Job).where(*conditions).values(dispatched_at=now)
                             .returning(Job.id).execution_options(synchronize_session=False))
    return [row[0] for row in result]


def append_log(session: Session, job_id: str, lines: Sequence[tuple[str, str]]) -> int:
    """Append ``(level, line)`` pairs to a job's log; returns how many were kept."""
    if not lines:
        return 0
    result = session.execute(update(Job).where(Job.id == job_id).values(log_count=Job.log_count + len(lines))
                             .returning(Job.log_count).execution_options(synchronize_session=False))
    row = result.first()
    if row is None:
        return 0
    last = int(row[0])
    first = last - len(lines) + 1
    now = utcnow()
    kept = []
    for seq, (level, line) in enumerate(lines, start=first):
        if seq > MAX_LOG_LINES:
            break
        text = line if seq < MAX_LOG_LINES else f"log truncated: a job keeps at most {MAX_LOG_LINES} lines"
        kept.append(JobLog(job_id=job_id, seq=seq, at=now, level=level, line=text[:MAX_LINE_CHARS]))
    session.add_all(kept)
    return len(kept)


def read_logs(session: Session, job_id: str, after: int, limit: int) -> list[JobLog]:
    """Up to ``limit`` log lines with ``seq > after``, oldest first."""
    return list(session.scalars(select(JobLog).where(JobLog.job_id == job_id, JobLog.seq > after)
                                .order_by(JobLog.seq).limit(limit)))


def tail_logs(session: Session, job_id: str, count: int) -> list[JobLog]:
    """The last ``count`` log lines, oldest first."""
    rows = session.scalars(select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.seq.desc()).limit(count))
    return list(reversed(list(rows)))

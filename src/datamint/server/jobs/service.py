"""Rules of the jobs area: who sees which job, submitting, cancelling, and the wire shape.

Visibility (``policy.may_see_job``): a job's creator, the managers of its project (they hold
``project.jobs``) and the organization's admins see, follow and cancel it; for everybody else it
does not exist (404). Jobs are created by the area that owns the work (``submit``), never by a
generic route, so each kind is guarded by its own route's permission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import unit_of_work
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.jobs import registry
from datamint.server.jobs import repository as repo
from datamint.server.jobs.models import STATUSES, TERMINAL, Job, JobLog
from datamint.server.projects import repository as projects_repo

if TYPE_CHECKING:
    from datamint.server.jobs.runtime import JobRuntime

#: Most log lines one request returns.
MAX_LOG_PAGE = 5000


def submit(session: Session, runtime: JobRuntime, me: Principal, kind: str, params: dict[str, Any], *,
           project_id: str | None = None, dedupe_key: str | None = None, duplicate: str | None = None) -> Job:
    """Create a queued job in the caller's unit of work; it is sent to the queue once that commits.

    The caller has already checked that ``me`` may start this work (the route's permission).

    Args:
        session: The unit of work (the job exists only if it commits).
        runtime: The process's jobs runtime.
        me: Who starts the job (its creator).
        kind: A registered kind, ``<area>.<verb>``.
        params: JSON-serialisable parameters for the handler.
        project_id: The project the job works on (its managers then see the job too).
        dedupe_key: At most one unfinished job of ``kind`` holds this key (the database holds it):
            a second identical request gets a 409 naming the running job.
        duplicate: The 409's message (default: "A <kind> job for this is already queued or running").

    Returns:
        The new job (``status='queued'``).

    Raises:
        ConflictError: An unfinished job of ``kind`` holds ``dedupe_key`` (it is attached).
        ValueError: ``kind`` is not registered (a programming error, not a client's).
    """
    registered = registry.get(kind)
    if registered is None:
        raise ValueError(f"Job kind {kind!r} is not registered")
    job = Job(customer_id=me.customer_id, kind=kind, project_id=project_id, created_by=me.user_id,
              created_by_email=me.email, params=params, max_attempts=registered.max_attempts,
              dispatched_at=utcnow(), dedupe_key=f"{me.customer_id}:{dedupe_key}" if dedupe_key else None)
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        existing = repo.active_with_key(session, me.customer_id, kind, f"{me.customer_id}:{dedupe_key}")
        message = duplicate or f"A {kind} job for this is already queued or running"
        raise ConflictError(f"{message} (job {existing.id if existing else 'just finished'})",
                            existing=to_wire(existing) if existing else None)
    repo.append_log(session, job.id, [("info", f"queued by {me.email}")])
    job_id = job.id
    unit_of_work.after_commit(session, lambda: runtime.send([job_id]))
    return job


def _project_roles(session: Session, me: Principal, job: Job) -> list[str] | None:
    if job.project_id is None:
        return None
    member = projects_repo.get_member(session, job.project_id, me.user_id)
    return list(member.roles) if member else None


def visible_job(session: Session, me: Principal, job_id: str) -> Job:
    """The job ``job_id`` if the caller may see it.

    Raises:
        NotFoundError: No such job in the caller's organization, or the caller may not see it.
    """
    job = repo.get(session, me.customer_id, check_uuid(job_id, "job"))
    if job is None or not policy.may_see_job(me, _project_roles(session, me, job),
                                             is_creator=job.created_by == me.user_id):
        raise NotFoundError("Job")
    return job


def list_jobs(session: Session, me: Principal, *, kind: str | None, status: str | None, project_id: str | None,
              creator: str | None, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the jobs the caller may see, newest first, and their total.

    Raises:
        ValidationFailedError: Unknown ``status`` or a malformed ``project_id``.
    """
    if status is not None and status not in STATUSES:
        raise ValidationFailedError(f"Unknown job status {status!r}: use one of {', '.join(STATUSES)}")
    project_id = check_uuid(project_id, "project") if project_id else None
    if me.is_admin:
        visible = repo.visibility(me.customer_id, None, [])
    else:
        managed = [pid for pid, roles in projects_repo.roles_by_project(session, me.user_id).items()
                   if policy.project_allowed(me, roles, policy.ProjectAction.JOBS)]
        visible = repo.visibility(me.customer_id, me.user_id, managed)
    rows, total = repo.list_jobs(session, visible, kind=kind, status=status, project_id=project_id,
                                 creator=creator, offset=offset, limit=limit)
    return [to_wire(j) for j in rows], total


def cancel(session: Session, runtime: JobRuntime, me: Principal, job_id: str) -> Job:
    """Cancel a job: a queued one at once; a running one is asked to stop at its next step.

    Cancelling a job already cancelled is a no-op.

    Raises:
        NotFoundError: The caller may not see the job.
        ConflictError: The job already completed or failed.
    """
    job = visible_job(session, me, job_id)
    if repo.cancel_queued(session, job.id):
        repo.append_log(session, job.id, [("info", f"cancelled by {me.email} before it started")])
        # Its kind's cleanup runs even before a first attempt: a job may own files from its creation
        # (an inference job's sent files); cleanups remove only what the job recorded.
        unit_of_work.after_commit(session, lambda: runtime.cleanup(job))
    elif repo.request_cancel(session, job.id):
        repo.append_log(session, job.id, [("info", f"cancellation requested by {me.email}")])
    session.refresh(job)
    if job.status in TERMINAL and job.status != "cancelled":
        raise ConflictError(f"Job {job.id} already {job.status}; there is nothing to cancel", existing=to_wire(job))
    return job


def logs(session: Session, me: Principal, job_id: str, *, after: int, limit: int, tail: int | None
         ) -> dict[str, Any]:
    """Log lines of a visible job: after line ``after`` (at most ``limit``), or its last ``tail`` lines."""
    job = visible_job(session, me, job_id)
    rows = repo.tail_logs(session, job.id, tail) if tail else repo.read_logs(session, job.id, after, limit)
    return {"job_id": job.id, "status": job.status, "lines": [log_to_wire(r) for r in rows],
            "next_after": rows[-1].seq if rows else after, "total": job.log_count}


def log_to_wire(row: JobLog) -> dict[str, Any]:
    """One log line: ``{"seq", "at", "level", "line"}``."""
    return {"seq": row.seq, "at": iso(row.at), "level": row.level, "line": row.line}


def percentage(job: Job) -> int:
    """Progress as a whole percentage (100 once completed)."""
    if job.status == "completed":
        return 100
    if job.progress_total:
        return max(0, min(100, int(job.progress_done * 100 / job.progress_total)))
    return 0


def to_wire(job: Job) -> dict[str, Any]:
    """The wire shape of a job (also each SSE event's payload).

    ``status``, ``progress_percentage``, ``current_step`` and ``error_message`` are the names the
    official client's job entities read (wire §10).
    """
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "customer_id": job.customer_id,
        "project_id": job.project_id, "created_by": job.created_by_email, "created_by_id": job.created_by,
        "params": job.params,
        "progress": {"done": job.progress_done, "total": job.progress_total, "message": job.progress_message},
        "progress_percentage": percentage(job), "current_step": job.progress_message or None,
        "result": job.result, "error_message": job.error_message, "error_where": job.error_where,
        "attempt": job.attempt, "max_attempts": job.max_attempts, "cancel_requested": job.cancel_requested,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
        "updated_at": iso(job.updated_at), "log_count": job.log_count,
    }

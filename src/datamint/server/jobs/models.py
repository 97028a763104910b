"""Tables of the jobs area: a job (the source of truth of every background operation) and its log lines.

A job row holds everything about one operation: what to do (``kind``, ``params``), whose it is
(organization, project, creator), where it is (``status``, progress, ``attempt``), who runs it now
(``lease_owner`` until ``lease_expires_at``, renewed by the worker's heartbeat) and how it ended
(``result`` or ``error_message``/``error_where``); ``checkpoint`` is what a handler saved for its
next attempt or its cleanup (e.g. the blobs it is about to write). The queue only carries job ids; a message whose
job is no longer ``queued`` is dropped by the worker that receives it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, UtcDateTime, created_at_column, id_column

#: Every status a job can be in; the last three are terminal.
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
TERMINAL = frozenset({"completed", "failed", "cancelled"})


class Job(Base):
    """One background operation."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="status"),
        Index("ix_jobs_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_jobs_project_id", "project_id"),
        # At most one unfinished job per (kind, dedupe key): two identical requests get one job and a 409.
        Index("uq_jobs_kind_dedupe_key_active", "kind", "dedupe_key", unique=True,
              sqlite_where=text("status IN ('queued', 'running')"),
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(300))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_email: Mapped[str] = mapped_column(String(320))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column()
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column()
    error_message: Mapped[str | None] = mapped_column(Text)
    error_where: Mapped[str | None] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = created_at_column()
    log_count: Mapped[int] = mapped_column(Integer, default=0)


class JobLog(Base):
    """One log line of a job; ``seq`` numbers a job's lines from 1 (tail with ``after=<seq>``)."""

    __tablename__ = "job_logs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = created_at_column()
    level: Mapped[str] = mapped_column(String(10), default="info")
    line: Mapped[str] = mapped_column(Text)

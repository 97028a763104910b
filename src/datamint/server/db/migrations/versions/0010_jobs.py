"""Jobs: background operations (the source of truth of the jobs runtime) and their log lines.

Revision ID: 0010_jobs
Revises: 0009_web_sessions
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0010_jobs"
down_revision = "0009_web_sessions"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(300), nullable=True),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_by_email", sa.String(320), nullable=False),
        sa.Column("params", JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress_done", sa.BigInteger(), nullable=False),
        sa.Column("progress_total", sa.BigInteger(), nullable=True),
        sa.Column("progress_message", sa.String(500), nullable=False),
        sa.Column("result", JsonType, nullable=True),
        sa.Column("checkpoint", JsonType, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_where", sa.String(500), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", TZ, nullable=True),
        sa.Column("dispatched_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("log_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'completed', 'failed', 'cancelled')",
                           name="ck_jobs_status"),
        _fk("jobs", "customer_id", "organizations"),
        _fk("jobs", "project_id", "projects", ondelete="SET NULL"),
        _fk("jobs", "created_by", "users", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_customer_id_created_at", "jobs", ["customer_id", "created_at"])
    op.create_index("ix_jobs_status_lease_expires_at", "jobs", ["status", "lease_expires_at"])
    op.create_index("ix_jobs_project_id", "jobs", ["project_id"])
    active = sa.text("status IN ('queued', 'running')")
    op.create_index("uq_jobs_kind_dedupe_key_active", "jobs", ["kind", "dedupe_key"], unique=True,
                    sqlite_where=active, postgresql_where=active)
    op.create_table(
        "job_logs",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        _fk("job_logs", "job_id", "jobs"),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_job_logs"),
    )


def downgrade() -> None:
    op.drop_table("job_logs")
    op.drop_index("uq_jobs_kind_dedupe_key_active", table_name="jobs")
    op.drop_index("ix_jobs_project_id", table_name="jobs")
    op.drop_index("ix_jobs_status_lease_expires_at", table_name="jobs")
    op.drop_index("ix_jobs_customer_id_created_at", table_name="jobs")
    op.drop_table("jobs")

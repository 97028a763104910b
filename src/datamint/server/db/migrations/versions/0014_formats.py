"""Formats: export archives kept for download, import sessions and their files (issue 15).

Revision ID: 0014_formats
Revises: 0013_models
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0014_formats"
down_revision = "0013_models"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "export_archives",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        _fk("export_archives", "job_id", "jobs"),
        _fk("export_archives", "customer_id", "organizations"),
        sa.PrimaryKeyConstraint("job_id", name="pk_export_archives"),
    )
    op.create_index("ix_export_archives_expires_at", "export_archives", ["expires_at"])
    op.create_index("ix_export_archives_token_hash", "export_archives", ["token_hash"], unique=True)
    op.create_table(
        "import_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("worklist_id", sa.String(36), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_by_email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", JsonType, nullable=True),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        _fk("import_sessions", "customer_id", "organizations"),
        _fk("import_sessions", "project_id", "projects"),
        _fk("import_sessions", "worklist_id", "annotation_worklists", ondelete="SET NULL"),
        _fk("import_sessions", "job_id", "jobs", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_import_sessions"),
    )
    op.create_index("ix_import_sessions_customer_id_created_at", "import_sessions", ["customer_id", "created_at"])
    op.create_table(
        "import_files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        _fk("import_files", "session_id", "import_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_import_files"),
    )
    op.create_index("uq_import_files_session_id_name", "import_files", ["session_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_import_files_session_id_name", table_name="import_files")
    op.drop_table("import_files")
    op.drop_index("ix_import_sessions_customer_id_created_at", table_name="import_sessions")
    op.drop_table("import_sessions")
    op.drop_index("ix_export_archives_token_hash", table_name="export_archives")
    op.drop_index("ix_export_archives_expires_at", table_name="export_archives")
    op.drop_table("export_archives")

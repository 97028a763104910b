"""Transport hardening (issue 9 §7): failed authentications counted in the database (every worker
sees them) and upload idempotency keys.

Revision ID: 0011_transport
Revises: 0010_jobs
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_transport"
down_revision = "0010_jobs"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("failed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_failures"),
    )
    op.create_index("ix_auth_failures_client_failed_at", "auth_failures", ["client", "failed_at"])
    op.create_index("ix_auth_failures_failed_at", "auth_failures", ["failed_at"])
    op.create_table(
        "upload_idempotency",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("idem_key", sa.String(255), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("duplicate_of", sa.String(36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_upload_idempotency_user_id_users"),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="CASCADE",
                                name="fk_upload_idempotency_resource_id_resources"),
        sa.PrimaryKeyConstraint("id", name="pk_upload_idempotency"),
        sa.UniqueConstraint("user_id", "idem_key", name="uq_upload_idempotency_user_id_idem_key"),
    )
    op.create_index("ix_upload_idempotency_created_at", "upload_idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_upload_idempotency_created_at", table_name="upload_idempotency")
    op.drop_table("upload_idempotency")
    op.drop_index("ix_auth_failures_failed_at", table_name="auth_failures")
    op.drop_index("ix_auth_failures_client_failed_at", table_name="auth_failures")
    op.drop_table("auth_failures")

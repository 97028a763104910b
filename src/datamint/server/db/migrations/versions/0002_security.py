"""Security: invitations and the audit trail.

Revision ID: 0002_security
Revises: 0001_foundation
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0002_security"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("firstname", sa.String(200), nullable=True),
        sa.Column("lastname", sa.String(200), nullable=True),
        sa.Column("return_url", sa.String(2000), nullable=True),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("project_roles", JsonType, nullable=False),
        sa.Column("annotation_worklist_id", sa.String(36), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.String(36), nullable=True),
        sa.Column("invited_by_email", sa.String(320), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("accepted_at", TZ, nullable=True),
        sa.Column("accepted_user_id", sa.String(36), nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_invitations_customer_id_organizations"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_invitations_project_id_projects"),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"], ondelete="SET NULL",
                                name="fk_invitations_invited_by_users"),
        sa.ForeignKeyConstraint(["accepted_user_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_invitations_accepted_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_customer_id_email", "invitations", ["customer_id", "email"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("user_email", sa.String(320), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity_type", sa.String(50), nullable=True),
        sa.Column("entity_id", sa.String(320), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("details", JsonType, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_audit_events_customer_id_organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_customer_id_at", "audit_events", ["customer_id", "at"])
    op.create_index("ix_audit_events_entity_type_entity_id", "audit_events", ["entity_type", "entity_id"])
    op.create_index("ix_audit_events_user_id", "audit_events", ["user_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("invitations")

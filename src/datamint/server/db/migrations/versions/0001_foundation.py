"""Foundation: organizations, users, API keys, datasets and projects.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-25

Later areas add their own revision with ``down_revision = "0001_foundation"`` (and
``depends_on`` where they reference each other's tables); the server upgrades to all heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("firstname", sa.String(200), nullable=True),
        sa.Column("lastname", sa.String(200), nullable=True),
        sa.Column("roles", JsonType, nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_users_customer_id_organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_index("ix_users_customer_id", "users", ["customer_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE", name="fk_api_keys_user_id_users"),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_api_keys_customer_id_organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_datasets_customer_id_organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
    )
    op.create_index("ix_datasets_customer_id", "datasets", ["customer_id"])
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", TZ, nullable=True),
        sa.Column("archived_by", sa.String(320), nullable=True),
        sa.Column("is_active_learning", sa.Boolean(), nullable=False),
        sa.Column("two_up_display", sa.Boolean(), nullable=False),
        sa.Column("require_review", sa.Boolean(), nullable=False),
        sa.Column("segmentation_data", JsonType, nullable=False),
        sa.Column("pinned_metrics", JsonType, nullable=False),
        sa.Column("most_recent_experiment", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_projects_customer_id_organizations"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name="fk_projects_dataset_id_datasets"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("customer_id", "name", name="uq_projects_customer_id_name"),
    )
    op.create_index("ix_projects_customer_id", "projects", ["customer_id"])
    op.create_table(
        "project_members",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("roles", JsonType, nullable=False),
        sa.Column("expertise_level", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_project_members_project_id_projects"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE", name="fk_project_members_user_id_users"),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_project_members"),
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"])


def downgrade() -> None:
    op.drop_table("project_members")
    op.drop_table("projects")
    op.drop_table("datasets")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("organizations")

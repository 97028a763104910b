"""Resources: uploaded files, their tags, project memberships and in-flight upload intents.

Revision ID: 0002_resources
Revises: 0001_foundation
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0002_resources"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
_ORDERED_FILTERS = ("status", "modality", "mimetype", "upload_channel")
_FILTERS = ("filename", "source_filepath", "series_uid", "created_by", "published_on", "published_by")


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("storage", sa.String(40), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("mimetype", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("modality", sa.String(64), nullable=True),
        sa.Column("metadata", JsonType, nullable=False),
        sa.Column("source_filepath", sa.String(1024), nullable=True),
        sa.Column("upload_channel", sa.String(300), nullable=False),
        sa.Column("upload_mechanism", sa.String(20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_by_id", sa.String(36), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_on", TZ, nullable=True),
        sa.Column("published_by", sa.String(320), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("deleted_by", sa.String(320), nullable=True),
        sa.Column("instance_uid", sa.String(128), nullable=True),
        sa.Column("series_uid", sa.String(128), nullable=True),
        sa.Column("study_uid", sa.String(128), nullable=True),
        sa.Column("patient_id", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_resources_customer_id_organizations"),
        sa.PrimaryKeyConstraint("id", name="pk_resources"),
    )
    op.create_index("ix_resources_customer_id_deleted_created_at_id", "resources",
                    ["customer_id", "deleted", "created_at", "id"])
    for column in _ORDERED_FILTERS:
        op.create_index(f"ix_resources_customer_id_deleted_{column}_created_at_id", "resources",
                        ["customer_id", "deleted", column, "created_at", "id"])
    for column in _FILTERS:
        op.create_index(f"ix_resources_customer_id_deleted_{column}", "resources", ["customer_id", "deleted", column])
    op.create_table(
        "resource_tags",
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="CASCADE",
                                name="fk_resource_tags_resource_id_resources"),
        sa.PrimaryKeyConstraint("resource_id", "tag", name="pk_resource_tags"),
    )
    op.create_index("ix_resource_tags_tag_resource_id", "resource_tags", ["tag", "resource_id"])
    op.create_table(
        "project_resources",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.Column("added_by", sa.String(320), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_project_resources_project_id_projects"),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="CASCADE",
                                name="fk_project_resources_resource_id_resources"),
        sa.PrimaryKeyConstraint("project_id", "resource_id", name="pk_project_resources"),
    )
    op.create_index("ix_project_resources_resource_id", "project_resources", ["resource_id"])
    op.create_table(
        "resource_upload_intents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resource_upload_intents"),
    )


def downgrade() -> None:
    op.drop_table("resource_upload_intents")
    op.drop_table("project_resources")
    op.drop_table("resource_tags")
    op.drop_table("resources")

"""Duplicate uploads: the content hashes of each resource, indexed per organization.

Revision ID: 0007_upload_duplicates
Revises: 0006_pacs
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_upload_duplicates"
down_revision = "0006_pacs"
branch_labels = None
depends_on = None

COLUMNS = ("content_sha256", "source_sha256")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("resources", sa.Column(column, sa.String(64), nullable=True))
        op.create_index(f"ix_resources_customer_id_deleted_{column}", "resources",
                        ["customer_id", "deleted", column])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_resources_customer_id_deleted_{column}", table_name="resources")
        with op.batch_alter_table("resources") as batch:
            batch.drop_column(column)

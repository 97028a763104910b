"""Listing at archive scale: a composite index for the web app's status + modality filter, so the
first page and the capped count of that listing read one index range in order.

Revision ID: 0017_listing
Revises: 0016_quality
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0017_listing"
down_revision = "0016_quality"
branch_labels = None
depends_on = None

INDEX = "ix_resources_customer_id_deleted_status_modality_created_at_id"


def upgrade() -> None:
    op.create_index(INDEX, "resources", ["customer_id", "deleted", "status", "modality", "created_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="resources")

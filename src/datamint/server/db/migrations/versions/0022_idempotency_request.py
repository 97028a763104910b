"""An ``Idempotency-Key`` stands for the whole upload request, not only its file:
``upload_idempotency.request_sha256`` is the SHA-256 of the request's other fields (project,
channel, tags, metadata, ...; ``resources.idempotency.request_fingerprint``), so the same key sent
again with the same file but other fields is refused instead of answered with a resource that was
made from the first request's fields. Rows written before this revision have none (their file is
still checked).

Revision ID: 0022_idempotency_request
Revises: 0021_listing_positions
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_idempotency_request"
down_revision = "0021_listing_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("upload_idempotency", sa.Column("request_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload_idempotency") as batch:
        batch.drop_column("request_sha256")

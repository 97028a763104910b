"""Listing pages write each resource's tags in their order (``resources.wire_json``): an index on
``resource_tags(resource_id, position, tag)`` hands them over in that order, without a sort per
resource.

Creating an index needs no table rebuild, so SQLite keeps the triggers of 0019_listing_tags.

Revision ID: 0020_listing_tag_order
Revises: 0019_listing_tags
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0020_listing_tag_order"
down_revision = "0019_listing_tags"
branch_labels = None
depends_on = None

INDEX = "ix_resource_tags_resource_id_position_tag"


def upgrade() -> None:
    op.create_index(INDEX, "resource_tags", ["resource_id", "position", "tag"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="resource_tags")

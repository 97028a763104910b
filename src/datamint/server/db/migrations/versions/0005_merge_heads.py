"""Merge the two branches that grew from 0001 (resources → annotations → datasets, and security).

From here on the history is linear: every new revision is named ``NNNN_<area>`` with the next
number and names the previous head as its ``down_revision`` (a test checks there is one head).

Revision ID: 0005_merge_heads
Revises: 0002_security, 0004_datasets
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0005_merge_heads"
down_revision = ("0002_security", "0004_datasets")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the two branches touch different tables."""


def downgrade() -> None:
    """Nothing to change."""

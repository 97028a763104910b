"""Label quality: label sets, label statuses (with history), issues, workunits, several readers
per item of a worklist, and the project option of a ``verified`` status.

Revision ID: 0016_quality
Revises: 0014_formats
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0016_quality"
down_revision = "0014_formats"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
LABEL_STATUSES = "'unlabeled', 'prelabeled', 'labeled', 'reviewed', 'rejected', 'skipped', 'verified'"


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.add_column("annotations", sa.Column("label_set", sa.String(100), nullable=False,
                                           server_default=sa.text("'ground-truth'")))
    op.add_column("annotations", sa.Column("promoted_from", sa.String(36), nullable=True))
    op.create_index("ix_annotations_worklist_id_label_set", "annotations", ["worklist_id", "label_set"])
    op.add_column("annotation_worklists", sa.Column("readers_per_item", sa.Integer(), nullable=False,
                                                    server_default=sa.text("1")))
    op.add_column("projects", sa.Column("enable_label_status_verified", sa.Boolean(), nullable=False,
                                        server_default=sa.text("false")))
    op.create_table(
        "label_sets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _fk("label_sets", "customer_id", "organizations"),
        _fk("label_sets", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name="pk_label_sets"),
        sa.UniqueConstraint("project_id", "name", name="uq_label_sets_project_id_name"),
    )
    op.create_table(
        "worklist_reader_slots",
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("claimed_at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
        _fk("worklist_reader_slots", "worklist_id", "annotation_worklists"),
        _fk("worklist_reader_slots", "resource_id", "resources"),
        _fk("worklist_reader_slots", "user_id", "users"),
        sa.PrimaryKeyConstraint("worklist_id", "resource_id", "slot", name="pk_worklist_reader_slots"),
        sa.UniqueConstraint("worklist_id", "resource_id", "user_id",
                            name="uq_worklist_reader_slots_worklist_id_resource_id_user_id"),
        sa.CheckConstraint("slot >= 1", name="ck_worklist_reader_slots_slot_positive"),
    )
    op.create_table(
        "worklist_item_completions",
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("completed_at", TZ, nullable=False),
        _fk("worklist_item_completions", "worklist_id", "annotation_worklists"),
        _fk("worklist_item_completions", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("worklist_id", "resource_id", name="pk_worklist_item_completions"),
    )
    op.create_table(
        "label_statuses",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("label_set", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=False),
        _fk("label_statuses", "project_id", "projects"),
        _fk("label_statuses", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("project_id", "resource_id", "label_set", name="pk_label_statuses"),
        sa.CheckConstraint(f"status IN ({LABEL_STATUSES})", name="ck_label_statuses_status_known"),
    )
    op.create_index("ix_label_statuses_project_id_label_set_status", "label_statuses",
                    ["project_id", "label_set", "status"])
    op.create_table(
        "label_status_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("label_set", sa.String(100), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=False),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _fk("label_status_events", "project_id", "projects"),
        _fk("label_status_events", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("id", name="pk_label_status_events"),
    )
    op.create_index("ix_label_status_events_project_id_resource_id", "label_status_events",
                    ["project_id", "resource_id"])
    op.create_table(
        "issues",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("label_set", sa.String(100), nullable=True),
        sa.Column("frame_index", sa.Integer(), nullable=True),
        sa.Column("point", JsonType, nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_by_id", sa.String(36), nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("closed_by", sa.String(320), nullable=True),
        _fk("issues", "customer_id", "organizations"),
        _fk("issues", "project_id", "projects"),
        _fk("issues", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("id", name="pk_issues"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_issues_status_known"),
    )
    op.create_index("ix_issues_project_id_status", "issues", ["project_id", "status"])
    op.create_index("ix_issues_resource_id", "issues", ["resource_id"])
    op.create_table(
        "issue_comments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _fk("issue_comments", "issue_id", "issues"),
        sa.PrimaryKeyConstraint("id", name="pk_issue_comments"),
    )
    op.create_index("ix_issue_comments_issue_id_created_at", "issue_comments", ["issue_id", "created_at"])
    op.create_table(
        "workunits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("worklist_id", sa.String(36), nullable=True),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("user_email", sa.String(320), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("label", sa.String(300), nullable=True),
        sa.Column("label_set", sa.String(100), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        _fk("workunits", "customer_id", "organizations"),
        _fk("workunits", "project_id", "projects"),
        _fk("workunits", "worklist_id", "annotation_worklists", ondelete="SET NULL"),
        _fk("workunits", "resource_id", "resources"),
        _fk("workunits", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_workunits"),
    )
    op.create_index("ix_workunits_project_id_created_at", "workunits", ["project_id", "created_at"])
    op.create_index("ix_workunits_user_id_resource_id_created_at", "workunits",
                    ["user_id", "resource_id", "created_at"])
    op.create_index("ix_workunits_worklist_id", "workunits", ["worklist_id"])


def downgrade() -> None:
    for table in ("workunits", "issue_comments", "issues", "label_status_events", "label_statuses",
                  "worklist_item_completions", "worklist_reader_slots", "label_sets"):
        op.drop_table(table)
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("enable_label_status_verified")
    with op.batch_alter_table("annotation_worklists") as batch:
        batch.drop_column("readers_per_item")
    op.drop_index("ix_annotations_worklist_id_label_set", table_name="annotations")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("promoted_from")
        batch.drop_column("label_set")

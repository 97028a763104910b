"""Annotations and worklists: annotations, annotation worklists with their resources, annotators,
work statuses and review messages.

Revision ID: 0003_annotations
Revises: 0002_resources (its tables are referenced; a plain depends_on would leave 0002 as a
second head that the database never reports as current)
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0003_annotations"
down_revision = "0002_resources"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "annotation_worklists",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("is_project_default", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("specs", JsonType, nullable=False),
        sa.Column("segmentation_data", JsonType, nullable=False),
        sa.Column("viewable_ai_segs", JsonType, nullable=False),
        sa.Column("editable_ai_segs", JsonType, nullable=False),
        sa.Column("return_url", sa.String(1024), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        _fk("annotation_worklists", "customer_id", "organizations"),
        _fk("annotation_worklists", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_worklists"),
    )
    op.create_index("ix_annotation_worklists_project_id", "annotation_worklists", ["project_id"])
    op.create_index("ix_annotation_worklists_customer_id_created_at", "annotation_worklists",
                    ["customer_id", "created_at"])

    op.create_table(
        "worklist_resources",
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        _fk("worklist_resources", "worklist_id", "annotation_worklists"),
        _fk("worklist_resources", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("worklist_id", "resource_id", name="pk_worklist_resources"),
    )
    op.create_index("ix_worklist_resources_resource_id", "worklist_resources", ["resource_id"])

    op.create_table(
        "worklist_annotators",
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("expertise_level", sa.String(20), nullable=True),
        sa.Column("return_url", sa.String(1024), nullable=True),
        sa.Column("added_at", TZ, nullable=False),
        _fk("worklist_annotators", "worklist_id", "annotation_worklists"),
        _fk("worklist_annotators", "user_id", "users"),
        sa.PrimaryKeyConstraint("worklist_id", "user_id", name="pk_worklist_annotators"),
    )
    op.create_index("ix_worklist_annotators_user_id", "worklist_annotators", ["user_id"])

    op.create_table(
        "work_statuses",
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=False),
        _fk("work_statuses", "worklist_id", "annotation_worklists"),
        _fk("work_statuses", "resource_id", "resources"),
        _fk("work_statuses", "user_id", "users"),
        sa.PrimaryKeyConstraint("worklist_id", "resource_id", "user_id", name="pk_work_statuses"),
    )
    op.create_index("ix_work_statuses_worklist_id_status", "work_statuses", ["worklist_id", "status"])
    op.create_index("ix_work_statuses_resource_id", "work_statuses", ["resource_id"])
    op.create_index("ix_work_statuses_user_id", "work_statuses", ["user_id"])

    op.create_table(
        "review_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("worklist_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("annotator_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("path", sa.String(1024), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        _fk("review_messages", "worklist_id", "annotation_worklists"),
        _fk("review_messages", "resource_id", "resources"),
        _fk("review_messages", "annotator_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_review_messages"),
    )
    op.create_index("ix_review_messages_worklist_id_created_at", "review_messages", ["worklist_id", "created_at"])
    op.create_index("ix_review_messages_resource_id", "review_messages", ["resource_id"])
    op.create_index("ix_review_messages_annotator_id", "review_messages", ["annotator_id"])

    op.create_table(
        "annotations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("worklist_id", sa.String(36), nullable=True),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("identifier", sa.String(300), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=True),
        sa.Column("frame_end", sa.Integer(), nullable=True),
        sa.Column("text_value", sa.Text(), nullable=True),
        sa.Column("numeric_value", sa.Float(), nullable=True),
        sa.Column("units", sa.String(50), nullable=True),
        sa.Column("geometry", JsonType, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_at", TZ, nullable=True),
        sa.Column("approved_by", sa.String(320), nullable=True),
        sa.Column("source", sa.String(40), nullable=True),
        sa.Column("imported_from", sa.String(300), nullable=True),
        sa.Column("import_author", sa.String(320), nullable=True),
        sa.Column("is_model", sa.Boolean(), nullable=False),
        sa.Column("model_id", sa.String(300), nullable=True),
        sa.Column("confiability", sa.Float(), nullable=False),
        sa.Column("class_map", JsonType, nullable=True),
        sa.Column("set_name", sa.String(300), nullable=True),
        sa.Column("file_key", sa.String(1024), nullable=True),
        sa.Column("file_mimetype", sa.String(100), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_by_id", sa.String(36), nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("deleted_by", sa.String(320), nullable=True),
        _fk("annotations", "customer_id", "organizations"),
        _fk("annotations", "resource_id", "resources"),
        _fk("annotations", "worklist_id", "annotation_worklists", "SET NULL"),
        _fk("annotations", "project_id", "projects", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_annotations"),
    )
    for columns in (("resource_id", "deleted", "created_at"), ("customer_id", "deleted", "created_at"),
                    ("worklist_id", "resource_id"), ("project_id", "created_by"), ("customer_id", "created_by"),
                    ("customer_id", "model_id")):
        op.create_index(f"ix_annotations_{'_'.join(columns)}", "annotations", list(columns))


def downgrade() -> None:
    op.drop_table("annotations")
    op.drop_table("review_messages")
    op.drop_table("work_statuses")
    op.drop_table("worklist_annotators")
    op.drop_table("worklist_resources")
    op.drop_table("annotation_worklists")

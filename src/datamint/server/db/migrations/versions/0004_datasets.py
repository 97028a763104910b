"""Datasets: versions (immutable snapshots) with their resources and annotations, content-addressed
mask copies, resource digests, archive download tokens and project splits.

Revision ID: 0004_datasets
Revises: 0003_annotations (its tables and the resources' are referenced)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0004_datasets"
down_revision = "0003_annotations"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "resource_digests",
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", TZ, nullable=False),
        _fk("resource_digests", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("resource_id", name="pk_resource_digests"),
    )
    op.create_table(
        "dataset_blobs",
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mimetype", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        _fk("dataset_blobs", "customer_id", "organizations"),
        sa.PrimaryKeyConstraint("customer_id", "sha256", name="pk_dataset_blobs"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("resource_count", sa.Integer(), nullable=False),
        sa.Column("annotation_count", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("label_schema", JsonType, nullable=False),
        _fk("dataset_versions", "dataset_id", "datasets"),
        _fk("dataset_versions", "customer_id", "organizations"),
        _fk("dataset_versions", "project_id", "projects", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_dataset_id_number"),
        sa.UniqueConstraint("dataset_id", "name", name="uq_dataset_versions_dataset_id_name"),
    )
    op.create_index("ix_dataset_versions_customer_id_created_at", "dataset_versions", ["customer_id", "created_at"])
    op.create_table(
        "dataset_version_counters",
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        _fk("dataset_version_counters", "dataset_id", "datasets"),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_dataset_version_counters"),
    )
    op.create_table(
        "dataset_version_resources",
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        _fk("dataset_version_resources", "version_id", "dataset_versions"),
        sa.PrimaryKeyConstraint("version_id", "resource_id", name="pk_dataset_version_resources"),
    )
    op.create_table(
        "dataset_version_annotations",
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.Column("annotation_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", JsonType, nullable=False),
        sa.Column("mask_sha256", sa.String(64), nullable=True),
        sa.Column("mask_size", sa.BigInteger(), nullable=True),
        sa.Column("mask_mimetype", sa.String(100), nullable=True),
        _fk("dataset_version_annotations", "version_id", "dataset_versions"),
        sa.PrimaryKeyConstraint("version_id", "annotation_id", name="pk_dataset_version_annotations"),
    )
    op.create_index("ix_dataset_version_annotations_customer_id_mask_sha256", "dataset_version_annotations",
                    ["customer_id", "mask_sha256"])
    op.create_table(
        "dataset_download_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=False),
        sa.Column("version_id", sa.String(36), nullable=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        _fk("dataset_download_tokens", "customer_id", "organizations"),
        _fk("dataset_download_tokens", "dataset_id", "datasets"),
        _fk("dataset_download_tokens", "version_id", "dataset_versions"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dataset_download_tokens"),
    )
    op.create_index("ix_dataset_download_tokens_expires_at", "dataset_download_tokens", ["expires_at"])
    op.create_table(
        "project_resource_splits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("split_name", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.Column("deleted_by", sa.String(320), nullable=True),
        _fk("project_resource_splits", "project_id", "projects"),
        _fk("project_resource_splits", "resource_id", "resources"),
        sa.PrimaryKeyConstraint("id", name="pk_project_resource_splits"),
    )
    op.create_index("ix_project_resource_splits_project_id_resource_id", "project_resource_splits",
                    ["project_id", "resource_id"])
    op.create_index("ix_project_resource_splits_resource_id", "project_resource_splits", ["resource_id"])


def downgrade() -> None:
    for table in ("project_resource_splits", "dataset_download_tokens", "dataset_version_annotations",
                  "dataset_version_resources", "dataset_version_counters", "dataset_versions", "dataset_blobs",
                  "resource_digests"):
        op.drop_table(table)

"""Models: deployments of registered models (MLflow keeps its own tables in its own store).

Revision ID: 0013_models
Revises: 0011_transport
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from datamint.server.db.base import JsonType

revision = "0013_models"
down_revision = "0011_transport"
branch_labels = None
depends_on = None


def _fk(column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=f"fk_model_deployments_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "model_deployments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("image_name", sa.String(400), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("supported_modes", JsonType, nullable=False),
        sa.Column("annotation_specs", JsonType, nullable=False),
        sa.Column("details", JsonType, nullable=False),
        sa.Column("deploy_job_id", sa.String(36), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("customer_id", "organizations"),
        _fk("project_id", "projects"),
        _fk("deploy_job_id", "jobs", ondelete="SET NULL"),
        _fk("created_by", "users", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_model_deployments"),
        sa.UniqueConstraint("project_id", "model_name", "tag", name="uq_model_deployments_project_id_model_name_tag"),
    )


def downgrade() -> None:
    op.drop_table("model_deployments")

"""PACS: the DICOM index (studies, series, instances), DICOM receive settings and AE titles.

Resources uploaded before this revision are not in the DICOM index; ``datamint server
dicom-index`` adds them (it reads each stored DICOM file once).

Revision ID: 0006_pacs
Revises: 0005_merge_heads
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pacs"
down_revision = "0005_merge_heads"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _org(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["customer_id"], ["organizations.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_customer_id_organizations")


def upgrade() -> None:
    op.create_table(
        "dicom_studies",
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("study_uid", sa.String(128), nullable=False),
        sa.Column("patient_name", sa.String(324), nullable=True),
        sa.Column("patient_name_key", sa.String(400), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("patient_birth_date", sa.String(8), nullable=True),
        sa.Column("patient_sex", sa.String(16), nullable=True),
        sa.Column("study_date", sa.String(8), nullable=True),
        sa.Column("study_time", sa.String(16), nullable=True),
        sa.Column("accession_number", sa.String(16), nullable=True),
        sa.Column("study_id", sa.String(16), nullable=True),
        sa.Column("study_description", sa.String(64), nullable=True),
        sa.Column("referring_physician_name", sa.String(324), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _org("dicom_studies"),
        sa.PrimaryKeyConstraint("customer_id", "study_uid", name="pk_dicom_studies"),
    )
    for column in ("study_date", "patient_id", "patient_name_key", "accession_number", "created_at"):
        op.create_index(f"ix_dicom_studies_customer_id_{column}", "dicom_studies", ["customer_id", column])
    op.create_table(
        "dicom_series",
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("series_uid", sa.String(128), nullable=False),
        sa.Column("study_uid", sa.String(128), nullable=False),
        sa.Column("modality", sa.String(16), nullable=True),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("series_description", sa.String(64), nullable=True),
        sa.Column("body_part_examined", sa.String(16), nullable=True),
        sa.Column("series_date", sa.String(8), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _org("dicom_series"),
        sa.PrimaryKeyConstraint("customer_id", "series_uid", name="pk_dicom_series"),
    )
    op.create_index("ix_dicom_series_customer_id_study_uid_series_number", "dicom_series",
                    ["customer_id", "study_uid", "series_number"])
    op.create_index("ix_dicom_series_customer_id_modality", "dicom_series", ["customer_id", "modality"])
    op.create_table(
        "dicom_instances",
        sa.Column("resource_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("study_uid", sa.String(128), nullable=False),
        sa.Column("series_uid", sa.String(128), nullable=False),
        sa.Column("instance_uid", sa.String(128), nullable=False),
        sa.Column("sop_class_uid", sa.String(128), nullable=True),
        sa.Column("instance_number", sa.Integer(), nullable=True),
        sa.Column("number_of_frames", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("columns", sa.Integer(), nullable=True),
        sa.Column("transfer_syntax_uid", sa.String(128), nullable=True),
        sa.Column("header", sa.LargeBinary(), nullable=True),
        sa.Column("header_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="CASCADE",
                                name="fk_dicom_instances_resource_id_resources"),
        sa.PrimaryKeyConstraint("resource_id", name="pk_dicom_instances"),
    )
    op.create_index("ix_dicom_instances_customer_id_study_uid_series_uid", "dicom_instances",
                    ["customer_id", "study_uid", "series_uid", "instance_number"])
    op.create_index("ix_dicom_instances_customer_id_series_uid", "dicom_instances",
                    ["customer_id", "series_uid", "instance_number"])
    op.create_index("ix_dicom_instances_customer_id_instance_uid", "dicom_instances",
                    ["customer_id", "instance_uid"])
    op.create_table(
        "dicom_receive_settings",
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("anonymize", sa.Boolean(), nullable=False),
        sa.Column("assemble", sa.Boolean(), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("channel", sa.String(300), nullable=False),
        sa.Column("receiver_id", sa.String(36), nullable=True),
        sa.Column("uid_secret", sa.String(64), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        _org("dicom_receive_settings"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="SET NULL",
                                name="fk_dicom_receive_settings_project_id_projects"),
        sa.ForeignKeyConstraint(["receiver_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_dicom_receive_settings_receiver_id_users"),
        sa.PrimaryKeyConstraint("customer_id", name="pk_dicom_receive_settings"),
    )
    op.create_table(
        "dicom_ae_titles",
        sa.Column("ae_title", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        _org("dicom_ae_titles"),
        sa.PrimaryKeyConstraint("ae_title", name="pk_dicom_ae_titles"),
    )
    op.create_index("ix_dicom_ae_titles_customer_id", "dicom_ae_titles", ["customer_id"])


def downgrade() -> None:
    for table in ("dicom_ae_titles", "dicom_receive_settings", "dicom_instances", "dicom_series", "dicom_studies"):
        op.drop_table(table)

"""Tables of resources (uploaded files), their tags, their project memberships and in-flight uploads.

A channel is not a table: it is the ``upload_channel`` string of the resources uploaded to it.

Every listing filter of ``GET /resources`` has an index that starts with ``customer_id`` (all
queries are scoped to one organization), so listings stay fast with hundreds of thousands of rows.
Tags live in their own table (``resource_tags``) so that tag filters use a B-tree index on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, JsonType, created_at_column, id_column


class Resource(Base):
    """One uploaded file (DICOM, NIfTI, image, video, ...) and what the server derived from it.

    The original bytes are in the blob store under :attr:`location`; nothing here changes them.
    Deleting is soft (``deleted``/``deleted_at``/``deleted_by``) and can be undone.
    """

    __tablename__ = "resources"
    __table_args__ = (
        # Every listing filters on (customer_id, deleted) first and orders by (created_at, id): the
        # filters that narrow a listing lead to the rows in order without a sort step, and the
        # count of a filtered listing reads the index only.
        Index("ix_resources_customer_id_deleted_created_at_id", "customer_id", "deleted", "created_at", "id"),
        *(Index(f"ix_resources_customer_id_deleted_{column}_created_at_id", "customer_id", "deleted", column,
                "created_at", "id") for column in ("status", "modality", "mimetype", "upload_channel")),
        *(Index(f"ix_resources_customer_id_deleted_{column}", "customer_id", "deleted", column)
          for column in ("filename", "source_filepath", "series_uid", "created_by", "published_on",
                         "published_by", "content_sha256", "source_sha256")),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    storage: Mapped[str] = mapped_column(String(40))
    location: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    modality: Mapped[str | None] = mapped_column(String(64))
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    source_filepath: Mapped[str | None] = mapped_column(String(1024))
    upload_channel: Mapped[str] = mapped_column(String(300), default="")
    upload_mechanism: Mapped[str] = mapped_column(String(20), default="api")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    created_by_id: Mapped[str] = mapped_column(String(36))
    published: Mapped[bool] = mapped_column(default=False)
    published_on: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(320))
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(320))
    instance_uid: Mapped[str | None] = mapped_column(String(128))
    series_uid: Mapped[str | None] = mapped_column(String(128))
    study_uid: Mapped[str | None] = mapped_column(String(128))
    patient_id: Mapped[str | None] = mapped_column(String(128))
    #: SHA-256 of the stored bytes, computed by the server while receiving them (``None`` for
    #: resources uploaded before it was recorded). Duplicate uploads are found by it.
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 of the original file(s) as the uploader had them, declared by the SDK when it rewrote
    #: them before sending (anonymized or assembled DICOM); see :mod:`.duplicates`.
    source_sha256: Mapped[str | None] = mapped_column(String(64))


class ResourceTag(Base):
    """A tag of a resource; ``position`` keeps the order in which tags were given."""

    __tablename__ = "resource_tags"
    __table_args__ = (Index("ix_resource_tags_tag_resource_id", "tag", "resource_id"),)

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ProjectResource(Base):
    """Membership of a resource in a project (wire: ``POST /projects/{id}/resources``)."""

    __tablename__ = "project_resources"
    __table_args__ = (Index("ix_project_resources_resource_id", "resource_id"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = created_at_column()
    added_by: Mapped[str] = mapped_column(String(320))


class UploadIntent(Base):
    """An upload whose blob may exist while its resource row does not yet.

    Written and committed *before* the blob is stored, and deleted in the same transaction that
    inserts the resource row. A server killed in between leaves an intent behind; the janitor
    (:mod:`datamint.server.resources.janitor`) deletes its blob and the intent once it is older than
    the configured age, so no orphan blob survives a crash.
    """

    __tablename__ = "resource_upload_intents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    blob_key: Mapped[str] = mapped_column(String(1024))
    started_at: Mapped[datetime] = created_at_column()

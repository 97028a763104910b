"""Tables of dataset versions (immutable snapshots), their content-addressed mask copies, archive
download tokens, resource digests and project splits.

A dataset is a project's data (``projects.models.Dataset``; its resources are the project's
resources). A *version* freezes it: which resources (by SHA-256 of their stored bytes), the
annotations as they were (their wire JSON) with a copy of every mask in a content-addressed blob
(:class:`ContentBlob`), and the label schema. Nothing in a version changes after it is created.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class ResourceDigest(Base):
    """The SHA-256 of a resource's stored bytes, computed once (resource bytes never change)."""

    __tablename__ = "resource_digests"

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = created_at_column()


class ContentBlob(Base):
    """A blob stored under its content hash, shared by every version that holds the same bytes."""

    __tablename__ = "dataset_blobs"

    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    mimetype: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()


class DatasetVersion(Base):
    """An immutable, numbered and named snapshot of a dataset."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "number"),
        UniqueConstraint("dataset_id", "name"),
        Index("ix_dataset_versions_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    resource_count: Mapped[int] = mapped_column(Integer, default=0)
    annotation_count: Mapped[int] = mapped_column(Integer, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    label_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DatasetVersionCounter(Base):
    """The last version number a dataset gave out (numbers of deleted versions are never reused,
    so a number always means the same content)."""

    __tablename__ = "dataset_version_counters"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class DatasetVersionResource(Base):
    """A resource of a version: its bytes (by hash and stored blob) and its JSON as it was.

    ``blob_key`` is the resource's own blob: resource bytes are immutable, so a version can keep
    reading them; the hash proves it.
    """

    __tablename__ = "dataset_version_resources"

    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"),
                                            primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(1024))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DatasetVersionAnnotation(Base):
    """An annotation of a version: its JSON as it was and, for masks, the hash of the mask copy."""

    __tablename__ = "dataset_version_annotations"
    __table_args__ = (Index("ix_dataset_version_annotations_customer_id_mask_sha256", "customer_id", "mask_sha256"),)

    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"),
                                            primary_key=True)
    annotation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    resource_id: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mask_sha256: Mapped[str | None] = mapped_column(String(64))
    mask_size: Mapped[int | None] = mapped_column(BigInteger)
    mask_mimetype: Mapped[str | None] = mapped_column(String(100))


class DownloadToken(Base):
    """A short-lived, single-use token for ``GET /datasets/download/{token}`` (only its hash is kept)."""

    __tablename__ = "dataset_download_tokens"
    __table_args__ = (Index("ix_dataset_download_tokens_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(36))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProjectResourceSplit(Base):
    """A resource's assignment to a named split (``train``, ``val``...) of a project.

    Re-assigning ends the previous assignment (``deleted_at``) instead of overwriting it, so the
    splits as of any past time can be listed. A resource is in at most one split of a project at
    a time (one row without ``deleted_at``).
    """

    __tablename__ = "project_resource_splits"
    __table_args__ = (
        Index("ix_project_resource_splits_project_id_resource_id", "project_id", "resource_id"),
        Index("ix_project_resource_splits_resource_id", "resource_id"),
        Index("uq_project_resource_splits_project_id_resource_id_active", "project_id", "resource_id", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = id_column()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    split_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(320))

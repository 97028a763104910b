"""Tables of the formats area: export archives kept for download, import sessions and their files.

An export job writes one zip archive into the blob store and records it here with the hash of a
random download token and an expiry; the archive and its row are deleted once expired. An import
session collects files (each stored as a blob) until it is committed; the import job then reads
them one by one, and marks each file ``imported`` in the same transaction as its annotations, so a
job run again after a crash skips what is done and never imports a file twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, JsonType, created_at_column, id_column


class ExportArchive(Base):
    """The archive an export job produced, downloadable until ``expires_at``."""

    __tablename__ = "export_archives"
    __table_args__ = (Index("ix_export_archives_expires_at", "expires_at"),
                      Index("ix_export_archives_token_hash", "token_hash", unique=True))

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    blob_key: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]


class ImportSession(Base):
    """Files gathered for one import into a project (``open`` until committed)."""

    __tablename__ = "import_sessions"
    __table_args__ = (Index("ix_import_sessions_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    worklist_id: Mapped[str | None] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(36))
    created_by_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="open")
    options: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at_column()


class ImportFile(Base):
    """One file of an import session; ``status`` ``pending``, ``imported`` or ``failed``."""

    __tablename__ = "import_files"
    __table_args__ = (Index("uq_import_files_session_id_name", "session_id", "name", unique=True),)

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("import_sessions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    blob_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str | None] = mapped_column(Text)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

"""Tables of projects and of the dataset each project owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class Dataset(Base):
    """The collection of resources behind a project (wire: ``dataset_id``, DatasetInfo)."""

    __tablename__ = "datasets"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime | None]


class Project(Base):
    """An annotation project. Deleting archives it (``archived``); restoring brings it back."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)
    # Columns added later carry only a server default and are read back lazily (no RETURNING), so
    # an INSERT names only the columns it sets: rows can still be written against older schemas
    # (the data-migration tests seed the revision before theirs with these models).
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime | None]
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    archived: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None]
    archived_by: Mapped[str | None] = mapped_column(String(320))
    is_active_learning: Mapped[bool] = mapped_column(default=False)
    two_up_display: Mapped[bool] = mapped_column(default=False)
    require_review: Mapped[bool] = mapped_column(default=False)
    segmentation_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pinned_metrics: Mapped[list[Any]] = mapped_column(default=list)
    most_recent_experiment: Mapped[str | None] = mapped_column(String(200))
    enable_label_status_verified: Mapped[bool] = mapped_column(server_default=text("false"))
    """Whether reviewers may give a label the extra status ``verified``."""


class ProjectMember(Base):
    """A user's roles in a project (``PROJECT_MANAGER``, ``PROJECT_REVIEWER``, ``PROJECT_ANNOTATOR``)."""

    __tablename__ = "project_members"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    expertise_level: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = created_at_column()

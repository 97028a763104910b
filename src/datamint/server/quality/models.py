"""Tables of label quality: the label status of each resource per label set (with its history)
and issues (comment threads pinned to a resource).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, JsonType, created_at_column, id_column

LABEL_STATUSES = ("unlabeled", "prelabeled", "labeled", "reviewed", "rejected", "skipped", "verified")
ISSUE_STATUSES = ("open", "closed")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class LabelStatus(Base):
    """Where the labels of one resource in one label set of a project stand (absent: ``unlabeled``)."""

    __tablename__ = "label_statuses"
    __table_args__ = (
        Index("ix_label_statuses_project_id_label_set_status", "project_id", "label_set", "status"),
        CheckConstraint(f"status IN ({_in(LABEL_STATUSES)})", name="status_known"),
    )

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    label_set: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = created_at_column()
    updated_by: Mapped[str] = mapped_column(String(320))


class LabelStatusEvent(Base):
    """One change of a label status: the history shown beside the status and in the audit trail."""

    __tablename__ = "label_status_events"
    __table_args__ = (Index("ix_label_status_events_project_id_resource_id", "project_id", "resource_id"),)

    id: Mapped[str] = id_column()
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    label_set: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))


class Issue(Base):
    """An issue on a resource (in the context of a project or not), optionally at a frame and a point;
    open or closed."""

    __tablename__ = "issues"
    __table_args__ = (
        Index("ix_issues_project_id_status", "project_id", "status"),
        Index("ix_issues_resource_id", "resource_id"),
        CheckConstraint(f"status IN ({_in(ISSUE_STATUSES)})", name="status_known"),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    label_set: Mapped[str | None] = mapped_column(String(100))
    frame_index: Mapped[int | None] = mapped_column(Integer)
    point: Mapped[list[Any] | None] = mapped_column(JsonType)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    created_by_id: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(320))


class IssueComment(Base):
    """A comment in an issue's thread (status changes are comments too, with ``status`` set)."""

    __tablename__ = "issue_comments"
    __table_args__ = (Index("ix_issue_comments_issue_id_created_at", "issue_id", "created_at"),)

    id: Mapped[str] = id_column()
    issue_id: Mapped[str] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))

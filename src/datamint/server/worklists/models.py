"""Tables of worklists (a.k.a. annotation sets): their resources, annotators, per-resource work
statuses and review messages.

A worklist is a set of resources to annotate with a label schema (``specs``: the annotation specs
of wire §5.4, and ``segmentation_data``: the segmentation label group). It usually belongs to a
project; every project has one default worklist (``is_project_default``) created with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class Worklist(Base):
    """A worklist: resources to annotate, who annotates them and with which labels."""

    __tablename__ = "annotation_worklists"
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - see Project: new columns default on the server
    __table_args__ = (
        Index("ix_annotation_worklists_project_id", "project_id"),
        Index("ix_annotation_worklists_customer_id_created_at", "customer_id", "created_at"),
        # A project has at most one default worklist.
        Index("uq_annotation_worklists_project_id_default", "project_id", unique=True,
              sqlite_where=text("is_project_default"), postgresql_where=text("is_project_default")),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    is_project_default: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="new")
    specs: Mapped[list[Any]] = mapped_column(default=list)
    segmentation_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    viewable_ai_segs: Mapped[list[Any]] = mapped_column(default=list)
    editable_ai_segs: Mapped[list[Any]] = mapped_column(default=list)
    return_url: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime | None]
    readers_per_item: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    """How many independent readers annotate each resource (1: an ordinary worklist)."""


class ReaderSlot(Base):
    """One reader's place on one resource of a multi-reader worklist (slots 1..N).

    The primary key keeps one reader per slot and the unique constraint one slot per reader; the
    service takes the next free slot under a per-item lock, so an item never gets more than N.
    ``done_at`` is set when the reader marks the resource ``annotated`` or ``closed``.
    """

    __tablename__ = "worklist_reader_slots"
    __table_args__ = (
        UniqueConstraint("worklist_id", "resource_id", "user_id"),
        CheckConstraint("slot >= 1", name="slot_positive"),
    )

    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"),
                                             primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime] = created_at_column()
    done_at: Mapped[datetime | None]


class ItemCompletion(Base):
    """A resource of a multi-reader worklist whose N readers have all finished: from then on the
    readers may see each other's labels."""

    __tablename__ = "worklist_item_completions"

    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"),
                                             primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    completed_at: Mapped[datetime] = created_at_column()


class WorklistResource(Base):
    """A resource of a worklist."""

    __tablename__ = "worklist_resources"
    __table_args__ = (Index("ix_worklist_resources_resource_id", "resource_id"),)

    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"),
                                             primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = created_at_column()


class WorklistAnnotator(Base):
    """A user assigned to annotate a worklist (``status`` ``active`` or ``frozen``)."""

    __tablename__ = "worklist_annotators"
    __table_args__ = (Index("ix_worklist_annotators_user_id", "user_id"),)

    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"),
                                             primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    expertise_level: Mapped[str | None] = mapped_column(String(20))
    return_url: Mapped[str | None] = mapped_column(String(1024))
    added_at: Mapped[datetime] = created_at_column()


class WorkStatus(Base):
    """Where one annotator is with one resource of a worklist.

    ``status``: ``opened``, ``annotated``, ``closed`` (set by the annotator), ``approved`` or
    ``revision_request`` (set by a reviewer).
    """

    __tablename__ = "work_statuses"
    __table_args__ = (
        Index("ix_work_statuses_worklist_id_status", "worklist_id", "status"),
        Index("ix_work_statuses_resource_id", "resource_id"),
        Index("ix_work_statuses_user_id", "user_id"),
    )

    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"),
                                             primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    updated_at: Mapped[datetime] = created_at_column()
    updated_by: Mapped[str] = mapped_column(String(320))


class ReviewMessage(Base):
    """A reviewer's decision on one annotator's work on one resource, with an optional message."""

    __tablename__ = "review_messages"
    __table_args__ = (
        Index("ix_review_messages_worklist_id_created_at", "worklist_id", "created_at"),
        Index("ix_review_messages_resource_id", "resource_id"),
        Index("ix_review_messages_annotator_id", "annotator_id"),
    )

    id: Mapped[str] = id_column()
    worklist_id: Mapped[str] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    annotator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(30))
    message: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))

"""The annotations table (wire protocol §7).

One row per annotation: a geometry (point, line, box, region...), a classification (category,
label, text, number) or a segmentation whose mask lives in the blob store (``file_key``).
Frame-range classifications are one row covering frames ``frame_index..frame_end`` (inclusive).

Every search of ``POST /annotations/search`` starts from an index: one resource
(``resource_id, deleted, created_at``), a worklist, or the whole organization
(``customer_id, deleted, created_at``), so a single-resource search stays fast with millions of rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, JsonType, created_at_column, id_column


class Annotation(Base):
    """One annotation of one resource."""

    __tablename__ = "annotations"
    __table_args__ = (
        Index("ix_annotations_resource_id_deleted_created_at", "resource_id", "deleted", "created_at"),
        Index("ix_annotations_customer_id_deleted_created_at", "customer_id", "deleted", "created_at"),
        Index("ix_annotations_worklist_id_resource_id", "worklist_id", "resource_id"),
        Index("ix_annotations_project_id_created_by", "project_id", "created_by"),
        Index("ix_annotations_customer_id_created_by", "customer_id", "created_by"),
        Index("ix_annotations_customer_id_model_id", "customer_id", "model_id"),
        Index("ix_annotations_worklist_id_label_set", "worklist_id", "label_set"),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    worklist_id: Mapped[str | None] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="SET NULL"))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(20))
    identifier: Mapped[str] = mapped_column(String(300))
    scope: Mapped[str] = mapped_column(String(10))
    frame_index: Mapped[int | None] = mapped_column(Integer)
    frame_end: Mapped[int | None] = mapped_column(Integer)
    text_value: Mapped[str | None] = mapped_column(Text)
    numeric_value: Mapped[float | None] = mapped_column(Float)
    units: Mapped[str | None] = mapped_column(String(50))
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20), default="new")
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str | None] = mapped_column(String(40))
    imported_from: Mapped[str | None] = mapped_column(String(300))
    import_author: Mapped[str | None] = mapped_column(String(320))
    is_model: Mapped[bool] = mapped_column(default=False)
    model_id: Mapped[str | None] = mapped_column(String(300))
    confiability: Mapped[float] = mapped_column(Float, default=1.0)
    class_map: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    set_name: Mapped[str | None] = mapped_column(String(300))
    file_key: Mapped[str | None] = mapped_column(String(1024))
    file_mimetype: Mapped[str | None] = mapped_column(String(100))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))
    created_by_id: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(320))
    label_set: Mapped[str] = mapped_column(String(100), default="ground-truth",
                                           server_default=text("'ground-truth'"))
    """The label set the annotation belongs to (``ground-truth``, ``model:<id>``, ``reader:<email>``...)."""
    promoted_from: Mapped[str | None] = mapped_column(String(36))
    """The annotation this one was promoted from (its provenance), if any."""


class LabelSet(Base):
    """A named label set of a project, registered with a description.

    ``ground-truth`` always exists without a row; ``model:<model>``, ``reader:<email>`` and
    ``consensus`` sets appear as soon as annotations use them. Any other name must be registered
    here before annotations use it.
    """

    __tablename__ = "label_sets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    created_by: Mapped[str] = mapped_column(String(320))

"""The audit trail table: one row per change (or audited download), never updated or deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class AuditEvent(Base):
    """Who did what to which entity, when, and from which request.

    ``user_id`` has no foreign key on purpose: the trail outlives deleted users.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_customer_id_at", "customer_id", "at"),
        Index("ix_audit_events_entity_type_entity_id", "entity_type", "entity_id"),
        Index("ix_audit_events_user_id", "user_id"),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = created_at_column()
    user_id: Mapped[str | None] = mapped_column(String(36))
    user_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str | None] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(320))
    request_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[int]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

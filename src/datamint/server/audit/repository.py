"""SQL for the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from datamint.server.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Conditions on the events listed; ``None`` means "any"."""

    user: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    request_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_events(
    session: Session, customer_id: str, where: AuditFilter, offset: int, limit: int
) -> tuple[Sequence[AuditEvent], int]:
    """One page of an organization's events matching ``where``, newest first, and the total."""
    stmt = select(AuditEvent).where(AuditEvent.customer_id == customer_id)
    if where.user:
        stmt = stmt.where(or_(AuditEvent.user_id == where.user,
                              func.lower(AuditEvent.user_email) == where.user.lower()))
    if where.entity_type:
        stmt = stmt.where(AuditEvent.entity_type == where.entity_type)
    if where.entity_id:
        stmt = stmt.where(AuditEvent.entity_id == where.entity_id)
    if where.action:
        stmt = stmt.where(AuditEvent.action == where.action)
    if where.request_id:
        stmt = stmt.where(AuditEvent.request_id == where.request_id)
    if where.start is not None:
        stmt = stmt.where(AuditEvent.at >= where.start)
    if where.end is not None:
        stmt = stmt.where(AuditEvent.at < where.end)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ordered = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id)
    rows = session.scalars(ordered.offset(offset).limit(limit)).all()
    return rows, total

"""Reading the audit trail: filters from the query string, and the wire shape of an event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from datamint.server.audit import repository as repo
from datamint.server.audit.models import AuditEvent
from datamint.server.auth.service import Principal
from datamint.server.db.base import iso
from datamint.server.errors import ValidationFailedError


def list_events(
    session: Session, me: Principal, where: repo.AuditFilter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The caller's organization's events matching ``where``, as wire dicts, and their total."""
    if where.start and where.end and where.start >= where.end:
        raise ValidationFailedError("'from' must be earlier than 'to'")
    rows, total = repo.list_events(session, me.customer_id, where, offset, limit)
    return [to_wire(e) for e in rows], total


def to_wire(e: AuditEvent) -> dict[str, Any]:
    """The wire shape of an audit event."""
    return {
        "id": e.id,
        "customer_id": e.customer_id,
        "at": iso(e.at),
        "user_id": e.user_id,
        "user_email": e.user_email,
        "action": e.action,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "request_id": e.request_id,
        "method": e.method,
        "path": e.path,
        "status": e.status,
        "details": e.details or {},
    }

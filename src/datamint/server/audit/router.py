"""The audit trail endpoint (organization admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from datamint.server import policy
from datamint.server.audit import service
from datamint.server.audit.repository import AuditFilter
from datamint.server.common.pagination import PageDep, envelope
from datamint.server.common.times import parse_time
from datamint.server.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("")
def list_audit_events(
    session: SessionDep,
    me: CurrentUser,
    page: PageDep,
    user: Annotated[str | None, Query(description="Acting user's email or id")] = None,
    entity_type: Annotated[str | None, Query(description="e.g. project, user, api_key, resource")] = None,
    entity_id: Annotated[str | None, Query(description="Id of the entity")] = None,
    action: Annotated[str | None, Query(description="e.g. create_project, revoke_api_key")] = None,
    request_id: Annotated[str | None, Query(description="The X-Request-ID of the request")] = None,
    start: Annotated[str | None, Query(alias="from", description="ISO date or date-time, inclusive")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO date (a whole day) or date-time")] = None,
) -> dict[str, Any]:
    """The organization's audit trail, newest first, paginated."""
    policy.require(me, policy.Action.AUDIT_READ)
    where = AuditFilter(
        user=user, entity_type=entity_type, entity_id=entity_id, action=action, request_id=request_id,
        start=parse_time(start, "from"), end=parse_time(end, "to", whole_day=True),
    )
    items, total = service.list_events(session, me, where, page.offset, page.limit)
    return envelope(items, total)

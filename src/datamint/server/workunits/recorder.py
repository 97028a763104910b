"""Record workunits from the API calls that make and review labels.

The time of a server-measured workunit is the time since the same user's previous activity on the
same resource (any action), when that gap is at most :data:`IDLE_SECONDS`; a longer gap means the
user was away, and the unit counts 0 s (it starts a new stretch of work). So a reader who opens a
resource (``opened``), draws for 40 s and saves gets a 0 s ``status`` unit and a 40 s ``annotate``
unit. A request that labels several identifiers at once splits its time evenly between them, one
unit per identifier, so per-label totals add up to per-user totals.

Clients that measure time themselves (the web app) report it with ``source="client"`` units.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamint.server.db.base import utcnow
from datamint.server.workunits.models import Workunit

IDLE_SECONDS = 300.0
ACTIONS = ("annotate", "review", "status", "issue", "view")


def last_activity(session: Session, user_id: str, resource_id: str) -> datetime | None:
    """When the user last did something recorded on the resource."""
    return session.scalar(select(func.max(Workunit.created_at)).where(Workunit.user_id == user_id,
                                                                      Workunit.resource_id == resource_id))


def record(session: Session, *, customer_id: str, user_id: str, email: str, resource_id: str, action: str,
           project_id: str | None = None, worklist_id: str | None = None, labels: Sequence[str | None] = (None,),
           label_set: str | None = None, now: datetime | None = None) -> list[Workunit]:
    """Add the workunits of one request (one per label, splitting the measured time).

    Returns:
        The new rows.
    """
    now = now or utcnow()
    previous = last_activity(session, user_id, resource_id)
    gap = (now - previous).total_seconds() if previous is not None else None
    seconds = gap if gap is not None and 0 <= gap <= IDLE_SECONDS else 0.0
    started = previous if seconds > 0 and previous is not None else now
    wanted = list(dict.fromkeys(labels)) or [None]
    rows = [Workunit(customer_id=customer_id, project_id=project_id, worklist_id=worklist_id,
                     resource_id=resource_id, user_id=user_id, user_email=email, action=action, label=label,
                     label_set=label_set, seconds=seconds / len(wanted), source="server", started_at=started,
                     created_at=now + timedelta(microseconds=i)) for i, label in enumerate(wanted)]
    session.add_all(rows)
    return rows

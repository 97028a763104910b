"""Reading workunits: listing (the Segments seed's ``get_workunits``), per-user and per-label
totals for worklist and project statistics, and an export (CSV or XLSX).

Callers with ``project.statistics.read`` see everyone's units; other members see their own only.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from datamint.server.annotations import label_sets
from datamint.server.common.times import parse_time
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.workflow.scope import Scope
from datamint.server.workunits import recorder
from datamint.server.workunits.models import Workunit

COLUMNS = ("id", "created_at", "started_at", "user_email", "action", "label", "label_set", "seconds", "source",
           "resource_id", "worklist_id", "project_id")


def _conditions(scope: Scope) -> list[ColumnElement[bool]]:
    if scope.project is not None:
        conds = [Workunit.project_id == scope.project.id]
    else:
        conds = [Workunit.worklist_id == scope.worklists[0].id]
    if not scope.allowed(ProjectAction.STATISTICS_READ):
        scope.require(ProjectAction.READ)
        conds.append(Workunit.user_id == scope.me.user_id)
    return conds


def _wire(w: Workunit) -> dict[str, Any]:
    return {"id": w.id, "uuid": w.id, "created_at": iso(w.created_at), "started_at": iso(w.started_at),
            "user": w.user_email, "user_email": w.user_email, "action": w.action, "label": w.label,
            "label_set": w.label_set, "seconds": w.seconds, "time": w.seconds, "source": w.source,
            "resource_id": w.resource_id, "sample_uuid": w.resource_id, "worklist_id": w.worklist_id,
            "project_id": w.project_id}


def listing(session: Session, scope: Scope, *, sort: str = "-created_at", start: str | None = None,
            end: str | None = None, user: str | None = None, page: int = 1, per_page: int = 1000
            ) -> list[dict[str, Any]]:
    """One page of workunits (``sort`` ``created_at`` or ``-created_at``; ``start``/``end`` ISO times)."""
    if sort not in ("created_at", "-created_at"):
        raise ValidationFailedError(f"sort must be 'created_at' or '-created_at', got {sort!r}")
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= 1000:
        raise ValidationFailedError("page must be between 1 and 1000000 and per_page between 1 and 1000")
    conds = _conditions(scope)
    low, high = parse_time(start, "start"), parse_time(end, "end")
    if low is not None:
        conds.append(Workunit.created_at >= low)
    if high is not None:
        conds.append(Workunit.created_at < high)
    if user:
        conds.append(Workunit.user_email == user)
    order = (Workunit.created_at.desc(), Workunit.id) if sort.startswith("-") else (Workunit.created_at, Workunit.id)
    rows = session.scalars(select(Workunit).where(*conds).order_by(*order)
                           .offset((page - 1) * per_page).limit(per_page))
    return [_wire(w) for w in rows]


def summary(session: Session, scope: Scope) -> dict[str, Any]:
    """Total seconds and units per user, per label, per user and label, and per action (SQL aggregates)."""
    conds = _conditions(scope)

    def grouped(*columns: Any) -> list[Any]:
        return list(session.execute(select(*columns, func.sum(Workunit.seconds), func.count())
                                    .where(*conds).group_by(*columns).order_by(*columns)))

    total, units = session.execute(select(func.coalesce(func.sum(Workunit.seconds), 0.0), func.count())
                                   .where(*conds)).one()
    return {
        "total_seconds": round(float(total), 3), "units": int(units),
        "by_user": [{"email": e, "seconds": round(float(s), 3), "units": int(n)}
                    for e, s, n in grouped(Workunit.user_email)],
        "by_label": [{"label": label, "seconds": round(float(s), 3), "units": int(n)}
                     for label, s, n in grouped(Workunit.label)],
        "by_user_label": [{"email": e, "label": label, "seconds": round(float(s), 3), "units": int(n)}
                          for e, label, s, n in grouped(Workunit.user_email, Workunit.label)],
        "by_action": [{"action": a, "seconds": round(float(s), 3), "units": int(n)}
                      for a, s, n in grouped(Workunit.action)],
    }


def export_rows(session: Session, scope: Scope) -> list[list[Any]]:
    """Every workunit of the scope as export cells, oldest first."""
    scope.require(ProjectAction.EXPORT)
    rows = session.scalars(select(Workunit).where(*_conditions(scope)).order_by(Workunit.created_at, Workunit.id))
    out = []
    for w in rows:
        wire = _wire(w)
        out.append(["" if wire[c] is None else wire[c] for c in COLUMNS])
    return out


def export_csv(session: Session, scope: Scope) -> bytes:
    """The workunits as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(export_rows(session, scope))
    return buffer.getvalue().encode("utf-8")


def export_xlsx(session: Session, scope: Scope) -> bytes:
    """The workunits as an XLSX workbook (one sheet ``workunits``)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("workunits")
    sheet.append(list(COLUMNS))
    for cells in export_rows(session, scope):
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def report(session: Session, scope: Scope, body: dict[str, Any], resource_id: str, worklist_id: str | None
           ) -> dict[str, Any]:
    """Record a workunit measured by a client (the web app): ``{action, seconds, label?, label_set?}``."""
    scope.require(ProjectAction.READ)
    action = body.get("action") or "annotate"
    if action not in recorder.ACTIONS:
        raise ValidationFailedError(f"Unknown action {action!r}; use one of {', '.join(recorder.ACTIONS)}")
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 86400:
        raise ValidationFailedError(f"'seconds' must be a number from 0 to 86400, got {seconds!r}")
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 300):
        raise ValidationFailedError("'label' must be a string of at most 300 characters")
    label_set = label_sets.check_name(body["label_set"]) if body.get("label_set") else None
    now = utcnow()
    row = Workunit(customer_id=scope.me.customer_id, project_id=scope.project.id if scope.project else None,
                   worklist_id=worklist_id, resource_id=resource_id, user_id=scope.me.user_id,
                   user_email=scope.me.email, action=action, label=label, label_set=label_set,
                   seconds=float(seconds), source="client", started_at=now - timedelta(seconds=float(seconds)),
                   created_at=now)
    session.add(row)
    session.flush()
    return _wire(row)

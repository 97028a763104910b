"""Progress statistics of a worklist or a project, computed by the database with grouped
aggregates (never by loading every annotation): per annotator, per label, and the matrix of
resources × annotators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamint.server.annotations import repository as annotations_repo
from datamint.server.annotations.models import Annotation
from datamint.server.auth import service as auth_service
from datamint.server.auth.models import User
from datamint.server.db.base import iso
from datamint.server.policy import ProjectAction
from datamint.server.resources.models import Resource
from datamint.server.workflow.scope import Scope
from datamint.server.worklists import repository as repo
from datamint.server.worklists.models import WorkStatus
from datamint.server.worklists.schemas import WORK_STATUSES
from datamint.server.workunits.models import Workunit


def _status_counts(session: Session, scope: Scope) -> dict[str, dict[str, int]]:
    rows = session.execute(select(WorkStatus.user_id, WorkStatus.status, func.count())
                           .where(WorkStatus.worklist_id.in_(scope.worklist_ids))
                           .group_by(WorkStatus.user_id, WorkStatus.status))
    out: dict[str, dict[str, int]] = {}
    for user_id, status, count in rows:
        out.setdefault(user_id, {})[status] = int(count)
    return out


def _annotation_counts(session: Session, scope: Scope) -> dict[str, tuple[int, int, Any]]:
    rows = session.execute(select(Annotation.created_by_id, func.count(), func.count(Annotation.resource_id.distinct()),
                                  func.max(Annotation.created_at))
                           .where(scope.annotations(session), Annotation.deleted.is_(False))
                           .group_by(Annotation.created_by_id))
    return {uid: (int(n), int(r), last) for uid, n, r, last in rows}


def _seconds(session: Session, scope: Scope) -> dict[str, float]:
    """Time spent per user in the scope (workunits)."""
    where = (Workunit.project_id == scope.project.id if scope.project is not None
             else Workunit.worklist_id == scope.worklists[0].id)
    return {uid: float(total or 0.0) for uid, total in session.execute(
        select(Workunit.user_id, func.sum(Workunit.seconds)).where(where).group_by(Workunit.user_id))}


def annotators(session: Session, scope: Scope, email: str | None = None) -> list[dict[str, Any]]:
    """Per annotator: assigned worklists, status counts, annotations, annotated resources and the
    time spent (sum of their workunits' seconds).

    Everyone assigned to a covered worklist is listed, and everyone with a status or an
    annotation in the scope.
    """
    only = auth_service.get_user(session, scope.me, email).id if email else None
    scope.require(ProjectAction.READ if only == scope.me.user_id else ProjectAction.STATISTICS_READ)
    statuses = _status_counts(session, scope)
    counts = _annotation_counts(session, scope)
    seconds = _seconds(session, scope)
    assigned: dict[str, list[str]] = {}
    for wid, rows in repo.annotators(session, scope.worklist_ids).items():
        for row, _ in rows:
            assigned.setdefault(row.user_id, []).append(wid)
    user_ids = set(assigned) | set(statuses) | set(counts)
    if only is not None:
        user_ids &= {only}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(user_ids))))} if user_ids else {}
    total = scope.resource_count(session)
    out = []
    for user_id in sorted(user_ids, key=lambda u: users[u].email if u in users else u):
        user = users.get(user_id)
        if user is None:
            continue
        per_status = {s: statuses.get(user_id, {}).get(s, 0) for s in WORK_STATUSES}
        n, resources, last = counts.get(user_id, (0, 0, None))
        out.append({"email": user.email, "user_id": user.id, "firstname": user.firstname, "lastname": user.lastname,
                    "worklist_ids": assigned.get(user_id, []), "total_resources": total, **per_status,
                    "not_started": max(total - sum(per_status.values()), 0), "annotations": n,
                    "annotated_resources": resources, "last_annotation_at": iso(last),
                    "time_spent_seconds": round(seconds.get(user_id, 0.0), 3)})
    return out


def annotations(session: Session, scope: Scope) -> dict[str, Any]:
    """Counts of live annotations by type, label, status, source and author, and coverage."""
    scope.require(ProjectAction.STATISTICS_READ)
    base = (scope.annotations(session), Annotation.deleted.is_(False))

    def grouped(*columns: Any) -> list[Any]:
        return list(session.execute(select(*columns, func.count()).where(*base).group_by(*columns)))

    total, covered = session.execute(select(func.count(), func.count(Annotation.resource_id.distinct()))
                                     .where(*base)).one()
    return {
        "total": int(total),
        "annotated_resources": int(covered),
        "resource_count": scope.resource_count(session),
        "by_type": {t: int(n) for t, n in grouped(Annotation.type)},
        "by_status": {s: int(n) for s, n in grouped(Annotation.status)},
        "by_source": {(s or "unknown"): int(n) for s, n in grouped(Annotation.source)},
        "by_annotator": {e: int(n) for e, n in grouped(Annotation.created_by)},
        "by_identifier": [{"identifier": i, "type": t, "count": int(n)}
                          for i, t, n in grouped(Annotation.identifier, Annotation.type)],
    }


def files_matrix(session: Session, scope: Scope) -> dict[str, Any]:
    """Resources × annotators: each resource's status and number of annotations per annotator."""
    scope.require(ProjectAction.STATISTICS_READ)
    resource_ids = scope.resource_ids(session)
    names = dict(session.execute(select(Resource.id, Resource.filename).where(Resource.id.in_(resource_ids))).all()
                 ) if resource_ids else {}
    cells: dict[str, dict[str, dict[str, Any]]] = {rid: {} for rid in resource_ids}
    emails: set[str] = set()
    for rid, email, status in session.execute(
            select(WorkStatus.resource_id, User.email, WorkStatus.status).join(User, User.id == WorkStatus.user_id)
            .where(WorkStatus.worklist_id.in_(scope.worklist_ids))):
        if rid in cells:
            cells[rid].setdefault(email, {"status": None, "annotations": 0})["status"] = status
            emails.add(email)
    for rid, email, count in session.execute(
            select(Annotation.resource_id, Annotation.created_by, func.count())
            .where(scope.annotations(session), Annotation.deleted.is_(False))
            .group_by(Annotation.resource_id, Annotation.created_by)):
        if rid in cells:
            cells[rid].setdefault(email, {"status": None, "annotations": 0})["annotations"] = int(count)
            emails.add(email)
    return {
        "annotators": sorted(emails),
        "resources": [{"resource_id": rid, "filename": names.get(rid), "annotators": cells[rid]}
                      for rid in resource_ids],
    }


def annotator_status(session: Session, scope: Scope, email: str) -> dict[str, Any]:
    """One annotator's progress: status counts, annotations and the status of each resource
    (annotators may read their own; reading others' needs statistics access)."""
    user = auth_service.get_user(session, scope.me, email)
    stats = annotators(session, scope, user.email)
    summary = stats[0] if stats else {"email": user.email, "user_id": user.id, "annotations": 0,
                                      "annotated_resources": 0, **dict.fromkeys(WORK_STATUSES, 0)}
    rows = repo.statuses(session, scope.worklist_ids, user_id=user.id)
    return {**summary, "resources": [{"resource_id": r.resource_id, "filename": name, "status": r.status,
                                      "worklist_id": r.worklist_id, "updated_at": iso(r.updated_at)}
                                     for r, _, name in rows]}


def model_names(session: Session, scope: Scope) -> list[str]:
    """Models referenced by the project's annotations (``model_id``), sorted.

    There is no model registry on the server yet, so a project's models are the ones that
    produced its annotations.
    """
    scope.require(ProjectAction.READ)
    assert scope.project is not None
    return annotations_repo.model_names(session, scope.project.id)

"""The agreement report as a background job (kind ``quality.agreement``), for worklists too large to
answer within one request: ``POST /annotationsets/{id}/agreement/jobs`` checks the caller at once
(``project.review``) and answers ``202`` with the job; the job computes the report item by item
(progress per item, cancellable between items) and stores it as its ``result`` (follow it at
``/jobs/{id}``). The report reads only; a crashed attempt simply runs again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from datamint.server.deps import CurrentUser, JobsDep, UnitOfWork
from datamint.server.jobs import registry
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext
from datamint.server.quality import agreement

KIND = "quality.agreement"
router = APIRouter(prefix="/annotationsets", tags=["quality"])


@router.post("/{worklist_id}/agreement/jobs", status_code=202)
def start_agreement(worklist_id: str, session: UnitOfWork, me: CurrentUser, jobs: JobsDep,
                    include_incomplete: bool = False) -> dict[str, Any]:
    """Start computing the worklist's agreement report in the background: 202 with the job; its
    ``result`` is the report of ``GET /annotationsets/{id}/agreement``."""
    worklist = agreement.allowed_worklist(session, me, worklist_id)
    job = jobs_service.submit(session, jobs, me, KIND, {"worklist_id": worklist.id,
                                                        "include_incomplete": include_incomplete},
                              project_id=worklist.project_id)
    return jobs_service.to_wire(job)


def run_agreement(ctx: JobContext) -> dict[str, Any]:
    """The ``quality.agreement`` handler: the report, with progress per item."""
    me = ctx.creator("start the report again")

    def step(done: int, total: int) -> None:
        ctx.check_cancelled()
        ctx.progress(done, total, "comparing readers")

    session = ctx.database.session()
    try:
        worklist = agreement.allowed_worklist(session, me, ctx.params["worklist_id"])  # still a reviewer?
        found = agreement.report(session, ctx.store, worklist,
                                 include_incomplete=bool(ctx.params.get("include_incomplete")), on_item=step)
        result = found.to_json()
    finally:
        session.rollback()
        session.close()
    ctx.log(f"{result['items']} item(s), {len(result['masks'])} mask pair(s) compared")
    with ctx.transaction() as session:
        ctx.complete(session, result)
    return result


registry.register(KIND, run_agreement, max_attempts=3,
                  description="compare the readers of a multi-reader worklist (agreement report)")

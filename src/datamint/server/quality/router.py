"""Label-quality endpoints: label sets, label statuses, issues, workunits (and promotion)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response

from datamint.server.annotations import label_sets
from datamint.server.annotations.masks import with_blobs
from datamint.server.common.ids import check_uuid
from datamint.server.deps import CurrentUser, SessionDep, StorageDep, UnitOfWork
from datamint.server.errors import NotFoundError
from datamint.server.flows import projects as project_flows
from datamint.server.policy import ProjectAction
from datamint.server.quality import agreement, clone, issues, label_status, service, workunit_stats
from datamint.server.quality.schemas import (
    CloneBody,
    CommentBody,
    ConsensusBody,
    IssueCreate,
    IssueUpdate,
    LabelSetCreate,
    LabelStatusBody,
    PromoteBody,
    PromoteOneBody,
    WorkunitBody,
)
from datamint.server.resources import service as resources_service
from datamint.server.workflow import scope
from datamint.server.worklists import readers

project_router = APIRouter(prefix="/projects", tags=["quality"])
router = APIRouter(tags=["quality"])


# -- label sets -------------------------------------------------------------------------------------

@project_router.get("/{project_id}/labelsets")
def list_label_sets(project_id: str, session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """The project's label sets (``ground-truth`` first), each with its number of annotations."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.READ)
    return label_sets.list_sets(session, project)


@project_router.post("/{project_id}/labelsets", status_code=201)
def create_label_set(project_id: str, body: LabelSetCreate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Register a label set (409 when the name exists)."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.MANAGE)
    return label_sets.create_set(session, me, project, body.name, body.description)


@project_router.get("/{project_id}/labelsets/{name}")
def get_label_set(project_id: str, name: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One label set."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.READ)
    return label_sets.get_set(session, project, name)


@project_router.delete("/{project_id}/labelsets/{name}")
def delete_label_set(project_id: str, name: str, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Remove a label set and delete its annotations in the project."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.MANAGE)
    return {"name": name, "deleted_annotations": label_sets.delete_set(session, me, project, name)}


@project_router.post("/{project_id}/labelsets/{name}/promote")
def promote_label_set(project_id: str, name: str, body: PromoteBody, session: UnitOfWork, me: CurrentUser,
                      store: StorageDep) -> dict[str, Any]:
    """Copy a label set's annotations into another set (default ``ground-truth``), keeping provenance."""
    return with_blobs(session, store, me.customer_id, lambda pending: service.promote_set(
        session, pending, me, project_id, name, body.to, body.resource_ids))


@router.post("/annotations/{annotation_id}/promote")
def promote_annotation(annotation_id: str, body: PromoteOneBody, session: UnitOfWork, me: CurrentUser,
                       store: StorageDep) -> dict[str, Any]:
    """Copy one annotation into another label set (default ``ground-truth``); the copy's
    ``promoted_from`` names the source."""
    return with_blobs(session, store, me.customer_id, lambda pending: service.promote_annotation(
        session, pending, me, annotation_id, body.to))


# -- label status -----------------------------------------------------------------------------------

@project_router.get("/{project_id}/label-statuses")
def list_label_statuses(project_id: str, session: SessionDep, me: CurrentUser, label_set: str = "ground-truth",
                        status: str | None = None) -> list[dict[str, Any]]:
    """The project's resources with their label status in a label set (``status`` filters)."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.READ)
    return label_status.listing(session, project, label_set, status)


@project_router.get("/{project_id}/resources/{resource_id}/label-status")
def get_label_status(project_id: str, resource_id: str, session: SessionDep, me: CurrentUser,
                     label_set: str = "ground-truth") -> dict[str, Any]:
    """A resource's label status, the statuses it may move to, and its history."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.READ)
    return label_status.get(session, project, resource_id, label_set)


@project_router.put("/{project_id}/resources/{resource_id}/label-status")
def set_label_status(project_id: str, resource_id: str, body: LabelStatusBody, session: UnitOfWork,
                     me: CurrentUser) -> dict[str, Any]:
    """Move a resource's label status along an allowed transition (422 lists the allowed ones)."""
    project, roles = service.project_for(session, me, project_id, ProjectAction.READ)
    return label_status.set_status(session, me, project, roles, resource_id, body.label_set, body.status,
                                   body.expected)


# -- issues -----------------------------------------------------------------------------------------

@router.post("/resources/{resource_id}/issues", status_code=201)
def add_issue(resource_id: str, body: IssueCreate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Open an issue on a resource (optionally in a project, at a frame and a point)."""
    return issues.create(session, me, resource_id, body.model_dump())


@router.get("/resources/{resource_id}/issues")
def resource_issues(resource_id: str, session: SessionDep, me: CurrentUser,
                    status: Literal["open", "closed"] | None = None) -> list[dict[str, Any]]:
    """The issues of a resource, newest first."""
    resource = resources_service.visible_resource(session, me, resource_id)
    return issues.listing(session, resource_id=resource.id, status=status)


@project_router.get("/{project_id}/issues")
def project_issues(project_id: str, session: SessionDep, me: CurrentUser,
                   status: Literal["open", "closed"] | None = None,
                   resource_id: str | None = None) -> list[dict[str, Any]]:
    """The issues of a project (``status``, ``resource_id`` filter), newest first."""
    project, _ = service.project_for(session, me, project_id, ProjectAction.READ)
    rid = resources_service.visible_resource(session, me, resource_id).id if resource_id else None
    return issues.listing(session, project=project, resource_id=rid, status=status)


@router.get("/issues/{issue_id}")
def get_issue(issue_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One issue with its thread."""
    return issues.to_wire(session, issues.visible_issue(session, me, issue_id))


@router.patch("/issues/{issue_id}")
def update_issue(issue_id: str, body: IssueUpdate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Close, reopen or edit an issue (409 when it already has the status asked for)."""
    return issues.update(session, me, issue_id, body.model_dump(exclude_unset=True))


@router.post("/issues/{issue_id}/comments", status_code=201)
def comment_issue(issue_id: str, body: CommentBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Add a comment to an issue's thread."""
    return issues.comment(session, me, issue_id, body.text)


@router.delete("/issues/{issue_id}", status_code=204)
def delete_issue(issue_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Delete an issue and its thread."""
    issues.delete(session, me, issue_id)
    return Response(status_code=204)


# -- workunits --------------------------------------------------------------------------------------

@project_router.get("/{project_id}/workunits")
def project_workunits(project_id: str, session: SessionDep, me: CurrentUser, sort: str = "-created_at",
                      start: str | None = None, end: str | None = None, user: str | None = None, page: int = 1,
                      per_page: int = 1000) -> list[dict[str, Any]]:
    """The project's workunits (yours only without statistics access)."""
    return workunit_stats.listing(session, scope.of_project(session, me, project_id), sort=sort, start=start,
                                  end=end, user=user, page=page, per_page=per_page)


@project_router.get("/{project_id}/workunits-statistic")
def project_workunits_statistic(project_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """Time spent per user, per label, per user and label, and per action."""
    return workunit_stats.summary(session, scope.of_project(session, me, project_id))


@project_router.get("/{project_id}/workunits/export")
def export_workunits(project_id: str, session: SessionDep, me: CurrentUser,
                     format: Literal["csv", "xlsx"] = "csv") -> Response:  # noqa: A002
    """Every workunit of the project as CSV or XLSX."""
    found = scope.of_project(session, me, project_id)
    if format == "csv":
        return Response(workunit_stats.export_csv(session, found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="workunits.csv"'})
    return Response(workunit_stats.export_xlsx(session, found),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="workunits.xlsx"'})


@project_router.post("/{project_id}/resources/{resource_id}/workunits", status_code=201)
def report_workunit(project_id: str, resource_id: str, body: WorkunitBody, session: UnitOfWork,
                    me: CurrentUser) -> dict[str, Any]:
    """Record time measured by a client (the web app) on a resource of the project."""
    found = scope.of_project(session, me, project_id)
    assert found.project is not None
    project_id = found.project.id
    rid = label_status.resource_in_project(session, found.project, resource_id)
    worklist_id = None
    if body.worklist_id:
        wanted = check_uuid(body.worklist_id, "worklist")  # any case, as in paths
        worklist = next((w for w in found.worklists if w.id == wanted), None)
        if worklist is None:
            raise NotFoundError("Worklist", "Worklist not found in this project")
        worklist_id = worklist.id
    return workunit_stats.report(session, found, body.model_dump(), rid, worklist_id)


@router.get("/annotationsets/{worklist_id}/workunits-statistic")
def worklist_workunits_statistic(worklist_id: str, session: SessionDep, me: CurrentUser,
                                 store: StorageDep) -> dict[str, Any]:
    """Time spent in a worklist per user, per label, per user and label, and per action; for a
    worklist with several readers per item, and a caller who may review, also ``agreement``: the
    agreement report's summary over the complete items (per label and per pair of readers)."""
    found = scope.of_worklist(session, me, worklist_id)
    out = workunit_stats.summary(session, found)
    worklist = found.worklists[0]
    if (worklist.readers_per_item or 1) > 1 and found.allowed(ProjectAction.REVIEW):
        report = agreement.report(session, store, worklist)
        out["agreement"] = {"readers_per_item": worklist.readers_per_item, "items": len(report.items),
                            "readers": report.readers, **report.summary()}
    return out


# -- several readers: progress, agreement, consensus ------------------------------------------------

@router.get("/annotationsets/{worklist_id}/readers")
def worklist_readers(worklist_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """Reader slots of each item of a multi-reader worklist, and which items are complete."""
    found = scope.of_worklist(session, me, worklist_id)
    found.require(ProjectAction.STATISTICS_READ)
    worklist = found.worklists[0]
    return {"worklist_id": worklist.id, "readers_per_item": worklist.readers_per_item or 1,
            "items": readers.progress(session, worklist)}


@router.get("/annotationsets/{worklist_id}/agreement")
def worklist_agreement(worklist_id: str, session: SessionDep, me: CurrentUser, store: StorageDep,
                       format: Literal["json", "csv"] = "json",  # noqa: A002
                       include_incomplete: bool = False) -> Any:
    """Agreement between the worklist's readers per item, label and pair (Dice, IoU, HD95, MSD,
    box IoU, Cohen's and Fleiss' kappa), as JSON or CSV."""
    worklist = agreement.allowed_worklist(session, me, worklist_id)
    found = agreement.report(session, store, worklist, include_incomplete=include_incomplete)
    if format == "csv":
        return Response(found.to_csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="agreement.csv"'})
    return found.to_json()


@router.post("/annotationsets/{worklist_id}/consensus")
def worklist_consensus(worklist_id: str, body: ConsensusBody, session: UnitOfWork, me: CurrentUser,
                       store: StorageDep) -> dict[str, Any]:
    """Write the readers' consensus (majority vote or STAPLE) of the complete items into the
    ``consensus`` label set, replacing an earlier consensus of the same items."""
    worklist = agreement.allowed_worklist(session, me, worklist_id)
    return with_blobs(session, store, me.customer_id, lambda pending: agreement.build_consensus(
        session, pending, me, worklist, body.method, body.resource_ids))


# -- clone ------------------------------------------------------------------------------------------

@project_router.post("/{project_id}/clone", status_code=201)
def clone_project(project_id: str, body: CloneBody, session: UnitOfWork, me: CurrentUser,
                  store: StorageDep) -> dict[str, Any]:
    """A new project with the same structure (worklists, label schemas, label sets), and with the
    same resources and a copy of the labels when asked."""
    project = with_blobs(session, store, me.customer_id, lambda pending: clone.clone(
        session, pending, me, project_id, name=body.name, with_resources=body.with_resources,
        with_annotations=body.with_annotations, only_sets=body.label_sets))
    return project_flows.to_wire(session, project)

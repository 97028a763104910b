"""Worklist (annotation set) endpoints (wire protocol §4.4), and the project-level progress,
statistics and export endpoints of §4.1 that aggregate a project's worklists."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from datamint.server.annotations import files
from datamint.server.annotations import service as annotations_service
from datamint.server.annotations.masks import with_blobs
from datamint.server.common.http import content_disposition
from datamint.server.common.values import text
from datamint.server.deps import CurrentUser, SessionDep, StorageDep, UnitOfWork
from datamint.server.workflow import export, labels, progress, scope, statistics
from datamint.server.worklists import service, specs
from datamint.server.worklists.schemas import (
    AnnotatorBody,
    SegmentationGroupBody,
    WorklistCreate,
    WorklistPatch,
    WorklistResourcesBody,
    WorkStatusBody,
)

router = APIRouter(prefix="/annotationsets", tags=["worklists"])
project_router = APIRouter(prefix="/projects", tags=["projects"])
ListParam = Annotated[list[str] | None, Query()]


@router.post("", status_code=201)
def create(body: WorklistCreate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Create a worklist with its resources, label schema and annotators."""
    worklist = service.create(session, me, body)
    return service.to_wire(session, worklist)


@router.get("/{worklist_id}")
def get(worklist_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One worklist."""
    worklist, _ = service.visible_worklist(session, me, worklist_id)
    return service.to_wire(session, worklist)


@router.patch("/{worklist_id}")
def patch(worklist_id: str, body: WorklistPatch, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Change a worklist (only the keys sent)."""
    worklist = service.update(session, me, worklist_id, body)
    return service.to_wire(session, worklist)


@router.get("/{worklist_id}/segmentation-group")
def get_segmentation_group(worklist_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The segmentation labels: ``{"groups": {identifier: {color, index}}}``."""
    return labels.segmentation_group(session, me, worklist_id)


@router.put("/{worklist_id}/segmentation-group")
def put_segmentation_group(worklist_id: str, body: SegmentationGroupBody, session: UnitOfWork,
                           me: CurrentUser) -> dict[str, Any]:
    """Replace the segmentation labels; ``renames`` (``old:new``) also rename existing annotations."""
    result = labels.update_segmentation_group(session, me, worklist_id, body.segmentationData, body.renames)
    return result


@router.delete("/{worklist_id}/segmentation-group/{identifier}", status_code=204)
def delete_segmentation_label(worklist_id: str, identifier: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Remove one segmentation label."""
    labels.delete_segmentation_label(session, me, worklist_id, identifier)
    return Response(status_code=204)


@router.post("/{worklist_id}/segmentation-group/upload")
def upload_segmentation_group(worklist_id: str, session: UnitOfWork, me: CurrentUser,
                              file: Annotated[UploadFile, File(description=".yaml, .yml, .csv or .json")],
                              replace_existing: Annotated[bool, Form()] = False) -> dict[str, Any]:
    """Load segmentation labels from a file (replacing or extending the current ones)."""
    data = file.file.read(specs.MAX_GROUP_FILE + 1)  # one byte more tells a file that is too large
    result = labels.upload_segmentation_group(session, me, worklist_id, file.filename or "", data, replace_existing)
    return result


@router.post("/{worklist_id}/resources")
def update_resources(worklist_id: str, body: WorklistResourcesBody, session: UnitOfWork,
                     me: CurrentUser) -> dict[str, Any]:
    """Add and remove resources."""
    result = service.update_resources(session, me, worklist_id, body.resource_ids_to_add,
                                      body.resource_ids_to_delete)
    return result


@router.post("/{worklist_id}/annotators/{user}")
def set_annotator(worklist_id: str, user: str, body: AnnotatorBody, session: UnitOfWork,
                  me: CurrentUser) -> dict[str, Any]:
    """Assign an annotator (by user id or email), or change its status/expertise."""
    result = service.set_annotator(session, me, worklist_id, user, body)
    return result


@router.delete("/{worklist_id}/annotators/{user}", status_code=204)
def remove_annotator(worklist_id: str, user: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Unassign an annotator."""
    service.remove_annotator(session, me, worklist_id, user)
    return Response(status_code=204)


@router.post("/{worklist_id}/resources/{resource_id}/status")
def set_status(worklist_id: str, resource_id: str, body: WorkStatusBody, session: UnitOfWork,
               me: CurrentUser) -> list[dict[str, Any]]:
    """Set a work status (annotator) or a review decision with a message (reviewer)."""
    found = scope.of_worklist(session, me, worklist_id)
    result = progress.set_status(session, found, found.worklists[0], resource_id, body)
    return result


@router.post("/{worklist_id}/resources/{resource_id}/segmentations", status_code=201)
def upload_segmentations(worklist_id: str, resource_id: str, session: UnitOfWork, me: CurrentUser, store: StorageDep,
                         payload: Annotated[text(1 << 20), Form(description="JSON array of items")],
                         images: Annotated[list[UploadFile] | None, File(description="Masks, in payload order")] = None
                         ) -> dict[str, Any]:
    """Create or update segmentations of a resource in the worklist; the i-th image is the mask
    of the i-th payload item ``{id?, identifier, frame_index, width, height, set_name?}``."""
    data = [image.file.read() for image in images or []]
    return with_blobs(session, store, me.customer_id, lambda pending: files.upload_worklist_segmentations(
        session, pending, me, worklist_id, resource_id, payload, data))


@router.get("/{worklist_id}/resources/{resource_id}/{kind}")
def resource_annotations(worklist_id: str, resource_id: str, kind: Literal["annotations", "segmentations",
                                                                         "ai_segmentations"],
                         session: SessionDep, me: CurrentUser, all: bool = False,  # noqa: A002
                         annotator: str | None = None) -> list[dict[str, Any]]:
    """A resource's annotations (or segmentations, or model segmentations) in the worklist: yours,
    another ``annotator``'s, or everyone's with ``all=true``."""
    return annotations_service.worklist_resource_annotations(session, me, worklist_id, resource_id, kind, all,
                                                             annotator)


@router.get("/{worklist_id}/annotation-statuses")
def annotation_statuses(worklist_id: str, session: SessionDep, me: CurrentUser, status: str | None = None,
                        user_id: str | None = None, resource_id: str | None = None) -> list[dict[str, Any]]:
    """Work statuses of the worklist's resources."""
    return progress.statuses(session, scope.of_worklist(session, me, worklist_id), status, user_id, resource_id)


@router.delete("/{worklist_id}/resources/{resource_id}/annotator/{email}/status-reset")
def reset_status(worklist_id: str, resource_id: str, email: str, session: UnitOfWork,
                 me: CurrentUser) -> dict[str, Any]:
    """Forget an annotator's status on a resource."""
    result = progress.reset_status(session, scope.of_worklist(session, me, worklist_id), resource_id, email)
    return result


@router.get("/{worklist_id}/users/{email}")
def annotator_status(worklist_id: str, email: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One annotator's progress in the worklist."""
    return statistics.annotator_status(session, scope.of_worklist(session, me, worklist_id), email)


@router.get("/{worklist_id}/annotators-statistic")
def annotators_statistic(worklist_id: str, session: SessionDep, me: CurrentUser,
                         email: str | None = None) -> list[dict[str, Any]]:
    """Per-annotator progress."""
    return statistics.annotators(session, scope.of_worklist(session, me, worklist_id), email)


@router.get("/{worklist_id}/annotations-statistic")
def annotations_statistic(worklist_id: str, session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """Annotation counts per label."""
    return statistics.annotations(session, scope.of_worklist(session, me, worklist_id))["by_identifier"]


@router.get("/{worklist_id}/download-annotations")
def download_annotations(worklist_id: str, request: Request, session: SessionDep, me: CurrentUser,
                         format: str = "csv", from_: Annotated[str | None, Query(alias="from")] = None,
                         to: str | None = None, annotators: Annotated[ListParam, Query(alias="annotators[]")] = None,
                         annotations: Annotated[ListParam, Query(alias="annotations[]")] = None,
                         label_set: ListParam = None) -> Response:
    """The worklist's annotations as CSV or XLSX (``format=csv|xlsx|excel``; ``label_set`` filters)."""
    found = scope.of_worklist(session, me, worklist_id)
    return _export(request, session, found, format, from_, to, annotators, annotations, label_set)


def _export(request: Request, session: SessionDep, found: scope.Scope, fmt: str, from_: str | None,
            to: str | None, annotators: list[str] | None, annotations: list[str] | None,
            label_sets: list[str] | None = None) -> Response:
    wanted = export.ExportRequest(fmt, annotators or [], annotations or [], from_, to, label_sets or [])
    chunks, media_type, filename = export.stream(session, request.app.state.database, found, wanted)
    return StreamingResponse(chunks, media_type=media_type,
                             headers={"Content-Disposition": content_disposition(filename)})


# -- project-level ----------------------------------------------------------------------------------

@project_router.get("/{project_id}/worklists")
def project_worklists(project_id: str, session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """Every worklist of a project, as a bare array."""
    return service.project_worklists(session, me, project_id)


@project_router.post("/{project_id}/resources/{resource_id}/status")
def set_project_status(project_id: str, resource_id: str, body: WorkStatusBody, session: UnitOfWork,
                       me: CurrentUser) -> list[dict[str, Any]]:
    """Set your work status on a resource in the project's default worklist (or a reviewer's decision)."""
    found = scope.of_project(session, me, project_id)
    assert found.project is not None
    result = progress.set_status(session, found, service.default_worklist(session, found.project), resource_id, body)
    return result


@project_router.get("/{project_id}/annotation-statuses")
def project_statuses(project_id: str, session: SessionDep, me: CurrentUser, status: str | None = None,
                     user_id: str | None = None, resource_id: str | None = None) -> list[dict[str, Any]]:
    """Work statuses in every worklist of the project."""
    return progress.statuses(session, scope.of_project(session, me, project_id), status, user_id, resource_id)


@project_router.delete("/{project_id}/resources/{resource_id}/annotator/{email}/status-reset")
def reset_project_status(project_id: str, resource_id: str, email: str, session: UnitOfWork,
                         me: CurrentUser) -> dict[str, Any]:
    """Forget an annotator's statuses on a resource in the project's worklists."""
    result = progress.reset_status(session, scope.of_project(session, me, project_id), resource_id, email)
    return result


@project_router.get("/{project_id}/annotators-statistic")
def project_annotators_statistic(project_id: str, session: SessionDep, me: CurrentUser,
                                 email: str | None = None) -> list[dict[str, Any]]:
    """Per-annotator progress over the project."""
    return statistics.annotators(session, scope.of_project(session, me, project_id), email)


@project_router.get("/{project_id}/annotations-statistic")
def project_annotations_statistic(project_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """Annotation counts by type, label, status, source and author."""
    return statistics.annotations(session, scope.of_project(session, me, project_id))


@project_router.get("/{project_id}/files-matrix-statistic")
def project_files_matrix(project_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """Resources × annotators: status and annotation count of each pair."""
    return statistics.files_matrix(session, scope.of_project(session, me, project_id))


@project_router.get("/{project_id}/users/{email}/status")
def project_annotator_status(project_id: str, email: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One annotator's progress in the project."""
    return statistics.annotator_status(session, scope.of_project(session, me, project_id), email)


@project_router.get("/{project_id}/reviewmessages")
def project_review_messages(project_id: str, session: SessionDep, me: CurrentUser, annotator: str | None = None,
                            resourceId: str | None = None, statuses: ListParam = None) -> list[dict[str, Any]]:  # noqa: N803
    """Reviewers' decisions and messages, oldest first."""
    return progress.review_messages(session, scope.of_project(session, me, project_id), annotator, resourceId,
                                    statuses)


@project_router.get("/{project_id}/download-annotations")
def project_download_annotations(project_id: str, request: Request, session: SessionDep, me: CurrentUser,
                                 format: str = "csv", from_: Annotated[str | None, Query(alias="from")] = None,
                                 to: str | None = None,
                                 annotators: Annotated[ListParam, Query(alias="annotators[]")] = None,
                                 annotations: Annotated[ListParam, Query(alias="annotations[]")] = None,
                                 label_set: ListParam = None) -> Response:
    """The project's annotations as CSV or XLSX, streamed (filters: annotators, labels, dates, label sets)."""
    found = scope.of_project(session, me, project_id)
    return _export(request, session, found, format, from_, to, annotators, annotations, label_set)


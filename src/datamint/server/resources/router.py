"""Resources and channels endpoints (wire protocol §4.2, §6.2), and ``/projects/{id}/resources``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from datamint.server import policy
from datamint.server.common.http import RESOURCE_ARRAY_RESPONSE, FastJSONResponse, content_disposition
from datamint.server.common.ids import check_uuid
from datamint.server.common.pagination import PageDep, envelope
from datamint.server.deps import CurrentUser, SessionDep, StorageDep, UnitOfWork, VolumeCacheDep
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.resources import (
    batch_ingest,
    frames,
    idempotency,
    ingest,
    membership,
    series_upload,
    service,
    slices,
    wire,
)
from datamint.server.resources.receive import MAX_BATCH_FILES, ReceivedBatch, ReceivedFiles, ReceivedUpload
from datamint.server.resources.schemas import (
    ProjectResourcesBody,
    ResourceIdsBody,
    RestoreBody,
    TagsBody,
    TagsManyBody,
)
from datamint.server.storage.base import BlobNotFoundError
from datamint.server.transport.routes import body_kind

router = APIRouter(prefix="/resources", tags=["resources"])
project_router = APIRouter(prefix="/projects", tags=["projects"])

_LIST_KEYS = ("status", "from", "to", "modality", "mimetype", "channel_name", "filename", "source_filepath",
              "series_uid", "deleted", "project", "project_name", "tags", "order_field", "order_by_asc")


def _list_params(request: Request) -> dict[str, str | None]:
    return {key: request.query_params.get(key) for key in _LIST_KEYS}


#: The filters of the listings in the OpenAPI document (the routes read them with ``_list_params``).
_LIST_FILTERS = {"parameters": [
    *({"name": key, "in": "query", "required": False, "schema": {"type": "string"}} for key in _LIST_KEYS),
    {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "The nextCursor of the previous page"}]}


#: The multipart body of ``POST /resources`` for the OpenAPI document (the route reads it itself).
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["resource"], "properties": {
        "resource": {"type": "string", "format": "binary",
                     "description": "The file; its filename becomes the resource's name"},
        "source": {"type": "string"}, "source_filepath": {"type": "string"}, "mimetype": {"type": "string"},
        "channel": {"type": "string"}, "modality": {"type": "string"},
        "bypass_inbox": {"type": "string", "enum": ["true", "false"],
                         "description": "true: published at once; false: inbox"},
        "tags": {"type": "string", "description": "Comma-separated tags"},
        "metadata": {"type": "string", "description": "JSON object stored with the resource"},
        "project_id": {"type": "string", "description": "Also add the resource to this project"},
        "anonymize": {"type": "string", "enum": ["true", "false"],
                      "description": "true: de-identify a DICOM file (PS3.15 basic profile) before storing it"},
        "anonymize_key": {"type": "string", "description": "Secret shared by the files of one upload batch, so "
                          "their replaced UIDs still group (never stored)"},
        "on_duplicate": {"type": "string", "enum": ["keep", "skip"],
                         "description": "Same content already in the organization: keep both (default, 201) or "
                                        "skip (200 with the existing resource); docs/resources.md"},
        "source_sha256": {"type": "string", "description": "SHA-256 of the original file when the client "
                                                           "rewrote it (anonymized/assembled DICOM)"},
    }}}}}}


@router.post("", status_code=201, openapi_extra=_UPLOAD_BODY)
@body_kind("upload")
async def upload_resource(received: ReceivedUpload, request: Request, session: SessionDep, me: CurrentUser,
                          store: StorageDep) -> JSONResponse:
    """Upload one file (multipart, wire §6.2). The server sniffs its real type, validates it,
    extracts its metadata and answers 201 with the new resource (its ``id`` first) and
    ``duplicate_of`` (an earlier resource with the same content, or null); with
    ``on_duplicate=skip`` and such a resource, 200 with that resource instead. With an
    ``Idempotency-Key`` header, a repeated request (same user, key and file) answers with the
    resource the first one created and stores nothing (docs/security.md)."""
    janitor = request.app.state.upload_janitor
    if janitor.due():
        await run_in_threadpool(janitor.maybe_sweep)
    fields = received.fields
    file = received.file
    assert file is not None
    form = ingest.UploadForm(
        filename=file.filename, declared_mimetype=fields.get("mimetype") or file.content_type,
        source_filepath=fields.get("source_filepath"), channel=fields.get("channel"),
        modality=fields.get("modality"), publish=_true(fields.get("bypass_inbox")),
        tags=(fields.get("tags") or "").split(","), metadata=fields.get("metadata"),
        project_id=fields.get("project_id") or None, source=fields.get("source"),
        anonymize=_true(fields.get("anonymize"), "anonymize"), anonymize_key=fields.get("anonymize_key") or None,
        on_duplicate=fields.get("on_duplicate"), source_sha256=fields.get("source_sha256"),
        idempotency_key=request.headers.get(idempotency.HEADER))
    result = await run_in_threadpool(ingest.ingest, session, store, me, file, form)
    return JSONResponse(result, status_code=200 if result["duplicate_of"] == result["id"] else 201)


@router.post("/series", status_code=201)
@body_kind("upload")
async def upload_series(received: ReceivedFiles, session: SessionDep, me: CurrentUser,
                        store: StorageDep) -> list[dict[str, Any]]:
    """Upload a folder of DICOM files (multipart, each file a ``resources`` part; the fields of
    ``POST /resources``: ``project_id``, ``channel``, ``bypass_inbox``, ``tags``, ``anonymize``,
    ``anonymize_key``). The instances of each series are assembled into one multi-frame resource,
    as the SDK's ``upload_resources`` does; the answer lists the new resources, each with
    ``instances``, the number of files it holds. A file that is not DICOM: 422, nothing stored."""
    fields = received.fields
    form = series_upload.SeriesForm(
        project_id=fields.get("project_id") or None, channel=fields.get("channel"),
        publish=_true(fields.get("bypass_inbox")), anonymize=_true(fields.get("anonymize"), "anonymize"),
        anonymize_key=fields.get("anonymize_key") or None, tags=(fields.get("tags") or "").split(","),
        source=fields.get("source"))
    return await run_in_threadpool(series_upload.store_series_upload, session, store, me, received.files, form)


#: The multipart body of ``POST /resources/batch`` for the OpenAPI document (the route reads it itself).
_BATCH_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["resources"], "properties": {
        "resources": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": f"The files (at most {MAX_BATCH_FILES}), one part each, with filenames"},
        "files": {"type": "string", "description": "JSON array, one object per file part in order, with the "
                  "per-file fields of POST /resources: mimetype, source_filepath, modality, tags (list), "
                  "metadata (object), source_sha256, idempotency_key"},
        "source": {"type": "string"}, "channel": {"type": "string"}, "modality": {"type": "string"},
        "bypass_inbox": {"type": "string", "enum": ["true", "false"]},
        "tags": {"type": "string", "description": "Comma-separated tags for every file"},
        "project_id": {"type": "string", "description": "Also add the resources to this project"},
        "anonymize": {"type": "string", "enum": ["true", "false"]},
        "anonymize_key": {"type": "string"},
        "on_duplicate": {"type": "string", "enum": ["keep", "skip"]},
    }}}}}}


@router.get("/batch")
def batch_upload_limits(request: Request, me: CurrentUser) -> dict[str, Any]:
    """What ``POST /resources/batch`` accepts: its most files and bytes per request (the SDK
    reads this to learn that the server takes batches, and how large)."""
    policy.require(me, policy.Action.RESOURCES_UPLOAD)
    return {"max_files": MAX_BATCH_FILES, "max_bytes": request.app.state.settings.max_upload_bytes}


@router.post("/batch", openapi_extra=_BATCH_BODY)
@body_kind("upload")
async def upload_batch(received: ReceivedBatch, request: Request, session: SessionDep, me: CurrentUser,
                       store: StorageDep) -> JSONResponse:
    """Upload many files at once, one resource each (multipart: each file a ``resources`` part; a
    ``files`` JSON array with each file's own fields; the shared fields of ``POST /resources``).
    Each file is stored or refused on its own: the answer lists, in order, ``status`` 201 (new
    resource), 200 (an earlier upload: same ``idempotency_key``, or ``on_duplicate=skip``) or the
    4xx of a refused file with its ``error``; a refused file leaves nothing behind."""
    janitor = request.app.state.upload_janitor
    if janitor.due():
        await run_in_threadpool(janitor.maybe_sweep)
    fields = received.fields
    form = batch_ingest.BatchForm(
        channel=fields.get("channel"), modality=fields.get("modality"), publish=_true(fields.get("bypass_inbox")),
        tags=(fields.get("tags") or "").split(","), project_id=fields.get("project_id") or None,
        source=fields.get("source"), anonymize=_true(fields.get("anonymize"), "anonymize"),
        anonymize_key=fields.get("anonymize_key") or None, on_duplicate=fields.get("on_duplicate"),
        manifest=fields.get("files"))
    items = await run_in_threadpool(batch_ingest.ingest_batch, session, store, me, received.files, form)
    return FastJSONResponse({"items": items})  # already JSON values: no response model to validate them against


def _true(value: str | None, name: str = "bypass_inbox") -> bool:
    text = (value or "false").strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no", ""):
        raise ValidationFailedError(f"{name} must be true or false, not {value!r}")
    return text in ("true", "1", "yes")


@router.get("", openapi_extra=_LIST_FILTERS)
def list_resources(request: Request, session: SessionDep, me: CurrentUser, page: PageDep) -> Response:
    """Resources of your organization with the filters of wire §4.2, newest first by default.

    ``totalCount`` is exact up to 10,000 matches (above, "at least" with ``totalCountCapped: true``,
    except an empty page just past the end: its offset is the exact count); ``after=<nextCursor>``
    pages on through the index (keyset), ``offset`` stays for clients that page by offset. The
    database writes the resources' JSON; the body is sent as it is."""
    filters = service.parse_filters(session, me, _list_params(request))
    return Response(service.list_resources(session, me, filters, page.offset, page.limit,
                                           after=request.query_params.get("after")), media_type="application/json")


@router.delete("", status_code=204)
def bulk_delete(session: UnitOfWork, me: CurrentUser,
                resource_ids: Annotated[str, Query(description="Comma-separated resource ids")]) -> Response:
    """Soft-delete several resources at once (all or none)."""
    ids = [part.strip() for part in resource_ids.split(",") if part.strip()]
    if not ids:
        raise ValidationFailedError("resource_ids is empty")
    service.delete(session, me, ids)
    return Response(status_code=204)


@router.get("/channels")
def list_channels(session: SessionDep, me: CurrentUser, page: PageDep, channel_name: str | None = None,
                  project_name: str | None = None) -> dict[str, Any]:
    """Upload channels with the resources uploaded to each (wire §5.4)."""
    items, total = membership.list_channels(session, me, channel_name, project_name, page.offset, page.limit)
    return envelope(items, total)


@router.get("/not-annotated", openapi_extra=_LIST_FILTERS)
def list_not_annotated(request: Request, session: SessionDep, me: CurrentUser,
                       page: PageDep) -> Response:
    """Resources without any annotation; accepts the filters of ``GET /resources``."""
    filters = service.parse_filters(session, me, _list_params(request))
    return Response(service.list_resources(session, me, filters, page.offset, page.limit, not_annotated=True,
                                           after=request.query_params.get("after")), media_type="application/json")


@router.put("/tags")
def set_tags_many(body: TagsManyBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Replace (``mode=set``) or extend (``mode=add``) the tags of several resources."""
    resources = service.set_tags(session, me, body.resource_ids, body.tags, append=body.mode == "add")
    return {"resource_ids": [r.id for r in resources], "tags": service.clean_tags(body.tags), "mode": body.mode}


@router.post("/bulk-publish")
def bulk_publish(body: ResourceIdsBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Publish several resources (those already published stay so)."""
    ids = service.bulk_publish(session, me, body.resource_ids)
    return {"published": ids}


@router.post("/restore")
def bulk_restore(body: RestoreBody, session: UnitOfWork, me: CurrentUser, store: StorageDep) -> dict[str, Any]:
    """Restore several deleted resources; reports which were skipped and why."""
    result = service.restore(session, store, me, body.ids, strict=False)
    return result


@router.get("/{resource_id}")
def get_resource(resource_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One resource (deleted ones too, with ``deleted: true``)."""
    return wire.to_wire(session, service.visible_resource(session, me, resource_id))


@router.delete("/{resource_id}", status_code=204)
def delete_resource(resource_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Soft-delete a resource (restorable)."""
    service.delete(session, me, [resource_id])
    return Response(status_code=204)


@router.post("/{resource_id}/restore")
def restore_resource(resource_id: str, session: UnitOfWork, me: CurrentUser, store: StorageDep) -> dict[str, Any]:
    """Undo the deletion of a resource."""
    service.restore(session, store, me, [resource_id], strict=True)
    return wire.to_wire(session, service.visible_resource(session, me, resource_id))


@router.post("/{resource_id}/publish")
def publish_resource(resource_id: str, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Move a resource from the inbox to ``published`` (a published one stays as it is)."""
    resource = service.publish(session, me, resource_id)
    return wire.to_wire(session, resource)


@router.put("/{resource_id}/tags")
def set_tags(resource_id: str, body: TagsBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Replace the tags of a resource."""
    resources = service.set_tags(session, me, [resource_id], body.tags)
    return wire.to_wire(session, resources[0])


@router.get("/{resource_id}/file")
def download_file(resource_id: str, session: SessionDep, me: CurrentUser, store: StorageDep) -> Response:
    """The original bytes, with the resource's mimetype and file name."""
    resource = service.visible_resource(session, me, resource_id)
    headers = {"Content-Disposition": content_disposition(resource.filename)}
    try:
        path = store.local_path(resource.location)
        if path is not None:
            return FileResponse(path, media_type=resource.mimetype, headers=headers)
        chunks = store.iter_chunks(resource.location)
    except BlobNotFoundError:
        raise NotFoundError("Resource file")
    headers["Content-Length"] = str(resource.size)
    return StreamingResponse(chunks, media_type=resource.mimetype, headers=headers)


@router.get("/{resource_id}/slices")
def slice_geometry(resource_id: str, session: SessionDep, me: CurrentUser, store: StorageDep,
                   cache: VolumeCacheDep) -> dict[str, Any]:
    """Where each slice lies (per plane: count, size, origins, direction cosines, spacing), the
    file's own window and the sample count: what a viewer needs before it loads pixels."""
    resource = service.visible_resource(session, me, resource_id)
    return slices.geometry(store, cache, resource)


@router.get("/{resource_id}/slices/{plane}/{index}")
def slice_values(resource_id: str, plane: str, index: int, session: SessionDep, me: CurrentUser,
                 store: StorageDep, cache: VolumeCacheDep) -> Response:
    """The raw values of one slice (Hounsfield units for CT, NIfTI voxel values; 8-bit for images
    and videos) as a little-endian array; ``X-Slice-Rows/Columns/Samples/Dtype`` describe it."""
    resource = service.visible_resource(session, me, resource_id)
    body, headers = slices.values(store, cache, resource, plane, index)
    return Response(body, media_type="application/octet-stream", headers=headers)


@router.get("/{resource_id}/frames/{frame_index}")
def download_frame(resource_id: str, frame_index: int, session: SessionDep, me: CurrentUser,
                   store: StorageDep) -> Response:
    """One frame rendered as PNG: DICOM with its rescale and window/level, NIfTI slices, video frames."""
    resource = service.visible_resource(session, me, resource_id)
    return Response(frames.render_frame(store, resource, frame_index), media_type="image/png")


@project_router.get("/{project_id}/resources", responses=RESOURCE_ARRAY_RESPONSE)
def get_project_resources(project_id: str, session: SessionDep, me: CurrentUser, label_status: str | None = None,
                          label_set: str = "ground-truth") -> StreamingResponse:
    """Every live resource of a project, oldest first, as a bare JSON array (``label_status``
    filters on the resources' label status in ``label_set``). The database writes the resources'
    JSON 5,000 at a time; the body is streamed as it is written (chunked, no ``Content-Length``)."""
    body = membership.project_resources_body(session, me, check_uuid(project_id, "project"), label_status, label_set)
    return StreamingResponse(body, media_type="application/json")


@project_router.post("/{project_id}/resources")
def update_project_resources(project_id: str, body: ProjectResourcesBody, session: UnitOfWork,
                             me: CurrentUser) -> dict[str, Any]:
    """Add (``resource_ids_to_add``) and remove (``resource_ids_to_delete``) project resources."""
    result = membership.update_project_resources(session, me, project_id, body.resource_ids_to_add,
                                                 body.resource_ids_to_delete, body.all_files_selected)
    return result

"""Annotation endpoints (wire protocol §4.3, §7, §8)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, File, Form, Response, UploadFile
from fastapi.responses import StreamingResponse

from datamint.server.annotations import files, frame_ranges, service, wire
from datamint.server.annotations.masks import with_blobs
from datamint.server.annotations.schemas import FrameRangesBody, IdsBody, PatchBody, SearchBody
from datamint.server.common.http import content_disposition
from datamint.server.common.values import JsonValue, Line, line, text
from datamint.server.deps import CurrentUser, SessionDep, StorageDep, UnitOfWork

router = APIRouter(prefix="/annotations", tags=["annotations"])
T = TypeVar("T")


@router.post("/search")
def search(body: SearchBody, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """Annotations matching the filters of the body, oldest first, paginated by the body's
    ``offset``/``limit`` (strings accepted)."""
    items, total = service.search(session, me, body)
    return {"data": items, "totalCount": total}


@router.post("/delete-batch")
def delete_batch(body: IdsBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Soft-delete several annotations (all or none)."""
    ids = service.delete(session, me, body.ids)
    return {"deleted": ids}


@router.get("/{annotation_id}")
def get_annotation(annotation_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One annotation (deleted ones too, with ``deleted: true``)."""
    annotation, _ = service.visible_annotation(session, me, annotation_id)
    return wire.to_wire(session, annotation)


@router.patch("/{annotation_id}")
def patch_annotation(annotation_id: str, body: PatchBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Change an annotation's identifier, value, units, geometry or project."""
    annotation = service.patch(session, me, annotation_id, body)
    return wire.to_wire(session, annotation)


@router.delete("/{annotation_id}", status_code=204)
def delete_annotation(annotation_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Soft-delete an annotation."""
    service.delete(session, me, [annotation_id])
    return Response(status_code=204)


@router.patch("/{annotation_id}/approve")
def approve(annotation_id: str, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Approve an annotation (status ``published``)."""
    annotation = service.approve(session, me, annotation_id)
    return wire.to_wire(session, annotation)


@router.post("/{resource_id}/annotations", status_code=201)
def create(resource_id: str, items: Annotated[JsonValue, Body()], session: UnitOfWork, me: CurrentUser) -> list[str]:
    """Create annotations from a JSON array of create items; returns their ids in order."""
    ids = service.create(session, me, resource_id, items)
    return ids


@router.post("/{resource_id}/annotations/{annotation_id}/file")
def upload_file(resource_id: str, annotation_id: str, session: UnitOfWork, me: CurrentUser, store: StorageDep,
                file: Annotated[UploadFile, File(description="The mask (PNG or NIfTI)")]) -> dict[str, Any]:
    """Attach a segmentation mask to an annotation: a PNG of the frame for frame annotations, a
    NIfTI volume of the resource's geometry for image-scope annotations of volumes."""
    data = file.file.read()
    annotation = with_blobs(session, store, me.customer_id,
                            lambda pending: files.upload_file(session, pending, me, resource_id, annotation_id, data))
    return wire.to_wire(session, annotation)


@router.get("/{resource_id}/annotations/{annotation_id}/file")
def download_file(resource_id: str, annotation_id: str, session: SessionDep, me: CurrentUser,
                  store: StorageDep) -> Response:
    """The mask bytes of an annotation (PNG or gzip NIfTI)."""
    found = files.download_file(session, store, me, resource_id, annotation_id)
    headers = {"Content-Disposition": content_disposition(found.filename)}
    if found.size is not None:
        headers["Content-Length"] = str(found.size)
    return StreamingResponse(found.chunks, media_type=found.mimetype, headers=headers)


@router.post("/{resource_id}/segmentations/file", status_code=201)
def upload_volume(
    resource_id: str, session: UnitOfWork, me: CurrentUser, store: StorageDep,
    file: Annotated[UploadFile, File(description="Labelled NIfTI volume (.nii or .nii.gz)")],
    segmentation_map: Annotated[text(1 << 20) | None, Form(description='{"1": "liver", ...}')] = None,
    annotation_worklist_id: Annotated[Line | None, Form()] = None,
    model_id: Annotated[line(300) | None, Form()] = None,
    source: Annotated[line(40) | None, Form()] = None,
    imported_from: Annotated[line(300) | None, Form()] = None,
    import_author: Annotated[line(320) | None, Form(description="The author to credit")] = None,
    label_set: Annotated[line(100) | None, Form(description="The label set (default: by who/what made it)")] = None,
) -> list[str]:
    """Create one image-scope segmentation per label of a NIfTI volume, each with its own binary
    mask; returns their ids by label value."""
    data = file.file.read()
    form = files.VolumeImport(segmentation_map, annotation_worklist_id or None, model_id or None, source or None,
                              imported_from or None, import_author or None, label_set or None)
    return with_blobs(session, store, me.customer_id,
                      lambda pending: files.import_volume(session, pending, me, resource_id, data, form))


@router.put("/{resource_id}/frame-ranges")
def set_frame_ranges(resource_id: str, body: FrameRangesBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Replace your frame annotations of one identifier by values over half-open frame ranges."""
    result = frame_ranges.set_frame_ranges(session, me, resource_id, body)
    return result


@router.get("/{resource_id}/frame-ranges")
def get_frame_ranges(resource_id: str, session: SessionDep, me: CurrentUser, annotation_worklist_id: str | None = None,
                     created_by: str | None = None) -> list[dict[str, Any]]:
    """Frame annotations of a resource grouped as records with half-open ``frame_ranges``."""
    return frame_ranges.get_frame_ranges(session, me, resource_id, annotation_worklist_id, created_by)


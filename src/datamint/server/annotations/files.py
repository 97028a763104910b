"""Annotation files: upload and download of one annotation's mask, and the import of a labelled
NIfTI volume as one segmentation per label (``POST /annotations/{rid}/segmentations/file``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from datamint.server.annotations import masks, service
from datamint.server.annotations.masks import PendingBlobs
from datamint.server.annotations.models import Annotation
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.common.values import parse_json
from datamint.server.db import locks
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.storage.base import BlobNotFoundError, BlobStore


def _annotation_of(session: Session, me: Principal, resource_id: str, annotation_id: str) -> Annotation:
    annotation, _ = service.visible_annotation(session, me, annotation_id)
    if annotation.resource_id != check_uuid(resource_id, "resource"):
        raise NotFoundError("Annotation")
    return annotation


def upload_file(session: Session, pending: PendingBlobs, me: Principal, resource_id: str, annotation_id: str,
                data: bytes) -> Annotation:
    """Attach a mask to a segmentation annotation (replacing any previous one).

    Raises:
        ValidationFailedError: The annotation is not a segmentation, or the mask does not fit
            the resource (the message gives both sizes).
    """
    annotation = _annotation_of(session, me, resource_id, annotation_id)
    annotation = service.changeable_annotation(session, me, annotation.id)
    if annotation.type != "segmentation":
        raise ValidationFailedError(f"Annotation {annotation.id} is a '{annotation.type}'; only segmentations "
                                    "take a mask file")
    resource = service.live_resource(session, me, annotation.resource_id)
    mask = masks.check_upload(data, service.shape_of(resource), annotation.scope)
    key = masks.mask_key(me.customer_id, annotation.id, mask)
    pending.put_all([(key, mask.data)])
    # Lock the row, then retire the mask it holds *now*: of two concurrent uploads, the second
    # retires the first one's mask instead of leaving it stored and unreferenced.
    annotation = locks.lock_row(session, Annotation, annotation.id)
    if annotation is None:
        raise NotFoundError("Annotation")
    pending.retire(annotation.file_key)
    annotation.file_key, annotation.file_mimetype, annotation.file_size = key, mask.mimetype, len(mask.data)
    annotation.updated_at = utcnow()
    pending.settle()
    return annotation


@dataclass
class FileDownload:
    """An annotation's mask to stream back."""

    chunks: Iterator[bytes]
    mimetype: str
    size: int | None
    filename: str


def download_file(session: Session, store: BlobStore, me: Principal, resource_id: str,
                  annotation_id: str) -> FileDownload:
    """The mask of an annotation.

    Raises:
        NotFoundError: No such annotation on this resource, or it has no file.
    """
    annotation = _annotation_of(session, me, resource_id, annotation_id)
    if not annotation.file_key:
        raise NotFoundError("Annotation file", "Annotation file not found: this annotation has no mask")
    try:
        chunks = store.iter_chunks(annotation.file_key)
    except BlobNotFoundError:
        raise NotFoundError("Annotation file")
    return FileDownload(chunks, annotation.file_mimetype or "application/octet-stream", annotation.file_size,
                        f"{annotation.identifier}{masks.extension(annotation.file_mimetype)}")


@dataclass
class VolumeImport:
    """The optional form fields of ``POST /annotations/{rid}/segmentations/file``."""

    segmentation_map: str | None = None
    worklist_id: str | None = None
    model_id: str | None = None
    source: str | None = None
    imported_from: str | None = None
    import_author: str | None = None
    label_set: str | None = None


def import_volume(session: Session, pending: PendingBlobs, me: Principal, resource_id: str, data: bytes,
                  form: VolumeImport) -> list[str]:
    """Split a labelled NIfTI volume into one image-scope segmentation per label, each with its
    own binary mask; returns the new annotation ids by label value.

    Raises:
        ValidationFailedError: The volume does not fit the resource, holds unnamed labels, or a
            name is not allowed by the worklist.
    """
    resource = service.live_resource(session, me, resource_id)
    shape = service.shape_of(resource)
    if not shape.is_volume:
        raise ValidationFailedError(f"Resource {resource.id} ({resource.mimetype}) is not a volume; upload 2-D "
                                    "masks as PNG frame segmentations instead")
    names = masks.parse_segmentation_map(form.segmentation_map)
    service.clean_items(session, me, resource, [{"type": "segmentation", "identifier": "-", "scope": "image",
                                                 "annotation_worklist_id": form.worklist_id}],
                        check_labels=False)  # permissions first, before the volume is read
    if not data:
        raise ValidationFailedError("The segmentation file is empty")
    labels = masks.split_labels(data, shape, names, service.MAX_ITEMS)
    raw_items: list[dict[str, Any]] = [
        {"type": "segmentation", "identifier": name, "scope": "image", "annotation_worklist_id": form.worklist_id,
         "model_id": form.model_id, "source": form.source or "imported", "imported_from": form.imported_from,
         "import_author": form.import_author, "class_map": {"1": name}, "label_set": form.label_set}
        for _, name, _ in labels]
    if not raw_items:
        return []
    items = service.clean_items(session, me, resource, raw_items)
    ids = [new_id() for _ in labels]
    keys = [masks.mask_key(me.customer_id, aid, mask) for aid, (_, _, mask) in zip(ids, labels, strict=True)]
    pending.put_all([(key, mask.data) for key, (_, _, mask) in zip(keys, labels, strict=True)])
    extras = [{"id": aid, "file_key": key, "file_mimetype": mask.mimetype, "file_size": len(mask.data)}
              for aid, key, (_, _, mask) in zip(ids, keys, labels, strict=True)]
    created = service.insert_items(session, me, resource, items, per_item=extras)
    pending.settle()
    return created


MAX_WORKLIST_ITEMS = 100


def _payload(raw: str) -> list[dict[str, Any]]:
    items = parse_json(raw, "payload")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationFailedError("payload must be a JSON array of {identifier, frame_index, width, height} objects")
    if not items or len(items) > MAX_WORKLIST_ITEMS:
        raise ValidationFailedError(f"payload must hold 1 to {MAX_WORKLIST_ITEMS} segmentations")
    return items


def upload_worklist_segmentations(session: Session, pending: PendingBlobs, me: Principal, worklist_id: str,
                                  resource_id: str, payload: str, images: list[bytes]) -> dict[str, Any]:
    """Create (or, with an ``id``, update) segmentations of a resource in a worklist, the i-th
    image being the mask of the i-th payload item (``POST /annotationsets/{id}/resources/{rid}/segmentations``).

    Returns:
        ``{"ids": [...] (payload order), "created": [...], "updated": [...]}``.

    Raises:
        ValidationFailedError: Bad payload, a size that is not the resource's, an identifier the
            worklist does not declare, or more images than items.
    """
    resource = service.live_resource(session, me, resource_id)
    shape = service.shape_of(resource)
    items = _payload(payload)
    if len(images) > len(items):
        raise ValidationFailedError(f"{len(images)} images for {len(items)} payload items")
    for position, item in enumerate(items):
        width, height = item.get("width"), item.get("height")
        if (width, height) != (None, None) and (width, height) != (shape.width, shape.height):
            raise ValidationFailedError(f"segmentation {position}: size {width}x{height} does not match the "
                                        f"resource's {shape.width}x{shape.height} (width x height)")
    raw_items = [{"type": "segmentation", "identifier": item.get("identifier"), "frame_index": item.get("frame_index"),
                  "set_name": item.get("set_name"), "annotation_worklist_id": worklist_id, "source": "manual"}
                 for item in items]
    cleaned = service.clean_items(session, me, resource, raw_items)
    existing = {}
    for position, item in enumerate(items):
        if item.get("id"):
            annotation = service.changeable_annotation(session, me, str(item["id"]))
            if (annotation.resource_id != resource.id or annotation.type != "segmentation"
                    or annotation.worklist_id != cleaned[position][1].id):  # its labels are this worklist's
                raise ValidationFailedError(f"segmentation {position}: {annotation.id} is not a segmentation of "
                                            "this resource in this worklist")
            existing[position] = annotation
    stored = [masks.check_upload(data, shape, cleaned[i][0].scope) for i, data in enumerate(images)]
    ids = [existing[i].id if i in existing else new_id() for i in range(len(items))]
    keys = [masks.mask_key(me.customer_id, ids[i], mask) for i, mask in enumerate(stored)]
    pending.put_all([(key, mask.data) for key, mask in zip(keys, stored, strict=True)])
    files = {i: {"file_key": keys[i], "file_mimetype": stored[i].mimetype, "file_size": len(stored[i].data)}
             for i in range(len(stored))}
    locks.lock_rows(session, Annotation, [a.id for a in existing.values()])  # fresh file keys to retire
    new_positions = [i for i in range(len(items)) if i not in existing]
    if new_positions:
        service.insert_items(session, me, resource, [cleaned[i] for i in new_positions],
                             per_item=[{"id": ids[i], **files.get(i, {})} for i in new_positions])
    for position, annotation in existing.items():
        annotation.identifier = cleaned[position][0].identifier
        annotation.frame_index = cleaned[position][0].frame_index
        annotation.scope = cleaned[position][0].scope
        if position in files:
            pending.retire(annotation.file_key)
            annotation.file_key = files[position]["file_key"]
            annotation.file_mimetype = files[position]["file_mimetype"]
            annotation.file_size = files[position]["file_size"]
        annotation.updated_at = utcnow()
    pending.settle()
    return {"ids": ids, "created": [ids[i] for i in new_positions], "updated": [ids[i] for i in existing]}

"""What a dataset holds at one moment: its resources (with content hashes), its annotations (with
their masks) and its label schema.

A :class:`Snapshot` is built either from the live project (:func:`live_snapshot`) or from a stored
version (:func:`version_snapshot`); the manifest, the archive and version creation all work on it.
Freezing a live snapshot (:func:`freeze_masks`) copies every mask into a content-addressed blob, so
a later edit or deletion of the annotation never reaches the version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server.annotations import repository as annotations_repo
from datamint.server.annotations import wire as annotations_wire
from datamint.server.annotations.models import Annotation
from datamint.server.datasets import repository as repo
from datamint.server.datasets.models import ContentBlob, DatasetVersion, ResourceDigest
from datamint.server.db.base import iso
from datamint.server.errors import NotFoundError
from datamint.server.projects.models import Project
from datamint.server.resources import repository as resources_repo
from datamint.server.resources import wire as resources_wire
from datamint.server.storage.base import BlobNotFoundError, BlobStore
from datamint.server.worklists import repository as worklists_repo
from datamint.server.worklists import specs as worklist_specs

MASK_EXTENSIONS = {"image/png": ".png", "application/nifti": ".nii.gz"}


@dataclass
class ResourceEntry:
    """One resource of a snapshot."""

    id: str
    sha256: str
    size: int
    blob_key: str
    data: dict[str, Any]

    @property
    def mimetype(self) -> str:
        """The resource's mimetype."""
        return str(self.data.get("mimetype") or "application/octet-stream")

    @property
    def filename(self) -> str:
        """The resource's file name."""
        return str(self.data.get("filename") or self.id)


@dataclass
class AnnotationEntry:
    """One annotation of a snapshot, with where its mask's bytes are (if it has one)."""

    id: str
    resource_id: str
    data: dict[str, Any]
    mask_sha256: str | None = None
    mask_size: int | None = None
    mask_mimetype: str | None = None
    mask_key: str | None = None


@dataclass
class Snapshot:
    """A dataset's content; ``version`` is ``None`` for the live state."""

    resources: list[ResourceEntry]
    annotations: list[AnnotationEntry]
    label_schema: dict[str, Any]
    version: DatasetVersion | None = None
    written: list[str] = field(default_factory=list)
    """Content blobs written while freezing (deleted again if the version is not committed)."""


def sha256_of(store: BlobStore, key: str) -> tuple[str, int]:
    """SHA-256 and size of a stored blob, streamed."""
    digest = hashlib.sha256()
    size = 0
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def label_schema(session: Session, project: Project) -> dict[str, Any]:
    """The project's label schema: each worklist's annotation specs and segmentation label group."""
    worklists = []
    for w in worklists_repo.of_projects(session, [project.id]):
        seg = worklist_specs.segmentation_data_of(w.segmentation_data)
        worklists.append({"id": w.id, "name": w.name, "is_project_default": w.is_project_default,
                          "annotations": list(w.specs or []), "segmentation_data": seg,
                          "segmentation_group": worklist_specs.groups_of(seg)["groups"]})
    return {"project_id": project.id, "segmentationData": project.segmentation_data or {}, "worklists": worklists}


def _digests(session: Session, store: BlobStore, resources: list[Any]) -> dict[str, ResourceDigest]:
    """Digest of each resource, computed (streamed) and remembered for those never hashed before."""
    known = repo.digests(session, [r.id for r in resources])
    for resource in resources:
        if resource.id in known:
            continue
        try:
            sha, size = sha256_of(store, resource.location)
        except BlobNotFoundError:
            raise NotFoundError("Resource file", f"Resource file not found: the bytes of {resource.filename!r} "
                                f"({resource.id}) are missing from storage")
        digest = ResourceDigest(resource_id=resource.id, sha256=sha, size=size)
        session.add(digest)
        known[resource.id] = digest
    return known


def live_snapshot(session: Session, store: BlobStore, project: Project) -> Snapshot:
    """The project's current resources (hashed), live annotations and label schema."""
    resources = list(resources_repo.project_resources(session, project.id))
    found = _digests(session, store, resources)
    wires = resources_wire.to_wire_many(session, resources)
    entries = [ResourceEntry(r.id, found[r.id].sha256, found[r.id].size, r.location, w)
               for r, w in zip(resources, wires, strict=True)]
    live = {r.id for r in resources}  # the project scope also covers its deleted resources
    rows = [a for a in session.scalars(select(Annotation).where(
        annotations_repo.project_scope(session, project.id), Annotation.deleted.is_(False))
        .order_by(Annotation.created_at, Annotation.id)) if a.resource_id in live]
    annotation_wires = annotations_wire.to_wire_many(session, rows)
    annotations = [AnnotationEntry(a.id, a.resource_id, w, mask_mimetype=a.file_mimetype, mask_key=a.file_key,
                                   mask_size=a.file_size) for a, w in zip(rows, annotation_wires, strict=True)]
    return Snapshot(entries, annotations, label_schema(session, project))


def content_key(customer_id: str, sha256: str, mimetype: str) -> str:
    """Where the content-addressed copy of a mask with this hash lives."""
    return f"{customer_id}/dataset-blobs/{sha256[:2]}/{sha256}{MASK_EXTENSIONS.get(mimetype, '')}"


def freeze_masks(session: Session, store: BlobStore, customer_id: str, snapshot: Snapshot) -> None:
    """Copy every mask of a live snapshot into a content-addressed blob and point the entries at it.

    Blobs already stored (same bytes in an earlier version) are shared; new ones are recorded in
    ``snapshot.written`` so a failed request can delete them. A copy found in the store without
    its row (copied ahead by :func:`~datamint.server.datasets.versioning.copy_masks_ahead`) is
    used as it is: the key is the bytes' hash.
    """
    with_masks = [a for a in snapshot.annotations if a.mask_key]
    hashes: dict[str, tuple[str, int]] = {}
    for entry in with_masks:
        try:
            hashes[entry.id] = sha256_of(store, entry.mask_key)  # type: ignore[arg-type]
        except BlobNotFoundError:
            raise NotFoundError("Annotation file", f"Annotation file not found: the mask of annotation {entry.id} "
                                "is missing from storage")
    stored = repo.content_blobs(session, customer_id, [sha for sha, _ in hashes.values()])
    for entry in with_masks:
        sha, size = hashes[entry.id]
        mimetype = entry.mask_mimetype or "application/octet-stream"
        if sha not in stored:
            key = content_key(customer_id, sha, mimetype)
            if not store.exists(key):  # content-addressed: bytes already there (copied ahead) are these bytes
                store.copy(entry.mask_key, key)  # type: ignore[arg-type]
                snapshot.written.append(key)
            blob = ContentBlob(customer_id=customer_id, sha256=sha, blob_key=key, size=size, mimetype=mimetype)
            session.add(blob)
            stored[sha] = blob
        entry.mask_sha256, entry.mask_size, entry.mask_key = sha, size, stored[sha].blob_key
        entry.mask_mimetype = stored[sha].mimetype


def version_snapshot(session: Session, version: DatasetVersion) -> Snapshot:
    """The frozen content of a stored version."""
    resources = [ResourceEntry(r.resource_id, r.sha256, r.size, r.blob_key, dict(r.data))
                 for r in repo.version_resources(session, version.id)]
    rows = repo.version_annotations(session, version.id)
    blobs = repo.content_blobs(session, version.customer_id, [a.mask_sha256 for a in rows if a.mask_sha256])
    annotations = [AnnotationEntry(a.annotation_id, a.resource_id, dict(a.data), a.mask_sha256, a.mask_size,
                                   a.mask_mimetype, blobs[a.mask_sha256].blob_key if a.mask_sha256 in blobs else None)
                   for a in rows]
    return Snapshot(resources, annotations, dict(version.label_schema or {}), version)


def version_to_wire(version: DatasetVersion) -> dict[str, Any]:
    """The wire shape of a version (``DatasetVersion``)."""
    return {
        "id": version.id, "dataset_id": version.dataset_id, "project_id": version.project_id,
        "number": version.number, "version": version.number, "name": version.name,
        "description": version.description, "created_at": iso(version.created_at), "created_by": version.created_by,
        "resource_count": version.resource_count, "annotation_count": version.annotation_count,
        "total_size": version.total_size, "status": "ready",
    }


def manifest(snapshot: Snapshot, dataset: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a snapshot: resources with hashes, annotations with mask hashes, label schema."""
    return {
        "manifest_version": 1,
        "dataset": dataset,
        "version": version_to_wire(snapshot.version) if snapshot.version else None,
        "label_schema": snapshot.label_schema,
        "resources": [{**r.data, "sha256": r.sha256, "size": r.size} for r in snapshot.resources],
        "annotations": [{**a.data, "mask": None if not a.mask_sha256 else {
            "sha256": a.mask_sha256, "size": a.mask_size, "mimetype": a.mask_mimetype}} for a in snapshot.annotations],
    }

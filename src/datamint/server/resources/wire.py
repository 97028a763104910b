"""The wire shapes of resources (wire protocol §5.2) and channels (§5.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from datamint.imaging.sniff import DICOM, NIFTI
from datamint.server.db.base import iso
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource


def storage_for(mimetype: str) -> str:
    """The ``storage`` name the official client uses to pick a Resource subclass."""
    if mimetype == DICOM:
        return "DicomResource"
    if mimetype == NIFTI:
        return "NiftiResource"
    if mimetype.startswith("image/"):
        return "ImageResource"
    if mimetype.startswith("video/"):
        return "VideoResource"
    return "FileResource"


def resource_uri(resource_id: str) -> str:
    """Where the original bytes of a resource are downloaded from."""
    return f"/resources/{resource_id}/file"


#: A resource as the wire functions read it: the ORM object or the column values a new resource
#: is inserted with.
ResourceLike = Resource | Mapping[str, Any]

#: The resource attributes a wire dict shows, in the order :func:`_wire` unpacks them.
_FIELDS = ("id", "storage", "location", "filename", "mimetype", "size", "status", "modality", "file_metadata",
           "source_filepath", "upload_channel", "upload_mechanism", "customer_id", "created_at", "created_by",
           "published", "published_on", "published_by", "deleted", "deleted_at", "deleted_by", "instance_uid",
           "series_uid", "study_uid", "patient_id", "content_sha256", "created_by_id")


def _values(r: ResourceLike) -> tuple[Any, ...]:
    if isinstance(r, Mapping):
        return tuple(r[name] for name in _FIELDS)
    return tuple(getattr(r, name) for name in _FIELDS)


def to_wire_many(session: Session, resources: Sequence[Resource]) -> list[dict[str, Any]]:
    """Wire dicts of several resources; tags, projects and uploader names come in three queries.
    (Listing pages have the database write the same objects: :mod:`.wire_json`.)"""
    values = [_values(r) for r in resources]
    ids = [v[0] for v in values]
    tags = repo.tags_of(session, ids)
    projects = repo.projects_of(session, ids)
    names = repo.user_names(session, [v[-1] for v in values])
    return [_wire(v, tags.get(v[0], []), projects.get(v[0], []), names.get(v[-1], {})) for v in values]


def new_resource_to_wire(resource: ResourceLike, tags: list[str], projects: list[dict[str, str]],
                         user: dict[str, Any]) -> dict[str, Any]:
    """The wire dict of a resource just created, from what the caller already knows (no query):
    the ORM object, or the column values it was inserted with."""
    return _wire(_values(resource), tags, projects, user)


def to_wire(session: Session, resource: Resource) -> dict[str, Any]:
    """The wire dict of one resource."""
    return to_wire_many(session, [resource])[0]


def _wire(values: tuple[Any, ...], tags: list[str], projects: list[dict[str, str]],
          user: dict[str, Any]) -> dict[str, Any]:
    (rid, storage, location, filename, mimetype, size, status, modality, metadata, source_filepath, channel,
     mechanism, customer_id, created_at, created_by, published, published_on, published_by, deleted, deleted_at,
     deleted_by, instance_uid, series_uid, study_uid, patient_id, content_sha256, _) = values
    return {
        "id": rid,
        "storage": storage,
        "location": location,
        "filename": filename,
        "mimetype": mimetype,
        "size": size,
        "status": status,
        "modality": modality,
        "metadata": metadata or {},
        "source_filepath": source_filepath,
        "upload_channel": channel or "",
        "upload_mechanism": mechanism,
        "resource_uri": resource_uri(rid),
        "customer_id": customer_id,
        "created_at": iso(created_at),
        "created_by": created_by,
        "published": published,
        "published_on": iso(published_on),
        "published_by": published_by,
        "deleted": deleted,
        "deleted_at": iso(deleted_at),
        "deleted_by": deleted_by,
        "tags": tags,
        "instance_uid": instance_uid,
        "series_uid": series_uid,
        "study_uid": study_uid,
        "patient_id": patient_id,
        "content_sha256": content_sha256,
        "user_info": {"firstname": user.get("firstname") or "", "lastname": user.get("lastname") or ""},
        "projects": projects,
    }


def channel_to_wire(name: str, first: datetime, last: datetime, members: Sequence[Resource]) -> dict[str, Any]:
    """One channel: its name (``None`` for resources uploaded without a channel) and its resources."""
    return {
        "channel_name": name or None,
        "resource_data": [
            {"created_by": r.created_by, "customer_id": r.customer_id, "resource_id": r.id,
             "resource_file_name": r.filename, "resource_mimetype": r.mimetype}
            for r in members
        ],
        "resource_count": len(members),
        "deleted": False,
        "created_at": iso(first),
        "updated_at": iso(last),
    }

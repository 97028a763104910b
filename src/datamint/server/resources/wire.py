"""The wire shapes of resources (wire protocol §5.2) and channels (§5.4)."""

from __future__ import annotations

from collections.abc import Sequence
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


def to_wire_many(session: Session, resources: Sequence[Resource]) -> list[dict[str, Any]]:
    """Wire dicts of several resources; tags, projects and uploader names come in three queries."""
    ids = [r.id for r in resources]
    tags = repo.tags_of(session, ids)
    projects = repo.projects_of(session, ids)
    names = repo.user_names(session, [r.created_by_id for r in resources])
    return [_wire(r, tags.get(r.id, []), projects.get(r.id, []), names.get(r.created_by_id, {})) for r in resources]


def new_resource_to_wire(resource: Resource, tags: list[str], projects: list[dict[str, str]],
                         user: dict[str, Any]) -> dict[str, Any]:
    """The wire dict of a resource just created, from what the caller already knows (no query)."""
    return _wire(resource, tags, projects, user)


def to_wire(session: Session, resource: Resource) -> dict[str, Any]:
    """The wire dict of one resource."""
    return to_wire_many(session, [resource])[0]


def _wire(r: Resource, tags: list[str], projects: list[dict[str, str]], user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r.id,
        "storage": r.storage,
        "location": r.location,
        "filename": r.filename,
        "mimetype": r.mimetype,
        "size": r.size,
        "status": r.status,
        "modality": r.modality,
        "metadata": r.file_metadata or {},
        "source_filepath": r.source_filepath,
        "upload_channel": r.upload_channel or "",
        "upload_mechanism": r.upload_mechanism,
        "resource_uri": resource_uri(r.id),
        "customer_id": r.customer_id,
        "created_at": iso(r.created_at),
        "created_by": r.created_by,
        "published": r.published,
        "published_on": iso(r.published_on),
        "published_by": r.published_by,
        "deleted": r.deleted,
        "deleted_at": iso(r.deleted_at),
        "deleted_by": r.deleted_by,
        "tags": tags,
        "instance_uid": r.instance_uid,
        "series_uid": r.series_uid,
        "study_uid": r.study_uid,
        "patient_id": r.patient_id,
        "content_sha256": r.content_sha256,
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

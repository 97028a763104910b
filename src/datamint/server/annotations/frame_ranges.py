"""Frame ranges (``/annotations/{resource_id}/frame-ranges``): frame-scope value annotations of a
resource read as records over half-open frame ranges, and replaced as a whole per identifier."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import blinding, service, wire
from datamint.server.annotations import repository as repo
from datamint.server.annotations.schemas import FrameRangesBody
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import utcnow
from datamint.server.errors import ValidationFailedError
from datamint.server.resources import service as resources_service
from datamint.server.resources.models import Resource
from datamint.server.worklists import service as worklists_service


def set_frame_ranges(session: Session, me: Principal, resource_id: str, body: FrameRangesBody) -> dict[str, Any]:
    """Replace the caller's frame annotations of one identifier on a resource by the given
    values over half-open frame ranges; returns ``{"created": [...], "deleted": [...]}``.

    The resource's row is locked before the current annotations are read, so concurrent replaces
    apply one after the other and the last one's records are exactly what remains.
    """
    resource = service.live_resource(session, me, resource_id)
    # The right to change what is replaced, checked even when nothing replaces it (empty values).
    if body.annotation_worklist_id:
        worklists_service.allowed_worklist(session, me, check_uuid(body.annotation_worklist_id, "worklist"),
                                           policy.ProjectAction.ANNOTATE)
    else:
        policy.require(me, policy.Action.ANNOTATIONS_WRITE)
    raw_items = []
    for entry in body.values:
        for frame_range in entry.frame_ranges:
            if frame_range.end <= frame_range.start:
                raise ValidationFailedError(f"Frame range [{frame_range.start}, {frame_range.end}) is empty")
            raw_items.append({"type": body.type, "identifier": body.identifier, "scope": "frame",
                              "value": entry.value, "frame_range": [frame_range.start, frame_range.end - 1],
                              "annotation_worklist_id": body.annotation_worklist_id, "source": body.source,
                              "model_id": body.model_id})
    items = service.clean_items(session, me, resource, raw_items) if raw_items else []
    worklist_id = check_uuid(body.annotation_worklist_id, "worklist") if body.annotation_worklist_id else None
    locks.lock_row(session, Resource, resource.id)
    existing = repo.frame_annotations(session, me.customer_id, resource.id, body.identifier, body.type,
                                      worklist_id, me.email)
    old = [a for a in existing if a.worklist_id == worklist_id]  # no worklist: only those in none
    repo.mark_deleted(old, me.email, utcnow())
    created = service.insert_items(session, me, resource, items) if items else []
    return {"created": created, "deleted": [a.id for a in old]}


def get_frame_ranges(session: Session, me: Principal, resource_id: str, worklist_id: str | None,
                     created_by: str | None) -> list[dict[str, Any]]:
    """Frame annotations of a resource as records with half-open ``frame_ranges``."""
    resource = resources_service.visible_resource(session, me, resource_id)
    worklist = worklists_service.visible_worklist(session, me, worklist_id)[0] if worklist_id else None
    projects = service.visible_projects(session, me)
    rows = [a for a in repo.frame_annotations(session, me.customer_id, resource.id, None, None,
                                              worklist.id if worklist else None, created_by or None)
            if projects is None or a.project_id is None or a.project_id in projects]
    rows = blinding.visible_rows(session, me, rows)  # other readers' labels of incomplete items stay hidden
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for a in rows:
        key = (a.identifier, a.type, a.text_value, a.numeric_value, a.worklist_id, a.created_by)
        record = groups.setdefault(key, {
            "identifier": a.identifier, "type": a.type, "value": wire.value_of(a),
            "annotation_worklist_id": a.worklist_id, "created_by": a.created_by, "resource_id": a.resource_id,
            "frame_ranges": [], "annotation_ids": []})
        start, end = a.frame_index or 0, (a.frame_end if a.frame_end is not None else a.frame_index or 0) + 1
        ranges = record["frame_ranges"]
        if ranges and ranges[-1]["end"] >= start:
            ranges[-1]["end"] = max(ranges[-1]["end"], end)
        else:
            ranges.append({"start": start, "end": end})
        record["annotation_ids"].append(a.id)
    return list(groups.values())

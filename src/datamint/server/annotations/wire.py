"""The wire shape of annotations (wire protocol §7.1): both the server's and the SDK's field names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server.annotations import repository as repo
from datamint.server.annotations.models import Annotation
from datamint.server.db.base import iso
from datamint.server.resources import repository as resources_repo
from datamint.server.worklists.models import Worklist

NUMERIC_TYPES = ("integer", "float")


def file_url(a: Annotation) -> str:
    """Where an annotation's mask is downloaded from."""
    return f"/annotations/{a.resource_id}/annotations/{a.id}/file"


def value_of(a: Annotation) -> Any:
    """The annotation's value: the number of numeric types, else the text."""
    if a.type in NUMERIC_TYPES and a.numeric_value is not None:
        return int(a.numeric_value) if a.type == "integer" else a.numeric_value
    return a.text_value


def to_wire_many(session: Session, rows: Sequence[Annotation]) -> list[dict[str, Any]]:
    """Wire dicts of annotations; resource names, worklist names and authors come in three queries."""

    names = repo.resource_names(session, list({a.resource_id for a in rows}))
    worklist_ids = list({a.worklist_id for a in rows if a.worklist_id})
    worklists = dict(session.execute(select(Worklist.id, Worklist.name).where(Worklist.id.in_(worklist_ids))).all()
                     ) if worklist_ids else {}
    users = resources_repo.user_names(session, list({a.created_by_id for a in rows}))
    return [_wire(a, names.get(a.resource_id, (None, None)), worklists.get(a.worklist_id),
                  users.get(a.created_by_id)) for a in rows]


def to_wire(session: Session, annotation: Annotation) -> dict[str, Any]:
    """The wire dict of one annotation."""
    return to_wire_many(session, [annotation])[0]


def _wire(a: Annotation, resource: tuple[str | None, str | None], worklist_name: str | None,
          user: dict[str, Any] | None) -> dict[str, Any]:
    value = value_of(a)
    numeric = value if a.type in NUMERIC_TYPES else None
    return {
        "id": a.id,
        "resource_id": a.resource_id,
        "type": a.type,
        "annotation_type": a.type,
        "identifier": a.identifier,
        "name": a.identifier,
        "scope": a.scope,
        "frame_index": a.frame_index,
        "index": a.frame_index,
        "frame_range": [a.frame_index, a.frame_end] if a.frame_end is not None else None,
        "value": value,
        "text_value": None if a.type in NUMERIC_TYPES else a.text_value,
        "numeric_value": numeric,
        "units": a.units,
        "geometry": a.geometry,
        "values": None,
        "created_at": iso(a.created_at),
        "created_by": a.created_by,
        "added_by": a.created_by,
        "updated_at": iso(a.updated_at),
        "annotation_worklist_id": a.worklist_id,
        "annotation_worklist_name": worklist_name,
        "project_id": a.project_id,
        "status": a.status,
        "approved_at": iso(a.approved_at),
        "approved_by": a.approved_by,
        "source": a.source,
        "imported_from": a.imported_from,
        "import_author": a.import_author,
        "is_model": a.is_model,
        "model_id": a.model_id,
        "created_by_model": a.model_id if a.is_model else None,
        "confiability": a.confiability,
        "class_map": a.class_map,
        "set_name": a.set_name,
        "label_set": a.label_set,
        "promoted_from": a.promoted_from,
        "associated_file": a.file_key,
        "file": file_url(a) if a.file_key else None,
        "file_mimetype": a.file_mimetype,
        "resource_filename": resource[0],
        "resource_modality": resource[1],
        "user_info": user,
        "deleted": a.deleted,
        "deleted_at": iso(a.deleted_at),
        "deleted_by": a.deleted_by,
    }

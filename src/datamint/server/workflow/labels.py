"""The segmentation label group of a worklist (``/annotationsets/{id}/segmentation-group``):
read, replace with renames applied to existing segmentations, remove a label, load from a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server.annotations import repository as annotations_repo
from datamint.server.auth.service import Principal
from datamint.server.db.base import utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.worklists import specs
from datamint.server.worklists.service import allowed_worklist, visible_worklist


def segmentation_group(session: Session, me: Principal, worklist_id: str) -> dict[str, Any]:
    """``{"groups": {identifier: {color, index}}, ...}`` of a worklist."""
    worklist, _ = visible_worklist(session, me, worklist_id)
    return specs.groups_of(worklist.segmentation_data)


def update_segmentation_group(session: Session, me: Principal, worklist_id: str, data: dict[str, Any],
                              renames: Sequence[Any] | None) -> dict[str, Any]:
    """Replace the label group; each ``old:new`` rename is applied to the worklist's existing
    segmentations too.

    Raises:
        ValidationFailedError: A rename's new name is not in the new definitions.
    """
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    cleaned = specs.clean_segmentation_data(data, worklist.segmentation_data)
    names = {d["identifier"] for d in cleaned["definitions"]}
    renamed = 0
    for old, new in specs.parse_renames(renames):
        if new not in names:
            raise ValidationFailedError(f"Rename {old!r} → {new!r}: {new!r} is not one of the new definitions")
        renamed += annotations_repo.rename_identifier(session, worklist.id, old, new)
    worklist.segmentation_data = cleaned
    worklist.updated_at = utcnow()
    return {**specs.groups_of(cleaned), "renamed_annotations": renamed}


def delete_segmentation_label(session: Session, me: Principal, worklist_id: str, identifier: str) -> None:
    """Remove one label from the group (annotations with it stay)."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    data = dict(worklist.segmentation_data or {})
    definitions = [d for d in data.get("definitions") or [] if d.get("identifier") != identifier]
    if len(definitions) == len(data.get("definitions") or []):
        raise NotFoundError("Segmentation label")
    worklist.segmentation_data = {**data, "definitions": definitions}
    worklist.updated_at = utcnow()


def upload_segmentation_group(session: Session, me: Principal, worklist_id: str, filename: str, content: bytes,
                              replace_existing: bool) -> dict[str, Any]:
    """Load label definitions from a YAML/CSV/JSON file; they replace or extend the group."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    loaded = specs.parse_group_file(filename, content)
    current = list((worklist.segmentation_data or {}).get("definitions") or [])
    if replace_existing:
        definitions = loaded
    else:
        known = {d["identifier"] for d in current}
        used = {d["index"] for d in current}
        definitions = current + [{k: v for k, v in d.items() if not (k == "index" and v in used)}
                                 for d in loaded if str(d.get("identifier")) not in known]
    cleaned = specs.clean_segmentation_data({**(worklist.segmentation_data or {}), "definitions": definitions})
    worklist.segmentation_data = cleaned
    worklist.updated_at = utcnow()
    return specs.groups_of(cleaned)

"""Clone a project: its structure only, or with its resources, or with its resources and labels
(the Segments seed's ``clone_dataset``, with ``clone_labels``).

What a clone gets:

* always: the description, flags, segmentation labels, ``enable_label_status_verified``, every
  worklist's name, description, label schema, AI-segmentation settings and ``readers_per_item``,
  and the registered label sets. The caller becomes the clone's manager; members, annotators,
  issues and workunits stay with the original (they are about people's work there).
* ``with_resources``: the same resources (resources belong to the organization; nothing is
  copied) in the project and in each worklist.
* ``with_annotations`` (implies resources): a copy of every live annotation of the project (or of
  the ``label_sets`` asked for), each with its own copy of its mask, in the matching worklist, the
  label statuses, and the reader slots and completed items of multi-reader worklists (so what
  readers may see is the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import label_sets
from datamint.server.annotations import repository as annotations_repo
from datamint.server.annotations.masks import NIFTI, PendingBlobs, StoredMask, mask_key
from datamint.server.annotations.models import Annotation, LabelSet
from datamint.server.auth.service import Principal
from datamint.server.db.base import new_id, utcnow
from datamint.server.flows import projects as project_flows
from datamint.server.policy import ProjectAction
from datamint.server.projects import service as projects_service
from datamint.server.projects.models import Project
from datamint.server.projects.schemas import ProjectCreate
from datamint.server.quality.models import LabelStatus
from datamint.server.worklists import repository as worklists_repo
from datamint.server.worklists import service as worklists_service
from datamint.server.worklists.models import ItemCompletion, ReaderSlot, Worklist, WorklistResource

_WORKLIST_FIELDS = ("name", "description", "status", "specs", "segmentation_data", "viewable_ai_segs",
                    "editable_ai_segs", "return_url", "readers_per_item")
_SKIP = {"id", "worklist_id", "project_id", "file_key", "promoted_from"}


def clone(session: Session, pending: PendingBlobs, me: Principal, project_id: str, *, name: str | None,
          with_resources: bool, with_annotations: bool, only_sets: Sequence[str] | None) -> Project:
    """Clone a project (see the module docstring).

    Raises:
        NotFoundError: The project is not visible to the caller.
        ForbiddenError: No ``projects.create``; or, with annotations, no ``project.export`` in it.
        ConflictError: The name is taken.
    """
    policy.require(me, policy.Action.PROJECTS_CREATE)
    source, roles = projects_service.visible_project(session, me, project_id)
    policy.require_project(me, roles, ProjectAction.EXPORT if with_annotations else ProjectAction.READ)
    with_resources = with_resources or with_annotations
    wanted_sets = [label_sets.check_name(s) for s in only_sets] if only_sets else None
    resource_ids = worklists_repo.project_resource_ids(session, source.id) if with_resources else []
    worklists = list(worklists_repo.of_projects(session, [source.id]))
    old_default = next((w for w in worklists if w.is_project_default), None)
    body = ProjectCreate(name=(name or f"{source.name}-clone")[:300], description=source.description,
                         resource_ids=resource_ids, is_active_learning=source.is_active_learning,
                         two_up_display=source.two_up_display, require_review=source.require_review,
                         segmentationData=dict(source.segmentation_data or {}) or None)
    sources: list[Annotation] = []
    if with_annotations:
        conds = [annotations_repo.project_scope(session, source.id), Annotation.deleted.is_(False)]
        if wanted_sets:
            conds.append(Annotation.label_set.in_(wanted_sets))
        sources = list(session.scalars(select(Annotation).where(*conds).order_by(Annotation.created_at,
                                                                              Annotation.id)))
    copies: dict[str, tuple[str, str | None]] = {}  # source annotation → (new id, new blob key)
    blobs: list[tuple[str, bytes]] = []
    for annotation in sources:
        new = new_id()
        key = None
        if annotation.file_key:
            key = mask_key(me.customer_id, new, StoredMask(b"", annotation.file_mimetype or NIFTI))
            blobs.append((key, pending.store.get(annotation.file_key)))
        copies[annotation.id] = (new, key)
    snapshot = _snapshot(session, source, worklists, sources)
    if blobs:
        pending.put_all(blobs)  # commits the intents: read everything needed before this line
    clone_project = project_flows.create_project(session, me, body)
    clone_project.enable_label_status_verified = snapshot["verified"]
    mapping = _clone_worklists(session, me, clone_project, snapshot, old_default.id if old_default else None,
                               with_resources)
    for row in snapshot["label_sets"]:
        session.add(LabelSet(customer_id=me.customer_id, project_id=clone_project.id, name=row["name"],
                             description=row["description"], created_by=me.email))
    if with_annotations:
        _clone_annotations(session, clone_project, snapshot, mapping, copies)
    pending.settle()
    session.flush()
    return clone_project


def _snapshot(session: Session, source: Project, worklists: list[Worklist], sources: list[Annotation]
              ) -> dict[str, Any]:
    """Plain values of everything the clone copies (read before any commit expires the objects)."""
    wids = [w.id for w in worklists]
    return {
        "verified": bool(source.enable_label_status_verified),
        "worklists": [{"id": w.id, "default": w.is_project_default,
                       **{f: getattr(w, f) for f in _WORKLIST_FIELDS}} for w in worklists],
        "worklist_resources": worklists_repo.resource_ids(session, [w.id for w in worklists
                                                                    if not w.is_project_default]),
        "label_sets": [{"name": r.name, "description": r.description} for r in session.scalars(
            select(LabelSet).where(LabelSet.project_id == source.id).order_by(LabelSet.name))],
        "annotations": [{c.key: getattr(a, c.key) for c in Annotation.__table__.columns} for a in sources],
        "statuses": [{"resource_id": s.resource_id, "label_set": s.label_set, "status": s.status,
                      "version": s.version} for s in session.scalars(
            select(LabelStatus).where(LabelStatus.project_id == source.id))],
        "slots": [{"worklist_id": s.worklist_id, "resource_id": s.resource_id, "slot": s.slot, "user_id": s.user_id,
                   "done_at": s.done_at} for s in session.scalars(
            select(ReaderSlot).where(ReaderSlot.worklist_id.in_(wids)))] if wids else [],
        "completions": [{"worklist_id": c.worklist_id, "resource_id": c.resource_id} for c in session.scalars(
            select(ItemCompletion).where(ItemCompletion.worklist_id.in_(wids)))] if wids else [],
    }


def _clone_worklists(session: Session, me: Principal, project: Project, snapshot: dict[str, Any],
                     old_default: str | None, with_resources: bool) -> dict[str, str]:
    """Copy every worklist's structure; old worklist id → new."""
    mapping: dict[str, str] = {}
    new_default = worklists_service.default_worklist(session, project)
    for old in snapshot["worklists"]:
        if old["default"]:
            target = new_default
        else:
            target = Worklist(customer_id=me.customer_id, project_id=project.id, is_project_default=False,
                              created_by=me.email, name=old["name"])
            session.add(target)
        for field_name in _WORKLIST_FIELDS:
            setattr(target, field_name, old[field_name])
        session.flush()
        mapping[old["id"]] = target.id
        if with_resources and not old["default"]:
            ids = snapshot["worklist_resources"].get(old["id"], [])
            session.add_all(WorklistResource(worklist_id=target.id, resource_id=rid) for rid in ids)
    if old_default is not None:
        mapping.setdefault(old_default, new_default.id)
    return mapping


def _clone_annotations(session: Session, project: Project, snapshot: dict[str, Any], mapping: dict[str, str],
                       copies: dict[str, tuple[str, str | None]]) -> None:
    now = utcnow()
    for i, values in enumerate(snapshot["annotations"]):
        new, key = copies[values["id"]]
        kept = {k: v for k, v in values.items() if k not in _SKIP}
        kept["created_at"] = values["created_at"] or now + timedelta(microseconds=i)
        session.add(Annotation(**kept, id=new, project_id=project.id, file_key=key,
                               worklist_id=mapping.get(values["worklist_id"]) if values["worklist_id"] else None,
                               promoted_from=None))
    for row in snapshot["statuses"]:
        session.add(LabelStatus(project_id=project.id, updated_at=now, updated_by="clone", **row))
    for row in snapshot["slots"]:
        if row["worklist_id"] in mapping:
            session.add(ReaderSlot(**{**row, "worklist_id": mapping[row["worklist_id"]]}))
    for row in snapshot["completions"]:
        if row["worklist_id"] in mapping:
            session.add(ItemCompletion(worklist_id=mapping[row["worklist_id"]], resource_id=row["resource_id"]))

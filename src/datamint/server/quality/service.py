"""Label-quality rules that need a project: who may list, create, delete and promote label sets,
read and change label statuses, and read a project's issues and workunits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import label_sets, wire
from datamint.server.annotations import repository as annotations_repo
from datamint.server.annotations import service as annotations_service
from datamint.server.annotations.masks import PendingBlobs
from datamint.server.annotations.models import Annotation
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuids
from datamint.server.errors import ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project


def project_for(session: Session, me: Principal, project_id: str,
                action: ProjectAction) -> tuple[Project, list[str] | None]:
    """The project (404 for outsiders) after checking ``action`` (403)."""
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, action)
    return project, roles


def promote_annotation(session: Session, pending: PendingBlobs, me: Principal, annotation_id: str,
                       target: str) -> dict[str, Any]:
    """Promote one annotation into ``target`` (reviewers of its project; outside projects, reviewers
    of the organization). Returns the new annotation, or the existing copy when it was promoted
    into ``target`` before."""
    annotation, roles = annotations_service.visible_annotation(session, me, annotation_id)
    policy.require_annotation_review(me, roles, in_project=annotation.project_id is not None)
    if annotation.project_id is not None and label_sets.kind_of(target) == "custom":
        label_sets.resolve(session, me, annotation.project_id, target, is_model=False, model_id=None,
                           multi_reader=False, where="to")
    copies = label_sets.promote(session, pending, me, [annotation], target)
    if copies:
        return wire.to_wire(session, copies[0])
    existing = session.scalar(select(Annotation).where(Annotation.promoted_from == annotation.id,
                                                       Annotation.label_set == target,
                                                       Annotation.deleted.is_(False)))
    if existing is None:

        raise ValidationFailedError(f"The annotation is already in {target!r} (or deleted): nothing to promote")
    return wire.to_wire(session, existing)


def promote_set(session: Session, pending: PendingBlobs, me: Principal, project_id: str, name: str, target: str,
                resource_ids: Sequence[str] | None) -> dict[str, Any]:
    """Promote every live annotation of a label set of the project (optionally of some resources
    only) into ``target``; those promoted before are skipped."""
    project, _ = project_for(session, me, project_id, ProjectAction.REVIEW)
    source = label_sets.check_name(name)
    if label_sets.kind_of(target) == "custom":
        label_sets.resolve(session, me, project.id, target, is_model=False, model_id=None, multi_reader=False,
                           where="to")
    conds = [annotations_repo.project_scope(session, project.id), Annotation.label_set == source,
             Annotation.deleted.is_(False)]
    if resource_ids:
        conds.append(Annotation.resource_id.in_(check_uuids(list(resource_ids), "resource")))
    sources = session.scalars(select(Annotation).where(*conds).order_by(Annotation.created_at, Annotation.id)).all()
    copies = label_sets.promote(session, pending, me, list(sources), target)
    return {"from": source, "to": target, "promoted": [c.id for c in copies],
            "skipped": len(sources) - len(copies)}

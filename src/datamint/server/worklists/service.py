"""Rules for worklists (annotation sets): visibility, creation with a label schema, changes,
resources, annotators, the segmentation label group, and their wire shape (wire protocol §4.4).

Every project has a default worklist, created with it from the ``annotation_set`` and
``segmentationData`` of ``POST /projects``; its resources are the project's resources. Other
worklists hold their own resource lists. Assigning someone as annotator of a project's worklist
makes them a ``PROJECT_ANNOTATOR`` of the project when they are not a member yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth import service as auth_service
from datamint.server.auth.models import User
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import BadRequestError, NotFoundError, ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.projects import repository as projects_repo
from datamint.server.projects.models import Project, ProjectMember
from datamint.server.projects.service import visible_project
from datamint.server.resources import repository as resources_repo
from datamint.server.resources import service as resources_service
from datamint.server.worklists import readers, specs
from datamint.server.worklists import repository as repo
from datamint.server.worklists.models import Worklist, WorklistAnnotator
from datamint.server.worklists.schemas import AnnotatorBody, AnnotatorRef, WorklistCreate, WorklistPatch

DEFAULT_NAME_SUFFIX = " worklist"


def member_roles(session: Session, me: Principal, project_id: str | None) -> list[str] | None:
    """The caller's roles in a project (``None``: not a member, or no project)."""
    if project_id is None:
        return None
    member = projects_repo.get_member(session, project_id, me.user_id)
    return list(member.roles) if member else None


def visible_worklist(session: Session, me: Principal, worklist_id: str) -> tuple[Worklist, list[str] | None]:
    """The worklist and the caller's roles in its project; 404 when it does not exist in the
    caller's organization or belongs to a project the caller is not a member of."""
    policy.require(me, policy.Action.RESOURCES_READ)
    worklist = repo.get(session, me.customer_id, check_uuid(worklist_id, "worklist"))
    if worklist is None:
        raise NotFoundError("Worklist")
    roles = member_roles(session, me, worklist.project_id)
    if worklist.project_id is not None and roles is None and not me.is_admin:
        raise NotFoundError("Worklist")
    return worklist, roles


def require(me: Principal, worklist: Worklist, roles: list[str] | None, action: ProjectAction) -> None:
    """Raise 403 unless the caller may perform ``action`` in the worklist (see :mod:`policy`)."""
    policy.require_worklist(me, roles, action, in_project=worklist.project_id is not None,
                            is_creator=worklist.created_by == me.email)


def allowed_worklist(session: Session, me: Principal, worklist_id: str, action: ProjectAction, *,
                     lock: bool = False) -> Worklist:
    """:func:`visible_worklist` followed by :func:`require`.

    Args:
        lock: Also lock the worklist (and its project's) row until the transaction ends, before
            a read-modify-write of what it holds (:func:`lock_worklist`).
    """
    worklist, roles = visible_worklist(session, me, worklist_id)
    require(me, worklist, roles, action)
    if lock:
        lock_worklist(session, worklist)
    return worklist


def lock_worklist(session: Session, worklist: Worklist) -> None:
    """Lock the worklist's project (its members and resources change with the worklist's) and then
    the worklist itself; everything read afterwards is read under the locks."""
    if worklist.project_id is not None:
        locks.lock_row(session, Project, worklist.project_id)
    locks.lock_row(session, Worklist, worklist.id)


def labels_of(worklist: Worklist) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The worklist's annotation specs and segmentation definitions."""
    return list(worklist.specs or []), list((worklist.segmentation_data or {}).get("definitions") or [])


# -- resources ----------------------------------------------------------------------------------

def resource_ids_of(session: Session, worklists: Sequence[Worklist]) -> dict[str, list[str]]:
    """Live resources of each worklist (a project's default worklist has the project's resources)."""
    own = repo.resource_ids(session, [w.id for w in worklists if not w.is_project_default])
    for worklist in worklists:
        if worklist.is_project_default and worklist.project_id is not None:
            own[worklist.id] = repo.project_resource_ids(session, worklist.project_id)
    return own


def has_resource(session: Session, worklist: Worklist, resource_id: str) -> bool:
    """Whether a resource is part of the worklist."""
    if worklist.is_project_default and worklist.project_id is not None:
        return repo.in_project(session, worklist.project_id, resource_id)
    return repo.has_resource(session, worklist.id, resource_id)


def _add_resources(session: Session, me: Principal, worklist: Worklist, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    resources = resources_service.visible_resources(session, me, ids)
    deleted = [r.id for r in resources if r.deleted]
    if deleted:
        raise BadRequestError(f"Resource {deleted[0]} is deleted; restore it before adding it to a worklist")
    if worklist.project_id is not None:
        resources_repo.add_to_project(session, worklist.project_id, [r.id for r in resources], me.email)
    if worklist.is_project_default:
        return len(resources)
    return repo.add_resources(session, worklist.id, [r.id for r in resources])


def _remove_resources(session: Session, worklist: Worklist, ids: Sequence[str]) -> None:
    if worklist.is_project_default and worklist.project_id is not None:
        resources_repo.remove_from_project(session, worklist.project_id, ids)
    else:
        repo.remove_resources(session, worklist.id, ids)


def update_resources(session: Session, me: Principal, worklist_id: str, to_add: Sequence[str],
                     to_delete: Sequence[str]) -> dict[str, Any]:
    """Add and remove resources of a worklist (adding to a project's worklist adds to the project)."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    added = _add_resources(session, me, worklist, to_add)
    removing = resources_service.visible_resources(session, me, to_delete) if to_delete else []
    _remove_resources(session, worklist, [r.id for r in removing])
    worklist.updated_at = utcnow()
    session.flush()
    count = len(resource_ids_of(session, [worklist])[worklist.id])
    return {"id": worklist.id, "added": added, "removed": len(removing), "resource_count": count}


# -- annotators ---------------------------------------------------------------------------------

def _ensure_member(session: Session, worklist: Worklist, user: User) -> None:
    if worklist.project_id is None or projects_repo.get_member(session, worklist.project_id, user.id) is not None:
        return
    session.add(ProjectMember(project_id=worklist.project_id, user_id=user.id, roles=["PROJECT_ANNOTATOR"]))


def _assign(session: Session, worklist: Worklist, user: User, body: AnnotatorBody) -> WorklistAnnotator:
    _ensure_member(session, worklist, user)
    row = repo.get_annotator(session, worklist.id, user.id)
    if row is None:
        row = WorklistAnnotator(worklist_id=worklist.id, user_id=user.id)
        session.add(row)
    row.status = body.status
    row.expertise_level = body.expertise_level or row.expertise_level
    row.return_url = body.return_url or row.return_url
    return row


def _set_annotators(session: Session, me: Principal, worklist: Worklist,
                    entries: Sequence[str | AnnotatorRef | Mapping[str, Any]]) -> None:
    """Make ``entries`` the worklist's annotators: emails, or ``{email, expertise_level?, status?}``."""
    wanted: dict[str, AnnotatorBody] = {}
    for entry in entries:
        ref = AnnotatorRef.model_validate(entry) if isinstance(entry, Mapping) else entry
        if isinstance(ref, AnnotatorRef):
            wanted[ref.email] = AnnotatorBody(status=ref.status, expertise_level=ref.expertise_level)
        else:
            wanted.setdefault(ref, AnnotatorBody())
    users = [(auth_service.get_user(session, me, email), body) for email, body in wanted.items()]
    current = {a.user_id: a for a, _ in repo.annotators(session, [worklist.id])[worklist.id]}
    for user, body in users:
        _assign(session, worklist, user, body)
    for user_id, row in current.items():
        if user_id not in {u.id for u, _ in users}:
            session.delete(row)


def set_annotator(session: Session, me: Principal, worklist_id: str, user_ref: str, body: AnnotatorBody
                  ) -> dict[str, Any]:
    """Assign (or update) an annotator, addressed by user id or email."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    user = auth_service.get_user(session, me, user_ref)
    row = _assign(session, worklist, user, body)
    session.flush()
    return _annotator_wire(row, user)


def remove_annotator(session: Session, me: Principal, worklist_id: str, user_ref: str) -> None:
    """Unassign an annotator (their annotations stay)."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    user = auth_service.get_user(session, me, user_ref)
    row = repo.get_annotator(session, worklist.id, user.id)
    if row is None:
        raise NotFoundError("Annotator", f"Annotator not found: {user.email} is not assigned to this worklist")
    session.delete(row)


def _annotator_wire(row: WorklistAnnotator, user: User) -> dict[str, Any]:
    return {"email": user.email, "user_id": user.id, "firstname": user.firstname, "lastname": user.lastname,
            "status": row.status, "expertise_level": row.expertise_level}


# -- create / update ----------------------------------------------------------------------------

def _project_for_worklist(session: Session, me: Principal, project_id: str | None) -> Project | None:
    if not project_id:
        return None

    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, ProjectAction.MANAGE)
    if project.archived:
        raise BadRequestError(f"Project {project.name!r} is archived; restore it before adding worklists")
    return project


def create(session: Session, me: Principal, body: WorklistCreate, *, project: Project | None = None,
           is_default: bool = False) -> Worklist:
    """Create a worklist with its label schema, resources and annotators.

    Raises:
        NotFoundError: A resource, annotator or the project does not exist for the caller.
        ValidationFailedError: Malformed specs or segmentation definitions.
    """
    policy.require(me, policy.Action.ANNOTATIONS_WRITE)
    project = project or _project_for_worklist(session, me, body.project_id)
    if project is not None and not is_default:
        locks.lock_row(session, Project, project.id)  # its resources and members may grow below
    name = body.name.strip()
    if not name:
        raise ValidationFailedError("Worklist name must not be blank")
    worklist = Worklist(
        customer_id=me.customer_id, project_id=project.id if project else None, is_project_default=is_default,
        name=name, description=body.description, status=body.status or "new",
        specs=specs.merge_specs(specs.clean_specs(body.annotations),
                                specs.clean_specs(specs.label_specs(body.frame_labels, body.image_labels))),
        segmentation_data=specs.clean_segmentation_data(body.segmentation_data),
        viewable_ai_segs=list(body.viewable_ai_segmentations or []),
        editable_ai_segs=list(body.editable_ai_segmentations or []),
        return_url=body.return_url, created_by=me.email,
        readers_per_item=readers.check_readers(body.readers_per_item, project.id if project else None) or 1,
    )
    session.add(worklist)
    session.flush()
    _add_resources(session, me, worklist, body.resource_ids)
    if body.annotators:
        _set_annotators(session, me, worklist, body.annotators)
    session.flush()
    return worklist


def create_for_project(session: Session, me: Principal, project: Project, annotation_set: dict[str, Any] | None,
                       segmentation_data: dict[str, Any] | None) -> Worklist:
    """The default worklist of a new project (``POST /projects``' ``annotation_set``)."""
    annotation_set = annotation_set or {}
    body = WorklistCreate(name=f"{project.name}{DEFAULT_NAME_SUFFIX}"[:300],
                          resource_ids=list(annotation_set.get("resource_ids") or []),
                          annotations=annotation_set.get("annotations") or [],
                          annotators=annotation_set.get("annotators"), segmentation_data=segmentation_data,
                          frame_labels=annotation_set.get("frame_labels"),
                          image_labels=annotation_set.get("image_labels"))
    return create(session, me, body, project=project, is_default=True)


def update(session: Session, me: Principal, worklist_id: str, body: WorklistPatch) -> Worklist:
    """Change a worklist; ``annotations`` replaces the specs, ``resource_ids`` the resources,
    ``annotators`` the annotators."""
    worklist = allowed_worklist(session, me, worklist_id, ProjectAction.MANAGE, lock=True)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        worklist.name = changes["name"].strip() or worklist.name
    for key in ("description", "return_url"):
        if key in changes:
            setattr(worklist, key, changes[key])
    if changes.get("status") is not None:
        worklist.status = changes["status"]
    if changes.get("readers_per_item") is not None:
        worklist.readers_per_item = readers.check_readers(changes["readers_per_item"], worklist.project_id)
        readers.complete_reached(session, worklist)  # items that already have the new N readers done
    if "annotations" in changes or "frame_labels" in changes or "image_labels" in changes:
        base = specs.clean_specs(changes["annotations"]) if changes.get("annotations") is not None \
            else list(worklist.specs or [])
        extra = specs.clean_specs(specs.label_specs(changes.get("frame_labels"), changes.get("image_labels")))
        worklist.specs = specs.merge_specs(base, extra)
    if changes.get("segmentation_data") is not None:
        worklist.segmentation_data = specs.clean_segmentation_data(changes["segmentation_data"],
                                                                   worklist.segmentation_data)
    if changes.get("viewable_ai_segmentations") is not None:
        worklist.viewable_ai_segs = list(changes["viewable_ai_segmentations"])
    if changes.get("editable_ai_segmentations") is not None:
        worklist.editable_ai_segs = list(changes["editable_ai_segmentations"])
    if changes.get("resource_ids") is not None:
        current = set(resource_ids_of(session, [worklist])[worklist.id])
        wanted = list(dict.fromkeys(check_uuid(r, "resource") for r in changes["resource_ids"]))
        _add_resources(session, me, worklist, [r for r in wanted if r not in current])
        _remove_resources(session, worklist, [r for r in current if r not in set(wanted)])
    if changes.get("annotators") is not None:
        _set_annotators(session, me, worklist, changes["annotators"])
    worklist.updated_at = utcnow()
    session.flush()
    return worklist


# -- wire -----------------------------------------------------------------------------------------

def to_wire_many(session: Session, worklists: Sequence[Worklist]) -> list[dict[str, Any]]:
    """Wire dicts of worklists; resources and annotators come in two queries."""
    resources = resource_ids_of(session, worklists)
    annotators = repo.annotators(session, [w.id for w in worklists])
    return [_wire(w, resources.get(w.id, []), [_annotator_wire(a, u) for a, u in annotators.get(w.id, [])])
            for w in worklists]


def to_wire(session: Session, worklist: Worklist) -> dict[str, Any]:
    """The wire dict of one worklist."""
    return to_wire_many(session, [worklist])[0]


def _wire(w: Worklist, resource_ids: list[str], annotators: list[dict[str, Any]]) -> dict[str, Any]:
    specs_list = list(w.specs or [])
    seg = specs.segmentation_data_of(w.segmentation_data)
    return {
        "id": w.id, "worklist_id": w.id, "name": w.name, "worklist_name": w.name, "description": w.description,
        "status": w.status, "project_id": w.project_id, "customer_id": w.customer_id,
        "is_project_default": w.is_project_default, "annotators": annotators, "annotations": specs_list,
        "frame_labels": [s["identifier"] for s in specs_list if s.get("type") == "label" and s.get("scope") == "frame"],
        "image_labels": [s["identifier"] for s in specs_list if s.get("type") == "label" and s.get("scope") == "image"],
        "resource_ids": resource_ids, "resource_count": len(resource_ids),
        "segmentation_data": seg, "segmentation_group": specs.groups_of(seg)["groups"],
        "segmentation_type": seg.get("segmentationValueType", "single_label"),
        "viewable_ai_segs": list(w.viewable_ai_segs or []), "editable_ai_segs": list(w.editable_ai_segs or []),
        "return_url": w.return_url, "created_by": w.created_by, "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at), "readers_per_item": w.readers_per_item or 1,
    }


def project_worklists(session: Session, me: Principal, project_id: str) -> list[dict[str, Any]]:
    """Every worklist of a project (bare list)."""

    project, _ = visible_project(session, me, project_id)
    return to_wire_many(session, repo.of_projects(session, [project.id]))


def project_info(session: Session, project_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For the Project wire shape: the default ``worklist_id`` and ``annotators`` [{email, worklist_ids}]."""
    info: dict[str, dict[str, Any]] = {pid: {"worklist_id": None, "annotators": []} for pid in project_ids}
    worklists = repo.of_projects(session, project_ids)
    by_id = {w.id: w for w in worklists}
    annotators = repo.annotators(session, list(by_id))
    per_project: dict[str, dict[str, list[str]]] = {pid: {} for pid in project_ids}
    for worklist in worklists:
        if worklist.is_project_default and info[worklist.project_id]["worklist_id"] is None:  # type: ignore[index]
            info[worklist.project_id]["worklist_id"] = worklist.id  # type: ignore[index]
        for _, user in annotators.get(worklist.id, []):
            per_project[worklist.project_id].setdefault(user.email, []).append(worklist.id)  # type: ignore[index]
    for pid, emails in per_project.items():
        info[pid]["annotators"] = [{"email": e, "worklist_ids": ids} for e, ids in sorted(emails.items())]
    return info


def default_worklist(session: Session, project: Project) -> Worklist:
    """The project's default worklist (created on the fly for projects that predate worklists,
    under the project's lock: a project has at most one)."""
    for worklist in repo.of_projects(session, [project.id]):
        if worklist.is_project_default:
            return worklist
    locks.lock_row(session, Project, project.id)
    for worklist in repo.of_projects(session, [project.id]):
        if worklist.is_project_default:
            return worklist
    worklist = Worklist(customer_id=project.customer_id, project_id=project.id, is_project_default=True,
                        name=f"{project.name}{DEFAULT_NAME_SUFFIX}"[:300], status="new", specs=[],
                        segmentation_data=specs.clean_segmentation_data(project.segmentation_data),
                        viewable_ai_segs=[], editable_ai_segs=[], created_by=project.created_by)
    session.add(worklist)
    session.flush()
    return worklist

"""Rules for annotations: who may see and change them, creation with validation against the
resource and the worklist, search, approval, soft delete and frame ranges (wire protocol §4.3, §7).

Visibility: an annotation in a project's worklist is visible to the project's members (and the
organization's admins) only; an annotation in no project is visible to the whole organization,
like its resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import blinding, label_sets, validation, wire
from datamint.server.annotations import repository as repo
from datamint.server.annotations.models import Annotation
from datamint.server.annotations.repository import SearchFilters
from datamint.server.annotations.schemas import PatchBody, SearchBody
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid, check_uuids
from datamint.server.common.pagination import MAX_PAGE
from datamint.server.common.times import parse_time
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import BadRequestError, NotFoundError, ValidationFailedError
from datamint.server.projects import repository as projects_repo
from datamint.server.projects.models import ProjectMember
from datamint.server.projects.service import visible_project
from datamint.server.resources import service as resources_service
from datamint.server.resources.models import Resource
from datamint.server.worklists import readers
from datamint.server.worklists import repository as worklists_repo
from datamint.server.worklists import service as worklists_service
from datamint.server.worklists.models import Worklist
from datamint.server.workunits import recorder as workunits

MAX_ITEMS = 10000
_DELETED = {"true": "only", "only": "only", "include": "include", "false": "exclude", "exclude": "exclude"}


def visible_projects(session: Session, me: Principal) -> list[str] | None:
    """Projects whose annotations the caller may see (``None``: every project, for admins)."""
    if me.is_admin:
        return None
    return list(session.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == me.user_id)))


def _roles(session: Session, me: Principal, annotation: Annotation) -> list[str] | None:
    return worklists_service.member_roles(session, me, annotation.project_id)


def visible_annotation(session: Session, me: Principal, annotation_id: str) -> tuple[Annotation, list[str] | None]:
    """The annotation and the caller's roles in its project; 404 when the caller may not see it."""
    policy.require(me, policy.Action.RESOURCES_READ)
    annotation = repo.get(session, me.customer_id, check_uuid(annotation_id, "annotation"))
    if annotation is None:
        raise NotFoundError("Annotation")
    roles = _roles(session, me, annotation)
    if annotation.project_id is not None and roles is None and not me.is_admin:
        raise NotFoundError("Annotation")
    if blinding.hidden_from(session, me, annotation):
        raise NotFoundError("Annotation")  # another reader's label of an item that is not complete yet
    return annotation, roles


def changeable_annotation(session: Session, me: Principal, annotation_id: str) -> Annotation:
    """An annotation the caller may change or delete (its author, or a reviewer/admin)."""
    annotation, roles = visible_annotation(session, me, annotation_id)
    policy.require_annotation_change(me, roles, in_project=annotation.project_id is not None,
                                     is_author=annotation.created_by_id == me.user_id)
    return annotation


def live_resource(session: Session, me: Principal, resource_id: str) -> Resource:
    """A resource of the caller's organization that is not deleted."""
    resource = resources_service.visible_resource(session, me, resource_id)
    if resource.deleted:
        raise BadRequestError(f"Resource {resource.id} is deleted; restore it before annotating it")
    return resource


def shape_of(resource: Resource) -> validation.ResourceShape:
    """The size and frame count of a resource."""
    return validation.ResourceShape.of(resource.mimetype, resource.file_metadata)


# -- create -----------------------------------------------------------------------------------------

def _worklist(session: Session, me: Principal, worklist_id: str, resource: Resource,
              cache: dict[str, Worklist]) -> Worklist:
    if worklist_id not in cache:
        worklist = worklists_service.allowed_worklist(session, me, worklist_id, policy.ProjectAction.ANNOTATE)
        if not worklists_service.has_resource(session, worklist, resource.id):
            raise ValidationFailedError(f"Resource {resource.id} is not part of worklist {worklist.name!r}; "
                                        "add it to the worklist first")
        cache[worklist_id] = worklist
    return cache[worklist_id]


def clean_items(session: Session, me: Principal, resource: Resource, items: Sequence[Any], *,
                check_labels: bool = True) -> list[tuple[validation.CleanItem, Worklist | None]]:
    """Validate create items against the resource and their worklists (all or nothing).

    Args:
        check_labels: Also check identifiers against the worklists' labels (``False`` checks
            only that the caller may annotate there).
    """
    if not isinstance(items, list):
        raise ValidationFailedError("The body must be a JSON array of annotations")
    if not items:
        raise ValidationFailedError("The body is an empty array: send at least one annotation")
    if len(items) > MAX_ITEMS:
        raise ValidationFailedError(f"At most {MAX_ITEMS} annotations per request; split the list")
    shape = shape_of(resource)
    cache: dict[str, Worklist] = {}
    predicting: set[str] = set()
    out: list[tuple[validation.CleanItem, Worklist | None]] = []
    for position, raw in enumerate(items):
        item = validation.check_item(raw, position, shape)
        worklist = None
        if item.worklist_id:
            worklist = _worklist(session, me, check_uuid(item.worklist_id, "worklist"), resource, cache)
            if item.is_model and readers.is_multi(worklist) and worklist.id not in predicting:
                # every reader sees model output and it takes no reader's place: not a reader's to write
                worklists_service.allowed_worklist(session, me, worklist.id, policy.ProjectAction.PREDICT)
                predicting.add(worklist.id)
            if check_labels:
                specs, definitions = worklists_service.labels_of(worklist)
                validation.check_against_specs(item, specs, definitions, f"annotation {position}")
        else:
            policy.require(me, policy.Action.ANNOTATIONS_WRITE)
        item.label_set = label_sets.resolve(
            session, me, worklist.project_id if worklist else None, item.label_set, is_model=item.is_model,
            model_id=item.model_id, multi_reader=readers.is_multi(worklist), where=f"annotation {position}")
        out.append((item, worklist))
    return out


def insert_items(session: Session, me: Principal, resource: Resource,
                 items: Sequence[tuple[validation.CleanItem, Worklist | None]],
                 per_item: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Insert validated items; returns their ids in order. Creation times increase by 1 µs per
    item so that listings keep the request's order.

    Args:
        per_item: Column values that override the defaults of each item (e.g. its id and file).
    """
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for i, (item, worklist) in enumerate(items):
        row = {
            "id": new_id(), "customer_id": me.customer_id, "resource_id": resource.id,
            "worklist_id": worklist.id if worklist else None, "project_id": worklist.project_id if worklist else None,
            "type": item.type, "identifier": item.identifier, "scope": item.scope, "frame_index": item.frame_index,
            "frame_end": item.frame_end, "text_value": item.text_value, "numeric_value": item.numeric_value,
            "units": item.units, "geometry": item.geometry, "status": "new", "approved_at": None,
            "approved_by": None, "source": item.source, "imported_from": item.imported_from,
            "import_author": item.import_author, "is_model": item.is_model, "model_id": item.model_id,
            "confiability": item.confiability, "class_map": item.class_map, "set_name": item.set_name,
            "file_key": None, "file_mimetype": None, "file_size": None,
            "created_at": now + timedelta(microseconds=i), "created_by": me.email, "created_by_id": me.user_id,
            "updated_at": None, "deleted": False, "deleted_at": None, "deleted_by": None,
            "label_set": item.label_set or label_sets.GROUND_TRUTH, "promoted_from": None,
        }
        if per_item is not None:
            row.update(per_item[i])
        rows.append(row)
    claimed: set[str] = set()
    for item, worklist in items:
        if worklist is not None and readers.is_multi(worklist) and not item.is_model and worklist.id not in claimed:
            readers.claim(session, worklist, resource.id, me.user_id)  # at most N readers per item
            claimed.add(worklist.id)
    repo.insert_many(session, rows)
    first = items[0][1] if items else None
    workunits.record(session, customer_id=me.customer_id, user_id=me.user_id, email=me.email, resource_id=resource.id,
                     action="annotate", project_id=first.project_id if first else None,
                     worklist_id=first.id if first else None, labels=[item.identifier for item, _ in items],
                     label_set=rows[0]["label_set"] if rows else None)
    return [r["id"] for r in rows]


def create(session: Session, me: Principal, resource_id: str, items: Sequence[Any]) -> list[str]:
    """Create annotations on a resource from the items of wire §7.2; their ids in order.

    Raises:
        NotFoundError: The resource or a worklist does not exist for the caller.
        ValidationFailedError: An item is invalid (nothing is created).
    """
    resource = live_resource(session, me, resource_id)
    return insert_items(session, me, resource, clean_items(session, me, resource, items))


# -- search -----------------------------------------------------------------------------------------

def _page_number(value: int | str, name: str, low: int, high: int | None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailedError(f"'{name}' must be an integer, got {value!r}")
    if number < low or (high is not None and number > high):
        raise ValidationFailedError(f"'{name}' must be between {low} and {high}" if high else
                                    f"'{name}' must be >= {low}")
    return number


def created_window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """The creation times ``[start, end)`` of ``from``/``to`` filters (ISO 8601); a ``to`` that is
    a date alone covers that whole day.

    Raises:
        ValidationFailedError: A malformed date.
    """
    return parse_time(start, "from"), parse_time(end, "to", whole_day=True)


def parse_search(session: Session, me: Principal, body: SearchBody) -> tuple[SearchFilters, int, int]:
    """Filters, offset and limit of a search body (422 for malformed values)."""
    f = SearchFilters(visible_projects=visible_projects(session, me),
                      hidden=blinding.visible_condition(me, readers.blind_worklist_ids(session, me)))
    wanted = [body.resource_id] if body.resource_id else body.resource_ids
    if wanted is not None:
        ids = check_uuids(list(wanted), "resource")
        found = repo.owned_resource_ids(session, me.customer_id, ids)
        f.resource_ids = [rid for rid in ids if rid in found]
    if body.annotation_type:
        if body.annotation_type not in validation.ANNOTATION_TYPES:
            raise ValidationFailedError(f"Unknown annotation_type {body.annotation_type!r}")
        f.annotation_type = body.annotation_type
    f.created_by = body.annotatorEmail or None
    f.created_from, f.created_to = created_window(body.from_, body.to)
    if body.annotation_worklist_id:
        worklist, _ = worklists_service.visible_worklist(session, me, body.annotation_worklist_id)
        f.worklist_id = worklist.id
    if body.project_id:
        f.project_id = visible_project(session, me, body.project_id)[0].id
    if body.dataset_id:
        owner = projects_repo.get_by_dataset(session, me.customer_id, check_uuid(body.dataset_id, "dataset"))
        if owner is None:
            raise NotFoundError("Dataset")
        try:
            visible_project(session, me, owner.id)
        except NotFoundError:
            raise NotFoundError("Dataset")
        f.dataset_id = owner.dataset_id
    f.status = body.status or None
    f.source = body.source or None
    f.model_id = body.model_id or None
    if body.identifier:
        f.identifiers = [body.identifier] if isinstance(body.identifier, str) else list(body.identifier)
    if body.deleted is not None:
        key = str(body.deleted).strip().lower()
        if key not in _DELETED:
            raise ValidationFailedError(f"Invalid deleted={body.deleted!r}: use true or false")
        f.deleted = _DELETED[key]
    f.include_model = body.load_ai_segmentations is not False
    if body.label_set:
        wanted_sets = [body.label_set] if isinstance(body.label_set, str) else list(body.label_set)
        f.label_sets = [label_sets.check_name(name) for name in wanted_sets]
    offset = _page_number(body.offset, "offset", 0, None)
    limit = _page_number(body.limit, "limit", 1, MAX_PAGE)
    return f, offset, limit


def search(session: Session, me: Principal, body: SearchBody) -> tuple[list[dict[str, Any]], int]:
    """A page of annotations matching the body, oldest first, and the total."""
    policy.require(me, policy.Action.RESOURCES_READ)
    f, offset, limit = parse_search(session, me, body)
    rows, total = repo.search(session, me.customer_id, f, offset, limit)
    return wire.to_wire_many(session, rows), total


def worklist_resource_annotations(session: Session, me: Principal, worklist_id: str, resource_id: str, kind: str,
                                  everyone: bool, annotator: str | None) -> list[dict[str, Any]]:
    """Annotations of one resource in a worklist: ``kind`` ``annotations`` (all types),
    ``segmentations`` or ``ai_segmentations`` (made by models); the caller's own unless
    ``everyone`` (or another ``annotator``'s)."""
    worklist, _ = worklists_service.visible_worklist(session, me, worklist_id)
    resource = resources_service.visible_resource(session, me, resource_id)
    f = SearchFilters(resource_ids=[resource.id], worklist_id=worklist.id,
                      visible_projects=visible_projects(session, me),
                      hidden=blinding.visible_condition(me, readers.blind_worklist_ids(session, me)))
    if kind != "annotations":
        f.annotation_type = "segmentation"
    if kind == "ai_segmentations":
        f.model_only = True
    elif not everyone:
        f.created_by = annotator or me.email
    rows, _ = repo.search(session, me.customer_id, f, 0, MAX_ITEMS)
    return wire.to_wire_many(session, rows)


# -- change -----------------------------------------------------------------------------------------

def patch(session: Session, me: Principal, annotation_id: str, body: PatchBody) -> Annotation:
    """Change an annotation's identifier, value, units, geometry or project.

    Moving it to another project (``project_id``) takes it out of its current one: that needs
    ``project.manage`` there as well as ``project.annotate`` in the destination, whose resources
    must include the annotation's (see :func:`_move`).
    """
    annotation = changeable_annotation(session, me, annotation_id)
    changes = body.model_dump(exclude_unset=True)
    resource = resources_service.visible_resource(session, me, annotation.resource_id)
    raw = {"type": annotation.type, "identifier": changes.get("identifier") or annotation.identifier,
           "scope": annotation.scope, "frame_index": annotation.frame_index,
           "value": changes["value"] if "value" in changes else wire.value_of(annotation),
           "geometry": changes["geometry"] if "geometry" in changes else annotation.geometry}
    if annotation.frame_end is not None:
        raw["frame_range"] = [annotation.frame_index, annotation.frame_end]
    item = validation.check_item(raw, 0, shape_of(resource))
    if annotation.worklist_id:
        worklist = session.get(Worklist, annotation.worklist_id)
        if worklist is not None:
            specs, definitions = worklists_service.labels_of(worklist)
            validation.check_against_specs(item, specs, definitions, "annotation")
    if changes.get("project_id"):
        _move(session, me, annotation, changes["project_id"])
    annotation.identifier = item.identifier
    annotation.text_value, annotation.numeric_value = item.text_value, item.numeric_value
    annotation.geometry = item.geometry
    if "units" in changes:
        annotation.units = changes["units"]
    annotation.updated_at = utcnow()
    return annotation


def _move(session: Session, me: Principal, annotation: Annotation, project_id: str) -> None:
    """Put an annotation into another project.

    Raises:
        NotFoundError: The destination is not visible to the caller.
        ForbiddenError: No ``project.manage`` in the current project, or no ``project.annotate``
            in the destination.
        ValidationFailedError: The annotation's resource is not in the destination.
    """
    destination, roles = visible_project(session, me, project_id)
    if destination.id == annotation.project_id:
        return
    if annotation.project_id is not None:
        source_roles = worklists_service.member_roles(session, me, annotation.project_id)
        policy.require_project(me, source_roles, policy.ProjectAction.MANAGE)
    policy.require_project(me, roles, policy.ProjectAction.ANNOTATE)
    if not worklists_repo.in_project(session, destination.id, annotation.resource_id):
        raise ValidationFailedError(f"Resource {annotation.resource_id} is not in project {destination.name!r}; "
                                    "add it to the project first")
    worklist = session.get(Worklist, annotation.worklist_id) if annotation.worklist_id else None
    if worklist is not None and worklist.project_id != destination.id:
        annotation.worklist_id = None  # its worklist stays with the project it belongs to
    annotation.project_id = destination.id


def approve(session: Session, me: Principal, annotation_id: str) -> Annotation:
    """Approve an annotation: status ``published`` with the approver and time."""
    annotation, roles = visible_annotation(session, me, annotation_id)
    policy.require_annotation_review(me, roles, in_project=annotation.project_id is not None)
    if annotation.deleted:
        raise BadRequestError("The annotation is deleted; it cannot be approved")
    annotation.status = "published"
    annotation.approved_at = utcnow()
    annotation.approved_by = me.email
    return annotation


def delete(session: Session, me: Principal, annotation_ids: Sequence[str]) -> list[str]:
    """Soft-delete annotations (all or none: 404/403 when one is missing or not allowed)."""
    ids = check_uuids(list(annotation_ids), "annotation")
    repo.mark_deleted([changeable_annotation(session, me, annotation_id) for annotation_id in ids], me.email,
                      utcnow())
    return ids


if repo.annotated_resources not in resources_service.ANNOTATED_RESOURCE_QUERIES:
    resources_service.ANNOTATED_RESOURCE_QUERIES.append(repo.annotated_resources)

"""Rules for resources: visibility, listing filters, publish, tags, soft delete and restore.

Uploads are in :mod:`datamint.server.resources.ingest`; project membership in
:mod:`datamint.server.resources.membership`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid, check_uuids
from datamint.server.common.pagination import envelope_json
from datamint.server.common.times import parse_time
from datamint.server.common.values import check_text, parse_json
from datamint.server.db import locks
from datamint.server.db.base import utcnow
from datamint.server.errors import BadRequestError, NotFoundError, ValidationFailedError
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource
from datamint.server.resources.repository import ORDER_COLUMNS, ResourceFilters
from datamint.server.storage.base import BlobStore

#: Queries returning the ids of annotated resources. The annotations area appends one at import
#: time; ``GET /resources/not-annotated`` excludes every id they return.
ANNOTATED_RESOURCE_QUERIES: list[Callable[[], Select[Any]]] = []

_STATUSES = {"inbox": "inbox", "new": "inbox", "published": "published"}
_DELETED = ("exclude", "include", "only")
MAX_TAG_LENGTH = 200


def visible_resource(session: Session, me: Principal, resource_id: str) -> Resource:
    """The resource with this id in the caller's organization (deleted ones included); 404 otherwise."""
    policy.require(me, policy.Action.RESOURCES_READ)
    resource = repo.get_resource(session, me.customer_id, check_uuid(resource_id, "resource"))
    if resource is None:
        raise NotFoundError("Resource")
    return resource


def visible_resources(session: Session, me: Principal, resource_ids: Sequence[str]) -> list[Resource]:
    """Several resources of the caller's organization, in the given order; 404 naming a missing one."""
    policy.require(me, policy.Action.RESOURCES_READ)
    ids = check_uuids(list(resource_ids), "resource")
    found = repo.get_many(session, me.customer_id, ids)
    missing = [rid for rid in ids if rid not in found]
    if missing:
        raise NotFoundError("Resource", f"Resource not found: {missing[0]}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return [found[rid] for rid in ids]


# -- listing ------------------------------------------------------------------------------------

def _parse_item_filter(value: str | None, name: str, default_type: str) -> tuple[list[str], str] | None:
    """Decode ``{"items": [...], "filterType": "union"|"intersection"}`` (or a plain comma list)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.startswith("{") or text.startswith("["):
        decoded = parse_json(text, name)
        if isinstance(decoded, list):
            decoded = {"items": decoded}
        items = decoded.get("items") if isinstance(decoded, dict) else None
        kind = decoded.get("filterType", default_type) if isinstance(decoded, dict) else default_type
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValidationFailedError(f"Invalid '{name}' filter: expected "
                                        '{"items": ["..."], "filterType": "union"|"intersection"}')
        if kind not in ("union", "intersection"):
            raise ValidationFailedError(f"Invalid '{name}' filterType {kind!r}: use 'union' or 'intersection'")
        return items, kind
    return [part.strip() for part in text.split(",") if part.strip()], default_type


def visible_project_ids(session: Session, me: Principal, names: Sequence[str]) -> list[str]:
    """Ids of the named projects that the caller can see (unknown or hidden names are dropped)."""
    return list(repo.project_ids_by_name(session, me.customer_id, names, None if me.is_admin else me.user_id).values())


def parse_filters(session: Session, me: Principal, params: dict[str, str | None]) -> ResourceFilters:
    """Turn the query parameters of ``GET /resources`` into :class:`ResourceFilters` (422 when invalid).

    ``status=`` (empty) means no status filter; ``project`` and ``tags`` are JSON item filters;
    ``deleted`` is ``exclude`` (default), ``include`` or ``only``; ``status=archived`` lists
    deleted resources.
    """
    f = ResourceFilters()
    status = (params.get("status") or "").strip().lower()
    if status == "archived":
        f.deleted = "only"
    elif status:
        if status not in _STATUSES:
            raise ValidationFailedError(f"Invalid status {status!r}: use inbox, published or archived")
        f.status = _STATUSES[status]
    deleted = (params.get("deleted") or "").strip().lower()
    if deleted:
        if deleted not in _DELETED:
            raise ValidationFailedError(f"Invalid deleted={deleted!r}: use exclude, include or only")
        f.deleted = deleted
    f.created_from = parse_time(params.get("from"), "from")
    f.created_to = parse_time(params.get("to"), "to")
    for attr, key in (("modality", "modality"), ("mimetype", "mimetype"), ("channel", "channel_name"),
                      ("filename", "filename"), ("source_filepath", "source_filepath"),
                      ("series_uid", "series_uid")):
        value = params.get(key)
        if value not in (None, ""):
            setattr(f, attr, value)
    tags = _parse_item_filter(params.get("tags"), "tags", "union")
    if tags:
        f.tags, f.tags_match_all = tags[0], tags[1] == "intersection"
    projects = _parse_item_filter(params.get("project") or params.get("project_name"), "project", "intersection")
    if projects:
        names, kind = projects
        ids = visible_project_ids(session, me, names)
        f.projects_match_all = kind == "intersection"
        f.project_ids = [] if f.projects_match_all and len(ids) < len(set(names)) else ids
    order = (params.get("order_field") or "created_at").strip()
    if order not in ORDER_COLUMNS:
        raise ValidationFailedError(f"Invalid order_field {order!r}: use one of {', '.join(ORDER_COLUMNS)}")
    f.order_field = order
    f.ascending = str(params.get("order_by_asc") or "false").strip().lower() in ("true", "1", "yes")
    return f


def parse_after(value: str | None, f: ResourceFilters) -> tuple[datetime, str] | None:
    """Decode the ``after`` cursor of ``GET /resources`` (the ``nextCursor`` of the previous page)."""
    if not value:
        return None
    if f.order_field != "created_at":
        raise ValidationFailedError("'after' pages listings ordered by created_at only; use offset for other orders")
    try:
        stamp, rid = json.loads(base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4)))
        moment = parse_time(str(stamp), "after") if stamp else None  # the range checks of every time filter
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error, ValidationFailedError):
        moment = None
    if moment is None or not isinstance(rid, str):
        raise ValidationFailedError("Invalid 'after' cursor: pass the nextCursor of the previous page unchanged")
    return moment, check_uuid(rid, "resource")


def encode_after(position: tuple[datetime, str] | None) -> str | None:
    """The ``nextCursor`` for a keyset position."""
    if position is None:
        return None
    raw = json.dumps([position[0].isoformat(), position[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def list_resources(session: Session, me: Principal, f: ResourceFilters, offset: int, limit: int,
                   not_annotated: bool = False, after: str | None = None) -> bytes:
    """A page of resources matching ``f`` as the list envelope's JSON.

    ``totalCount`` is exact up to ``repository.COUNT_CAP`` matches; above, it is a lower bound
    and ``totalCountCapped`` is true (unless an empty page's offset is proved to be the exact
    count: :func:`.repository.list_resources`). ``nextCursor`` (listings ordered by ``created_at``) pages
    on with ``after=`` at the same cost for every page. The resources' JSON is written by the
    database (:mod:`.wire_json`).
    """
    policy.require(me, policy.Action.RESOURCES_READ)
    extra: list[ColumnElement[bool]] = []
    if not_annotated:
        extra = [~Resource.id.in_(query()) for query in ANNOTATED_RESOURCE_QUERIES]
    page = repo.list_resources(session, me.customer_id, f, offset, limit, extra, parse_after(after, f))
    fields: dict[str, Any] = {}
    if page.total_capped:
        fields["totalCountCapped"] = True
    cursor = encode_after(page.next_after)
    if cursor:
        fields["nextCursor"] = cursor
    return envelope_json(page.items, page.total, **fields)


# -- publish ------------------------------------------------------------------------------------

def _publish(me: Principal, resource: Resource) -> None:
    policy.require(me, policy.Action.RESOURCES_PUBLISH)
    if resource.deleted:
        raise BadRequestError(f"Resource {resource.id} is deleted; restore it before publishing")
    if resource.status != "inbox":
        return
    resource.status = "published"
    resource.published = True
    resource.published_on = utcnow()
    resource.published_by = me.email


def publish(session: Session, me: Principal, resource_id: str) -> Resource:
    """Move a resource from the inbox to ``published``.

    Publishing a published resource changes nothing and succeeds: the official 2.45.0 client
    means to skip such resources but raises on the 400 the reference server sends, so an
    idempotent answer serves both clients.
    """
    resource = visible_resource(session, me, resource_id)
    _publish(me, resource)
    return resource


def bulk_publish(session: Session, me: Principal, resource_ids: Sequence[str]) -> list[str]:
    """Publish every listed resource still in the inbox (published ones are left as they are)."""
    resources = visible_resources(session, me, resource_ids)
    for resource in resources:
        _publish(me, resource)
    return [r.id for r in resources]


# -- tags ---------------------------------------------------------------------------------------

def clean_tags(tags: Sequence[str]) -> list[str]:
    """Strip, drop empty and duplicate tags; 422 for tags that are too long."""
    cleaned: dict[str, None] = {}
    for tag in tags:
        text = str(tag).strip()
        if not text:
            continue
        if len(text) > MAX_TAG_LENGTH:
            raise ValidationFailedError(f"Tag {text[:30]!r}... is longer than {MAX_TAG_LENGTH} characters")
        check_text(text, "tag")
        cleaned[text] = None
    return list(cleaned)


def set_tags(session: Session, me: Principal, resource_ids: Sequence[str], tags: Sequence[str],
             append: bool = False) -> list[Resource]:
    """Replace (or, with ``append``, extend) the tags of resources; their rows are locked first, so
    concurrent replaces of the same resources apply one after the other."""
    policy.require(me, policy.Action.RESOURCES_UPLOAD)
    resources = visible_resources(session, me, resource_ids)
    locks.lock_rows(session, Resource, [r.id for r in resources])
    repo.set_tags(session, [r.id for r in resources], clean_tags(tags), append)
    return resources


# -- soft delete --------------------------------------------------------------------------------

def delete(session: Session, me: Principal, resource_ids: Sequence[str]) -> None:
    """Soft-delete resources (all or none: 404/403 when one is missing or not allowed)."""
    policy.require(me, policy.Action.RESOURCES_DELETE)
    resources = visible_resources(session, me, resource_ids)
    repo.mark_deleted([r for r in resources if not r.deleted], True, me.email, utcnow())


def restore(session: Session, store: BlobStore, me: Principal, resource_ids: Sequence[str],
            strict: bool) -> dict[str, Any]:
    """Undo the soft delete of resources.

    Returns:
        ``{"restored": [ids], "skipped": [{"id", "reason"}]}`` with reasons ``not_found``,
        ``not_deleted`` and ``file_missing``.

    Raises:
        NotFoundError: With ``strict``, when a resource does not exist.
        BadRequestError: With ``strict``, when it is not deleted or its file is gone.
    """
    policy.require(me, policy.Action.RESOURCES_DELETE)
    ids = check_uuids(list(resource_ids), "resource")
    found = repo.get_many(session, me.customer_id, ids)
    restored: list[str] = []
    skipped: list[dict[str, str]] = []
    for rid in ids:
        resource = found.get(rid)
        reason = None
        if resource is None:
            reason = "not_found"
        elif not resource.deleted:
            reason = "not_deleted"
        elif not store.exists(resource.location):
            reason = "file_missing"
        if reason is None:
            restored.append(rid)
        else:
            skipped.append({"id": rid, "reason": reason})
    if strict and skipped:
        reason = skipped[0]["reason"]
        if reason == "not_found":
            raise NotFoundError("Resource")
        raise BadRequestError("Resource is not deleted" if reason == "not_deleted"
                              else "The resource's file is missing from storage; it cannot be restored")
    repo.mark_deleted([found[rid] for rid in restored], False, None, None)
    return {"restored": restored, "skipped": skipped}

"""The one mechanism that writes the audit trail; routes get it without writing any code.

How it works:

1. ``deps._session`` calls :func:`begin` for every request: the request's session remembers the
   matched route (its path template and name), the path parameters and the request id;
   ``deps._principal`` adds the caller with :func:`set_actor`.
2. While the request runs, every ORM flush is watched (:func:`_after_flush`): each row
   inserted, updated or deleted is noted as a change (type, id, changed column *names*; never
   values, so no secret can reach the trail).
3. When a mutating request (POST, PUT, PATCH, DELETE) commits, :func:`_before_commit` writes ONE
   :class:`AuditEvent` for its changes, in the same transaction: no change is committed without
   its audit row. A route that commits several times keeps one event, extended at each commit.
   Requests that change nothing (searches, failed attempts) leave no event.
4. Routes that only read but must be audited (file downloads, exports) are listed in
   :data:`AUDITED_READS`; ``deps._session`` calls :func:`record_read` when such a request
   succeeds, which writes the event in a transaction of its own (``unit_of_work.after_read``).

The event's ``action`` is the route's name (the endpoint function's name, e.g.
``create_project``, ``set_project_member``, ``revoke_api_key``). Its entity is, in order:
what the service declared with :func:`describe`; else the route's first path parameter
(``{project_id}`` → ``project``, ``{email}`` → ``user``); else the row created by the request
whose type matches the route's first path segment (``POST /projects`` → the new project).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from datamint.server.audit.models import AuditEvent
from datamint.server.auth.models import ApiKey, User
from datamint.server.auth.repository import email_key
from datamint.server.common.redact import SECRET_PATH_PARAMS, loggable_path
from datamint.server.db import unit_of_work

_LOG = logging.getLogger("datamint.server.audit")

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: ``METHOD /path/template`` of read-only routes whose successful calls are audited too.
#: Add downloads of personal data (files, frames, exports) here when you build them.
AUDITED_READS: frozenset[str] = frozenset({
    "GET /resources/{resource_id}/file",
    "GET /resources/{resource_id}/frames/{frame_index}",
    "GET /resources/{resource_id}/slices/{plane}/{index}",
    "GET /annotations/{resource_id}/annotations/{annotation_id}/file",
    "GET /projects/{project_id}/download-annotations",
    "GET /annotationsets/{worklist_id}/download-annotations",
    "GET /datasets/download/{token}",
    "GET /exports/{job_id}/download",
    "GET /exports/download/{token}",
    "GET /datasets/{dataset_id}/versions/{ref}/blobs/{sha256}",
    "GET /datasets/{dataset_id}/versions/{ref}/manifest",
    "GET /dicomweb/studies/{study_uid}",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}",
    "GET /dicomweb/studies/{study_uid}/metadata",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/metadata",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}/metadata",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}/frames/{frames}",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}/rendered",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}/frames/{frame}/rendered",
    "GET /dicomweb/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}/bulk/{tag}",
})

#: Path parameters whose value names an entity of another type than ``<name without _id>``.
PARAM_ENTITY_TYPES: dict[str, str] = {"email": "user", "key_id": "api_key"}
#: Path parameters that are secrets: never copied into the trail (nor into its ``path``).
SECRET_PARAMS = SECRET_PATH_PARAMS
_MAX_CHANGES = 100
_IGNORED_COLUMNS = {ApiKey: frozenset({"last_used_at"})}
_PARAM_RE = re.compile(r"{(\w+)(?::[^}]*)?}")


@dataclass
class AuditContext:
    """What the recorder knows about the request a session serves."""

    method: str
    path: str
    route_path: str
    route_name: str
    status: int
    path_params: dict[str, str]
    request_id: str | None
    user_id: str | None = None
    user_email: str | None = None
    customer_id: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    entity: tuple[str | None, str | None] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    event: AuditEvent | None = None

    @property
    def mutating(self) -> bool:
        """Whether the request's method changes state."""
        return self.method in MUTATING_METHODS

    @property
    def audited_read(self) -> bool:
        """Whether the request is a read listed in :data:`AUDITED_READS`."""
        return f"{self.method} {self.route_path}" in AUDITED_READS


def install(factory: sessionmaker[Session]) -> None:
    """Watch the sessions made by ``factory`` (called once per application)."""
    if not event.contains(factory, "after_flush", _after_flush):
        event.listen(factory, "after_flush", _after_flush)
        event.listen(factory, "before_commit", _before_commit)


def begin(session: Session, scope: dict[str, Any]) -> None:
    """Attach the request described by the ASGI ``scope`` to ``session``."""
    route = scope.get("route")
    method = str(scope.get("method") or "GET").upper()
    status = getattr(route, "status_code", None) or 200
    session.info["audit"] = AuditContext(
        method=method,
        path=loggable_path(scope),
        route_path=getattr(route, "path", "") or "",
        route_name=getattr(route, "name", "") or "",
        status=int(status),
        path_params={k: str(v) for k, v in (scope.get("path_params") or {}).items()},
        request_id=(scope.get("state") or {}).get("request_id"),
    )


def set_actor(session: Session, user_id: str | None, email: str | None, customer_id: str | None) -> None:
    """Record who is acting in the request ``session`` serves."""
    ctx = session.info.get("audit")
    if ctx is not None:
        ctx.user_id, ctx.user_email, ctx.customer_id = user_id, email, customer_id


def describe(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    details: dict[str, Any] | None = None,
    actor: User | None = None,
) -> None:
    """Let a service sharpen the audit event of the current request (all optional).

    Args:
        session: The request's session.
        entity_type: The entity the request is about, overriding the derived one.
        entity_id: Its id.
        details: Extra JSON-serialisable facts (never secrets) merged into ``details``.
        actor: The acting user, for public routes that create their caller (invitations).
    """
    ctx = session.info.get("audit")
    if ctx is None:
        return
    if entity_type is not None or entity_id is not None:
        ctx.entity = (entity_type, entity_id)
    if details:
        ctx.details.update(details)
    if actor is not None:
        set_actor(session, actor.id, actor.email, actor.customer_id)


def note_created(session: Session, entity_type: str, ids: Iterable[str]) -> None:
    """Record rows a service inserted with Core statements (bulk inserts, which the flush watcher
    does not see) as created by the current request, exactly as an ORM insert would be recorded.

    Args:
        session: The request's session.
        entity_type: The rows' audit type (``resource``, ``resource_tag``...).
        ids: Their ids (``a:b`` for composite keys, as the watcher writes them).
    """
    ctx: AuditContext | None = session.info.get("audit")
    if ctx is None or not (ctx.mutating or ctx.audited_read):
        return
    ctx.changes.extend({"op": "create", "type": entity_type, "id": str(i)} for i in ids)


def record_read(session: Session) -> None:
    """Have the event of a successful audited read written once the read's answer is built (no-op
    for other requests): a required ``unit_of_work.after_read`` write, so a read whose event
    cannot be written fails instead of answering unaudited."""
    ctx = session.info.get("audit")
    if ctx is None or not ctx.audited_read or ctx.customer_id is None:
        return
    unit_of_work.after_read(session, lambda apart: apart.add(_event(apart, ctx)), required=True)


def entity_type_of(obj: object) -> str:
    """The audit name of a row's type: its class name in snake case (``ApiKey`` → ``api_key``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(obj).__name__).lower()


def _after_flush(session: Session, _flush_context: object) -> None:
    ctx: AuditContext | None = session.info.get("audit")
    if ctx is None or not (ctx.mutating or ctx.audited_read):
        return
    for op, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if isinstance(obj, AuditEvent):
                continue
            fields: list[str] = []
            if op == "update":
                state = inspect(obj)
                fields = [a.key for a in state.attrs if a.history.has_changes()]
                fields = [f for f in fields if f not in _IGNORED_COLUMNS.get(type(obj), frozenset())]
                if not fields:
                    continue
            key = inspect(obj).mapper.primary_key_from_instance(obj)
            change: dict[str, Any] = {"op": op, "type": entity_type_of(obj),
                                      "id": ":".join(str(k) for k in key)}
            if fields:
                change["fields"] = sorted(fields)
            ctx.changes.append(change)


def _before_commit(session: Session) -> None:
    ctx: AuditContext | None = session.info.get("audit")
    if ctx is None or not ctx.mutating or session.in_nested_transaction():
        return  # a savepoint's release is not the request's commit
    session.flush()
    if not ctx.changes:
        return
    if ctx.customer_id is None:
        _LOG.warning("unattributed change on %s %s not audited", ctx.method, ctx.route_path)
        return
    event = _event(session, ctx)
    if ctx.event is None:
        ctx.event = event
    else:
        for column in ("entity_type", "entity_id", "details", "user_id", "user_email"):
            setattr(ctx.event, column, getattr(event, column))
    session.add(ctx.event)


def _event(session: Session, ctx: AuditContext) -> AuditEvent:
    entity_type, entity_id = ctx.entity or _derive_entity(session, ctx)
    details: dict[str, Any] = {}
    params = {k: v for k, v in ctx.path_params.items() if k not in SECRET_PARAMS}
    if params:
        details["params"] = params
    if ctx.changes:
        details["changes"] = ctx.changes[:_MAX_CHANGES]
        if len(ctx.changes) > _MAX_CHANGES:
            details["more_changes"] = len(ctx.changes) - _MAX_CHANGES
    details.update(ctx.details)
    return AuditEvent(
        customer_id=ctx.customer_id,
        user_id=ctx.user_id,
        user_email=ctx.user_email,
        action=ctx.route_name or f"{ctx.method} {ctx.route_path}",
        entity_type=entity_type,
        entity_id=entity_id,
        request_id=ctx.request_id,
        method=ctx.method,
        path=ctx.path[:2000],
        status=ctx.status,
        details=details,
    )


def _derive_entity(session: Session, ctx: AuditContext) -> tuple[str | None, str | None]:
    """The entity an event is about when the service did not say (see the module docstring)."""
    for name in _PARAM_RE.findall(ctx.route_path):
        if name in SECRET_PARAMS or name not in ctx.path_params:
            continue
        etype = PARAM_ENTITY_TYPES.get(name) or (name[:-3] if name.endswith("_id") else name)
        value = ctx.path_params[name]
        if etype == "user" and "@" in value:
            value = _user_id_for_email(session, ctx, value) or value
        return etype, value
    segment = next((s for s in ctx.route_path.split("/") if s and "{" not in s), "")
    wanted = segment.replace("-", "_").removesuffix("s")
    ordered = sorted(ctx.changes, key=lambda c: ("create", "update", "delete").index(c["op"]))
    for change in ordered:
        if change["type"] == wanted:
            return change["type"], change["id"]
    created = [c for c in ordered if c["op"] == "create"]
    first = created[0] if created else (ordered[0] if ordered else None)
    return (first["type"], first["id"]) if first else (None, None)


def _user_id_for_email(session: Session, ctx: AuditContext, email: str) -> str | None:
    found = session.scalar(select(User.id).where(User.customer_id == ctx.customer_id,  # emails are per organization
                                                 func.lower(User.email) == email_key(email)))
    if found:
        return found
    deleted = [c["id"] for c in ctx.changes if c["type"] == "user" and c["op"] == "delete"]
    return deleted[0] if len(deleted) == 1 else None

"""Which resources belong to which project (``/projects/{id}/resources``), and upload channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.db import locks, unit_of_work
from datamint.server.errors import BadRequestError
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project
from datamint.server.resources import repository as repo
from datamint.server.resources import service, wire, wire_json


def managed_project(session: Session, me: Principal, project_id: str, *, lock: bool = False) -> Project:
    """A project the caller may change (404 for non-members, 403 without the manager role).

    Args:
        lock: Also lock the project's row until the transaction ends (before changing what it
            holds), and check it again under the lock.
    """
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.MANAGE)
    if lock:
        locks.lock_row(session, Project, project.id)
    if project.archived:
        raise BadRequestError(f"Project {project.name!r} is archived; restore it before changing its resources")
    return project


def update_project_resources(session: Session, me: Principal, project_id: str, to_add: Sequence[str],
                             to_delete: Sequence[str], all_files_selected: bool) -> dict[str, Any]:
    """Add and remove resources of a project in one transaction.

    Args:
        to_add: Resources to add (already present ones are skipped).
        to_delete: Resources to remove (absent ones are ignored).
        all_files_selected: Add every live resource of the organization.

    Returns:
        ``{"project_id", "added", "removed", "resource_count"}``.

    Raises:
        NotFoundError: A listed resource does not exist in the organization (nothing changes).
        BadRequestError: A resource to add is deleted.
    """
    project = managed_project(session, me, project_id, lock=True)
    adding = service.visible_resources(session, me, to_add) if to_add else []
    removing = service.visible_resources(session, me, to_delete) if to_delete else []
    deleted = [r.id for r in adding if r.deleted]
    if deleted:
        raise BadRequestError(f"Resource {deleted[0]} is deleted; restore it before adding it to a project")
    added = repo.add_to_project(session, project.id, [r.id for r in adding], me.email)
    if all_files_selected:
        repo.add_all_to_project(session, me.customer_id, project.id, me.email)
    if removing:
        repo.remove_from_project(session, project.id, [r.id for r in removing])
    session.flush()
    count = repo.count_project_resources(session, [project.id])[project.id]
    return {"project_id": project.id, "added": added, "removed": len(removing), "resource_count": count}


#: ``(session, project_id, label_set, status) -> ids of the project's resources with that label
#: status`` — plugged in by the label-quality area (``quality.label_status``), which sits above this one.
LABEL_STATUS_FILTERS: list[Callable[[Session, str, str, str], set[str]]] = []


#: Resources whose JSON one statement of :func:`.wire_json.resources_json` writes: a project's
#: listing is read and sent in chunks of this many (the statement stays the size of a listing page's).
JSON_CHUNK = 5000


def project_resources_body(session: Session, me: Principal, project_id: str, label_status: str | None = None,
                           label_set: str = "ground-truth") -> Iterator[bytes]:
    """Every live resource of a project, oldest first, as the pieces of the JSON text of a bare
    array (not paginated), for a streamed response; with ``label_status``, only those with that
    status in ``label_set``.

    What can fail is done now, in ``session`` (the request's), before the first byte: the
    permission check, the label status filter and the ids, read in one statement ``JSON_CHUNK``
    rows at a time and kept as one comma-joined text per chunk (about 37 bytes a resource, not
    the ~1 kB of its JSON). The pieces are written later, as they are sent: for each chunk the
    database writes the resources' objects (:mod:`.wire_json`, the fields and values of
    :func:`.wire.to_wire_many`) in a short session of its own, closed before the piece is
    yielded, so the server holds one chunk (a few MB) at a time and no pooled connection while
    the client reads.

    A change made while the body is sent: the set of resources and their order are those of the
    ids' statement (a resource added to the project later is not listed; one removed from the
    project later still is); each resource's fields are those when its chunk is read (a resource
    deleted in between is listed with ``deleted: true``, one whose row is gone is left out; the
    two statements of a chunk can differ in the same way on PostgreSQL, read committed). A
    database error after the first byte cannot change the status any more: the connection is
    closed before the body's end, which clients report as an incomplete body.

    Returns:
        The body's pieces, one a chunk, each chunk's objects joined by ``,``: the first starts
        with ``[``, the others with ``,``; the last is ``]`` (``[]`` alone for no resource).

    Raises:
        NotFoundError: No such project visible to ``me`` (another organization's included).
        ValidationFailedError: An unknown ``label_status`` or an invalid ``label_set``.
    """
    project, _ = visible_project(session, me, project_id)
    keep: set[str] | None = None
    if label_status is not None:
        for wanted in (status_of(session, project.id, label_set, label_status) for status_of in LABEL_STATUS_FILTERS):
            keep = wanted if keep is None else keep & wanted
    return _json_array(unit_of_work.sessions_beside(session), _id_chunks(session, project.id, keep))


def _id_chunks(session: Session, project_id: str, keep: set[str] | None) -> list[str]:
    """The ids of the project's live resources (those in ``keep`` when given), in order, as
    comma-joined texts of ``JSON_CHUNK`` ids (UUIDs: no commas)."""
    chunks: list[str] = []
    pending: list[str] = []
    for batch in repo.project_resource_id_batches(session, project_id, JSON_CHUNK):
        pending.extend(batch if keep is None else [rid for rid in batch if rid in keep])
        while len(pending) >= JSON_CHUNK:
            chunks.append(",".join(pending[:JSON_CHUNK]))
            del pending[:JSON_CHUNK]
    if pending:
        chunks.append(",".join(pending))
    return chunks


def _json_array(open_session: Callable[[], Session], chunks: list[str]) -> Iterator[bytes]:
    """``[``, the JSON objects of each chunk's resources (in the chunk's order) joined by ``,``,
    ``]``: one piece per chunk (:func:`_piece`)."""
    lead = "["
    for packed in chunks:
        piece = _piece(open_session, packed.split(","), lead)
        if piece:
            yield piece
            lead = ","
    yield b"]" if lead == "," else b"[]"


def _piece(open_session: Callable[[], Session], ids: list[str], lead: str) -> bytes:
    """``lead`` and the JSON objects of the resources ``ids`` (those with a row, in that order)
    joined by ``,``, written in a session from ``open_session`` closed before it returns (``b""``
    for none). Each object is copied twice at most: into the text, then into its bytes."""
    with open_session() as session:
        written = wire_json.resources_json(session, ids)
    objects = [written[rid] for rid in ids if rid in written]
    if not objects:
        return b""
    objects[0] = lead + objects[0]
    return ",".join(objects).encode()


def list_channels(session: Session, me: Principal, channel_name: str | None, project_name: str | None,
                  offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A page of upload channels with their resources, and the number of channels."""
    policy.require(me, policy.Action.RESOURCES_READ)
    project_id = None
    if project_name:
        ids = service.visible_project_ids(session, me, [project_name])
        if not ids:
            return [], 0
        project_id = ids[0]
    groups, total = repo.list_channels(session, me.customer_id, channel_name, project_id, offset, limit)
    members = repo.channel_members(session, me.customer_id, [g[0] for g in groups], project_id)
    return [wire.channel_to_wire(name, first, last, members.get(name, [])) for name, first, last, _ in groups], total

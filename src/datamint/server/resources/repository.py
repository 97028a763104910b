"""SQL for resources: the filtered listing, tags, project memberships, channels and upload intents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from datamint.server.auth.models import User
from datamint.server.projects.models import Project, ProjectMember
from datamint.server.resources import positions, wire_json
from datamint.server.resources.models import ProjectResource, Resource, ResourceTag, UploadIntent

#: Columns the listing may be ordered by (wire ``order_field``).
ORDER_COLUMNS = {
    "created_at": Resource.created_at,
    "modality": Resource.modality,
    "created_by": Resource.created_by,
    "published_by": Resource.published_by,
    "published_on": Resource.published_on,
    "filename": Resource.filename,
}


@dataclass
class ResourceFilters:
    """Every filter of ``GET /resources``; ``None`` means "do not filter on this"."""

    status: str | None = None
    deleted: str = "exclude"
    created_from: datetime | None = None
    created_to: datetime | None = None
    modality: str | None = None
    mimetype: str | None = None
    channel: str | None = None
    filename: str | None = None
    source_filepath: str | None = None
    series_uid: str | None = None
    tags: list[str] = field(default_factory=list)
    tags_match_all: bool = False
    project_ids: list[str] | None = None
    projects_match_all: bool = True
    not_in_project: str | None = None
    order_field: str = "created_at"
    ascending: bool = False
    only_ids: list[str] | None = None


def _conditions(customer_id: str, f: ResourceFilters, tags_first: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE clause of a listing; ``tags_first`` lets a union tag filter drive the query from
    the ``resource_tags(tag, resource_id)`` index (for the count) instead of probing per row."""
    conds: list[ColumnElement[bool]] = [Resource.customer_id == customer_id]
    if f.deleted == "exclude":
        conds.append(Resource.deleted.is_(False))
    elif f.deleted == "only":
        conds.append(Resource.deleted.is_(True))
    if f.status is not None:
        conds.append(Resource.status == f.status)
    for column, value in ((Resource.modality, f.modality), (Resource.mimetype, f.mimetype),
                          (Resource.upload_channel, f.channel), (Resource.filename, f.filename),
                          (Resource.source_filepath, f.source_filepath), (Resource.series_uid, f.series_uid)):
        if value is not None:
            conds.append(column == value)
    if f.created_from is not None:
        conds.append(Resource.created_at >= f.created_from)
    if f.created_to is not None:
        conds.append(Resource.created_at < f.created_to)
    if f.only_ids is not None:
        conds.append(Resource.id.in_(f.only_ids))
    if f.tags and f.tags_match_all:
        tagged = (select(ResourceTag.resource_id).where(ResourceTag.tag.in_(f.tags))
                  .group_by(ResourceTag.resource_id).having(func.count(ResourceTag.tag) == len(set(f.tags))))
        conds.append(Resource.id.in_(tagged))
    elif f.tags and tags_first:  # the tagged ids from the tag index, each row fetched by key until the cap
        conds.append(Resource.id.in_(select(ResourceTag.resource_id).where(ResourceTag.tag.in_(f.tags))))
    elif f.tags:  # probed per row through the (resource_id, tag) key while walking the ordering index
        conds.append(exists().where(ResourceTag.resource_id == Resource.id, ResourceTag.tag.in_(f.tags)))
    if f.project_ids is not None:
        if not f.project_ids:
            conds.append(Resource.id.is_(None))  # an unknown project: nothing matches
        elif f.projects_match_all:
            for pid in f.project_ids:
                conds.append(exists().where(ProjectResource.project_id == pid,
                                            ProjectResource.resource_id == Resource.id))
        else:
            conds.append(Resource.id.in_(select(ProjectResource.resource_id)
                                         .where(ProjectResource.project_id.in_(f.project_ids))))
    if f.not_in_project is not None:
        conds.append(~exists().where(ProjectResource.project_id == f.not_in_project,
                                     ProjectResource.resource_id == Resource.id))
    return conds


#: A listing counts its matches exactly up to this many; beyond, ``totalCount`` says "at least".
COUNT_CAP = 10_000
#: A plain listing (:func:`_seekable`) reaches an offset at least this deep through the time
#: counts (:mod:`.positions`) rather than by walking the index: the walk costs about 85 ns an
#: index entry on SQLite and 180 on PostgreSQL (1M rows), the counts' queries 4 to 6 ms in all.
SEEK_FROM_OFFSET = 20_000


@dataclass
class ListingPage:
    """One page of a listing: the resources' ids and wire JSON texts (:mod:`.wire_json`), in
    order, the (capped) count and the keyset cursor of the next page."""

    ids: list[str]
    items: list[str]
    total: int
    total_capped: bool
    next_after: tuple[datetime, str] | None


def _tags_alone(f: ResourceFilters, extra: Sequence[ColumnElement[bool]]) -> bool:
    """Whether the listing's filters are all carried by the tag rows (organization, deleted,
    creation time, ids, tags) and it is ordered by creation time: then :func:`_tagged_keys`
    answers its count and page from the tag index without visiting ``resources``."""
    others = (f.status, f.modality, f.mimetype, f.channel, f.filename, f.source_filepath, f.series_uid,
              f.project_ids, f.not_in_project)
    return bool(f.tags) and not extra and f.order_field == "created_at" and all(v is None for v in others)


def _seekable(f: ResourceFilters, extra: Sequence[ColumnElement[bool]], offset: int) -> bool:
    """Whether the page is deep in the official client's plain paging: ordered by creation time,
    filtered by nothing but the organization and the ``deleted`` setting (:mod:`.positions`)."""
    plain = ResourceFilters(deleted=f.deleted, ascending=f.ascending)  # order_field created_at
    return offset >= max(SEEK_FROM_OFFSET, 1) and f == plain and not extra


def _sought_page(session: Session, customer_id: str, f: ResourceFilters, offset: int,
                 limit: int) -> list[tuple[datetime, str]] | None:
    """``(created_at, id)`` of a plain listing's page at a deep offset, located by the time counts
    (:mod:`.positions`); ``None`` when the counts changed while read (then the index is walked)."""
    try:
        located = positions.seek(session, customer_id, f.deleted, f.ascending, offset)
    except LookupError:
        return None
    if located is None:
        return []  # the listing ends before the offset
    return positions.page_keys(session, customer_id, f.deleted, f.ascending, *located, limit)


def _tagged_keys(customer_id: str, f: ResourceFilters, after: tuple[datetime, str] | None,
                 first: int | None = None) -> CompoundSelect:
    """``(created_at, id)`` of each resource matching a tags-alone listing, once each, from the
    ``resource_tags(customer_id, deleted, tag, created_at, resource_id)`` index.

    Union: one index range per tag; a resource already found under an earlier tag of the list is
    skipped (one primary-key probe per row of the later ranges), so the ranges are simply
    concatenated (a count stops at its cap) or merged in ``created_at`` order (a page).
    Intersection: the first tag's range, each row probed for the other tags.

    Args:
        first: Only the first this many rows of each range, in the listing's order (a page).
    """
    tags = list(dict.fromkeys(f.tags))
    streams = tags[:1] if f.tags_match_all else tags
    parts = []
    for i, tag in enumerate(streams):
        t = aliased(ResourceTag)
        conds: list[ColumnElement[bool]] = [t.customer_id == customer_id, t.tag == tag]
        if f.deleted == "exclude":
            conds.append(t.deleted.is_(False))
        elif f.deleted == "only":
            conds.append(t.deleted.is_(True))
        if f.created_from is not None:
            conds.append(t.created_at >= f.created_from)
        if f.created_to is not None:
            conds.append(t.created_at < f.created_to)
        if f.only_ids is not None:
            conds.append(t.resource_id.in_(f.only_ids))
        if after is not None:
            position = tuple_(t.created_at, t.resource_id)
            conds.append(position > tuple_(*after) if f.ascending else position < tuple_(*after))
        if f.tags_match_all:
            for other in tags[1:]:
                o = aliased(ResourceTag)
                conds.append(exists().where(o.resource_id == t.resource_id, o.tag == other))
        elif i:  # OFFSET 0 keeps PostgreSQL from making this an anti join, which reads the whole
            # earlier ranges before the first row and so loses the ordered merge and the cap
            e = aliased(ResourceTag)
            conds.append(~exists(select(literal(1)).where(e.resource_id == t.resource_id, e.tag.in_(tags[:i]))
                                 .offset(0)))
        part = select(t.created_at.label("created_at"), t.resource_id.label("id")).where(*conds)
        if first is not None:  # each range's first rows in order (PostgreSQL does not merge the
            # ranges of a UNION ALL in order: without this it would sort every row of every range)
            order = [t.created_at.asc(), t.resource_id.asc()] if f.ascending else [t.created_at.desc(),
                                                                                    t.resource_id.desc()]
            ranked = part.order_by(*order).limit(first).subquery()
            part = select(ranked.c.created_at, ranked.c.id)
        parts.append(part)
    return union_all(*parts)


def _keyset(f: ResourceFilters, after: tuple[datetime, str] | None) -> list[ColumnElement[bool]]:
    """The rows past the ``after`` cursor in the listing's order (no condition without one)."""
    if after is None:
        return []
    position = tuple_(Resource.created_at, Resource.id)
    return [position > tuple_(*after) if f.ascending else position < tuple_(*after)]


def _page_keys(session: Session, customer_id: str, f: ResourceFilters, extra: Sequence[ColumnElement[bool]],
               after: tuple[datetime, str] | None, start: int, limit: int) -> list[tuple[datetime | None, str]]:
    """``(created_at, id)`` of at most ``limit`` rows of the listing from position ``start`` on
    (counted from the ``after`` cursor when there is one): located by the time counts when
    :func:`_seekable`, read from the tag index when :func:`_tags_alone`, else the ordering index
    walked for ids (``created_at`` is ``None`` when the listing is ordered by another column)."""
    sought = _sought_page(session, customer_id, f, start, limit) if (
        after is None and _seekable(f, extra, start)) else None
    if sought is not None:
        return list(sought)  # (typed as the other branches' rows)
    if _tags_alone(f, extra):
        direction = (lambda c: c.asc()) if f.ascending else (lambda c: c.desc())
        ids = _tagged_keys(customer_id, f, after, start + limit).order_by(
            direction(literal_column("created_at")), direction(literal_column("id")))
        return [(created_at, rid) for created_at, rid in session.execute(ids.offset(start).limit(limit))]
    column = ORDER_COLUMNS.get(f.order_field, Resource.created_at)
    order = [column.asc() if f.ascending else column.desc(),
             Resource.id.asc() if f.ascending else Resource.id.desc()]
    # (created_at, id) when the listing is ordered by created_at (its index holds both: the cursor
    # of the next page comes with the ids); other orders read their ids alone from their index.
    keyed = (Resource.created_at if f.order_field == "created_at" else literal(None), Resource.id)
    query = select(*keyed).where(*_conditions(customer_id, f), *extra, *_keyset(f, after)).order_by(*order)
    return [(created_at, rid) for created_at, rid in session.execute(query.offset(start).limit(limit))]


def _capped_count(session: Session, customer_id: str, f: ResourceFilters, extra: Sequence[ColumnElement[bool]],
                  after: tuple[datetime, str] | None) -> int:
    """How many rows the listing has (from the ``after`` cursor on), counted up to
    ``COUNT_CAP + 1``: from the tag index when :func:`_tags_alone`, else from the resources."""
    if _tags_alone(f, extra):
        rows = select(literal(1)).select_from(_tagged_keys(customer_id, f, after).subquery())
    else:
        rows = select(literal(1)).select_from(Resource).where(
            *_conditions(customer_id, f, tags_first=True), *extra, *_keyset(f, after))
    return session.scalar(select(func.count()).select_from(rows.limit(COUNT_CAP + 1).subquery())) or 0


def list_resources(session: Session, customer_id: str, f: ResourceFilters, offset: int, limit: int,
                   extra: Sequence[ColumnElement[bool]] = (),
                   after: tuple[datetime, str] | None = None) -> ListingPage:
    """One page of an organization's resources matching ``f``, and how many match.

    The count stops at :data:`COUNT_CAP` (counting a million matches costs more than the page).
    Deep pages: ``after`` (the ``(created_at, id)`` of the last row seen, keyset paging, newest
    first or oldest first) seeks straight to the page through the listing index; ``offset``
    walks the index for ids only, except in a plain listing ordered by creation time (the
    official client's paging), where an offset from :data:`SEEK_FROM_OFFSET` on is located from
    the time counts the database keeps (:mod:`.positions`). The database then writes the page's
    resources as JSON, by primary key (:mod:`.wire_json`). A listing filtered by tags alone reads
    its count and page ids from the tag index (:func:`_tagged_keys`).

    What the page proves spares the count: a page that ends beyond the cap proves the count is
    capped (``totalCount`` is then where the page ends). An empty page at an offset proves nothing
    by itself, but when the row just before the offset exists (read like the page, the same seek
    included) the count is exactly the offset, even beyond the cap. Otherwise the count is read,
    up to the cap; capped, ``totalCount`` is the cap (or where a page beyond it ends). With
    ``after`` the page, the count and its lower bound start at the cursor (``offset`` is unused).

    Args:
        extra: Further conditions (e.g. "has no annotation") added by callers.
        after: Keyset position (only with ``order_field`` ``created_at``).
    """
    start = 0 if after else offset
    if session.get_bind().dialect.name == "postgresql":
        # A listing's statements are index walks; at a million rows the planner's estimate for a deep
        # offset or a page of 5,000 passes jit_above_cost, and compiling them (10 to 100 ms) would
        # cost more than running them.
        session.execute(text("SET LOCAL jit = off"))
    page_keys = _page_keys(session, customer_id, f, extra, after, start, limit)
    page_ids = [rid for _, rid in page_keys]
    if page_ids and start + len(page_ids) > COUNT_CAP:
        counted, capped = start + len(page_ids), True  # the rows up to the page's end exist
    elif not page_ids and start and _page_keys(session, customer_id, f, extra, after, start - 1, 1):
        counted, capped = start, False  # row start - 1 exists and row start does not: exact, even past the cap
    else:
        counted = _capped_count(session, customer_id, f, extra, after)
        capped = counted > COUNT_CAP
    found = wire_json.resources_json(session, page_ids)
    shown = [rid for rid in page_ids if rid in found]
    # capped: "at least" the cap, or the rows up to the page's end (an empty page proves none)
    total = max(COUNT_CAP, start + len(shown) if shown else 0) if capped else counted
    following = None
    if len(shown) == limit and f.order_field == "created_at":
        following = (dict((rid, created_at) for created_at, rid in page_keys)[shown[-1]], shown[-1])
    return ListingPage(shown, [found[rid] for rid in shown], total, capped, following)


def get_resource(session: Session, customer_id: str, resource_id: str) -> Resource | None:
    """The resource with this id in this organization (deleted ones included)."""
    resource = session.get(Resource, resource_id)
    if resource is None or resource.customer_id != customer_id:
        return None
    return resource


def get_many(session: Session, customer_id: str, resource_ids: Sequence[str]) -> dict[str, Resource]:
    """The resources of this organization among ``resource_ids``, by id."""
    found: dict[str, Resource] = {}
    ids = list(resource_ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = session.scalars(select(Resource).where(Resource.customer_id == customer_id, Resource.id.in_(chunk)))
        found.update({r.id: r for r in rows})
    return found


# -- tags ---------------------------------------------------------------------------------------

def tags_of(session: Session, resource_ids: Sequence[str]) -> dict[str, list[str]]:
    """Tags of each resource, in the order they were given."""
    result: dict[str, list[str]] = defaultdict(list)
    ids = list(resource_ids)
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(ResourceTag.resource_id, ResourceTag.tag)
                               .where(ResourceTag.resource_id.in_(ids[start:start + 1000]))
                               .order_by(ResourceTag.resource_id, ResourceTag.position, ResourceTag.tag))
        for rid, tag in rows:
            result[rid].append(tag)
    return result


# Changes go through the ORM (not bulk statements) so that the audit trail sees every row.

def insert_tags(session: Session, resource_id: str, tags: Sequence[str]) -> None:
    """Tags of a resource that has none yet, in order."""
    session.add_all(ResourceTag(resource_id=resource_id, tag=t, position=i) for i, t in enumerate(tags))


def set_tags(session: Session, resource_ids: Sequence[str], tags: Sequence[str], append: bool) -> None:
    """Replace (or, with ``append``, extend) the tags of the given resources, keeping their order."""
    ids = list(resource_ids)
    wanted = list(dict.fromkeys(tags))
    existing: dict[str, dict[str, ResourceTag]] = defaultdict(dict)
    for start in range(0, len(ids), 1000):
        rows = session.scalars(select(ResourceTag).where(ResourceTag.resource_id.in_(ids[start:start + 1000]))
                               .order_by(ResourceTag.resource_id, ResourceTag.position))
        for row in rows:
            existing[row.resource_id][row.tag] = row
    for rid in ids:
        rows = existing.get(rid, {})
        if append:
            start = len(rows)
            new = [t for t in wanted if t not in rows]
            session.add_all(ResourceTag(resource_id=rid, tag=t, position=start + i) for i, t in enumerate(new))
            continue
        for tag, row in rows.items():
            if tag not in wanted:
                session.delete(row)
        for position, tag in enumerate(wanted):
            if tag in rows:
                rows[tag].position = position
            else:
                session.add(ResourceTag(resource_id=rid, tag=tag, position=position))


# -- projects -----------------------------------------------------------------------------------

def projects_of(session: Session, resource_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """``{id, name}`` of the projects each resource belongs to."""
    result: dict[str, list[dict[str, str]]] = defaultdict(list)
    ids = list(resource_ids)
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(ProjectResource.resource_id, Project.id, Project.name)
                               .join(Project, Project.id == ProjectResource.project_id)
                               .where(ProjectResource.resource_id.in_(ids[start:start + 1000]))
                               .order_by(Project.name, Project.id))
        for rid, pid, name in rows:
            result[rid].append({"id": pid, "name": name})
    return result


def project_ids_by_name(session: Session, customer_id: str, names: Sequence[str],
                        member_id: str | None = None) -> dict[str, str]:
    """Project ids of this organization by name (names that do not exist are absent).

    Args:
        member_id: Only the projects this user is a member of; ``None`` for all of them.
    """
    stmt = select(Project.name, Project.id).where(Project.customer_id == customer_id, Project.name.in_(list(names)))
    if member_id is not None:
        stmt = stmt.where(Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == member_id)))
    return {name: pid for name, pid in session.execute(stmt)}


def add_to_project(session: Session, project_id: str, resource_ids: Sequence[str], added_by: str) -> int:
    """Add resources to a project, skipping those already in it; returns how many were added."""
    existing = set(session.scalars(select(ProjectResource.resource_id).where(
        ProjectResource.project_id == project_id, ProjectResource.resource_id.in_(list(resource_ids)))))
    rows = [ProjectResource(project_id=project_id, resource_id=rid, added_by=added_by)
            for rid in dict.fromkeys(resource_ids) if rid not in existing]
    session.add_all(rows)
    return len(rows)


def add_all_to_project(session: Session, customer_id: str, project_id: str, added_by: str) -> None:
    """Add every live resource of the organization to a project."""
    missing = select(Resource.id).where(
        Resource.customer_id == customer_id, Resource.deleted.is_(False),
        ~exists().where(ProjectResource.project_id == project_id, ProjectResource.resource_id == Resource.id))
    for rid in session.scalars(missing).all():
        session.add(ProjectResource(project_id=project_id, resource_id=rid, added_by=added_by))


def remove_from_project(session: Session, project_id: str, resource_ids: Sequence[str]) -> None:
    """Remove resources from a project (absent ones are ignored)."""
    for row in session.scalars(select(ProjectResource).where(ProjectResource.project_id == project_id,
                                                             ProjectResource.resource_id.in_(list(resource_ids)))):
        session.delete(row)


def _project_live(project_id: str, what: Any) -> Select[Any]:
    """``what`` of the live resources of a project, oldest first (ties by id)."""
    return (select(what).join(ProjectResource, ProjectResource.resource_id == Resource.id)
            .where(ProjectResource.project_id == project_id, Resource.deleted.is_(False))
            .order_by(Resource.created_at, Resource.id))


def project_resources(session: Session, project_id: str) -> Sequence[Resource]:
    """The live resources of a project, oldest first."""
    return session.scalars(_project_live(project_id, Resource)).all()


def project_resource_id_batches(session: Session, project_id: str, size: int) -> Iterator[Sequence[str]]:
    """The ids of the live resources of a project, in the order of :func:`project_resources`, in
    batches of at most ``size``: one statement, fetched ``size`` rows at a time (on PostgreSQL from
    a server-side cursor), so neither the driver nor the caller holds every id at once. (A Core
    execution: the ORM's ``yield_per`` cost five times the CPU time, 0.34 s for 100,000 ids.)"""
    statement = _project_live(project_id, Resource.id).execution_options(stream_results=True, max_row_buffer=size)
    yield from session.connection().execute(statement).scalars().partitions(size)


# -- users --------------------------------------------------------------------------------------

def user_names(session: Session, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{firstname, lastname}`` of each user id."""
    ids = list(set(user_ids))
    rows = session.execute(select(User.id, User.firstname, User.lastname).where(User.id.in_(ids))) if ids else []
    return {uid: {"firstname": first, "lastname": last} for uid, first, last in rows}


# -- channels -----------------------------------------------------------------------------------

def list_channels(session: Session, customer_id: str, name: str | None, project_id: str | None,
                  offset: int, limit: int) -> tuple[list[tuple[str, datetime, datetime, int]], int]:
    """A page of channels (name, first upload, last upload, resource count) and the total."""
    conds: list[ColumnElement[bool]] = [Resource.customer_id == customer_id, Resource.deleted.is_(False)]
    if name is not None:
        conds.append(Resource.upload_channel == name)
    if project_id is not None:
        conds.append(exists().where(ProjectResource.project_id == project_id,
                                    ProjectResource.resource_id == Resource.id))
    grouped = (select(Resource.upload_channel, func.min(Resource.created_at), func.max(Resource.created_at),
                      func.count()).where(*conds).group_by(Resource.upload_channel))
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    rows = session.execute(grouped.order_by(Resource.upload_channel).offset(offset).limit(limit)).all()
    return [(r[0], r[1], r[2], int(r[3])) for r in rows], total


def channel_members(session: Session, customer_id: str, channels: Sequence[str],
                    project_id: str | None) -> dict[str, list[Resource]]:
    """The live resources of each channel, oldest first."""
    conds: list[ColumnElement[bool]] = [Resource.customer_id == customer_id, Resource.deleted.is_(False),
                                        Resource.upload_channel.in_(list(channels))]
    if project_id is not None:
        conds.append(exists().where(ProjectResource.project_id == project_id,
                                    ProjectResource.resource_id == Resource.id))
    result: dict[str, list[Resource]] = defaultdict(list)
    for row in session.scalars(select(Resource).where(*conds).order_by(Resource.created_at, Resource.id)):
        result[row.upload_channel].append(row)
    return result


# -- soft delete --------------------------------------------------------------------------------

def mark_deleted(resources: Sequence[Resource], deleted: bool, by: str | None, when: datetime | None) -> None:
    """Set or clear the soft-delete fields of resources."""
    for resource in resources:
        resource.deleted, resource.deleted_at, resource.deleted_by = deleted, when, by


# -- duplicates ---------------------------------------------------------------------------------

def find_same_content(session: Session, customer_id: str, content_sha256: str, source_sha256: str | None,
                      user_id: str) -> Resource | None:
    """The oldest live resource of the organization with these bytes, or (declared hash) with the
    same original file uploaded by the same user."""
    same = Resource.content_sha256 == content_sha256
    if source_sha256:
        same = or_(same, and_(Resource.source_sha256 == source_sha256, Resource.created_by_id == user_id))
    query = (select(Resource).where(Resource.customer_id == customer_id, Resource.deleted.is_(False), same)
             .order_by(Resource.created_at, Resource.id).limit(1))
    return session.scalars(query).first()


# -- upload intents -----------------------------------------------------------------------------

def stale_intents(session: Session, older_than: datetime) -> Sequence[UploadIntent]:
    """Upload intents started before ``older_than``."""
    return session.scalars(select(UploadIntent).where(UploadIntent.started_at < older_than)).all()


def resource_exists(session: Session, resource_id: str) -> bool:
    """Whether a resource row with this id exists (any organization)."""
    return session.get(Resource, resource_id) is not None


def count_project_resources(session: Session, project_ids: Sequence[str]) -> dict[str, int]:
    """Number of live (not deleted) resources in each project, in one grouped query."""
    counts = dict.fromkeys(project_ids, 0)
    if not project_ids:
        return counts
    rows = session.execute(select(ProjectResource.project_id, func.count())
                           .join(Resource, Resource.id == ProjectResource.resource_id)
                           .where(ProjectResource.project_id.in_(list(project_ids)), Resource.deleted.is_(False))
                           .group_by(ProjectResource.project_id))
    counts.update({pid: int(n) for pid, n in rows})
    return counts

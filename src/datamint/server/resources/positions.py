"""Deep ``offset`` pages of the listing ordered by creation time, found from the counts the
database keeps per UTC day, minute and second (:class:`~.models.ResourceTimeCount`, migration
0021_listing_positions) instead of by walking the listing index over every row before them.

For the row at position ``offset`` (newest first, or oldest first): the day buckets are summed in
the listing's order until they pass the offset, then the minutes of that day, then the seconds
of that minute: three small indexed queries. Every row of a second bucket was created within
that second, so the rows before the bucket in the listing's order are exactly those beyond its
boundary (newer than its end, or older than its start), and the page is the listing index walked
from the boundary, skipping only the rows of that second before the offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, union_all
from sqlalchemy.orm import Session

from datamint.server.resources.models import Resource, ResourceTimeCount

#: The width of each level's buckets (``ResourceTimeCount.level`` is the index).
LEVELS = (timedelta(days=1), timedelta(minutes=1), timedelta(seconds=1))
#: The ``deleted`` values each listing setting shows.
DELETED = {"exclude": (False,), "only": (True,), "include": (False, True)}


def _deleted(column: ColumnElement[bool], values: tuple[bool, ...]) -> ColumnElement[bool]:
    # both values named (not "any"): each is a range of the (customer_id, deleted, level, bucket) key
    return column.is_(values[0]) if len(values) == 1 else column.in_(values)


def _bucket_of(session: Session, customer_id: str, deleted: tuple[bool, ...], level: int, ascending: bool,
               skip: int, within: tuple[datetime, datetime] | None) -> tuple[datetime, int] | None:
    """The first bucket of ``level`` (in the listing's order, inside ``within``) whose running
    count passes ``skip``, and how many rows the buckets before it hold; ``None`` when they all
    hold ``skip`` rows or fewer."""
    t = ResourceTimeCount
    conds = [t.customer_id == customer_id, _deleted(t.deleted, deleted), t.level == level]
    if within is not None:
        conds += [t.bucket >= within[0], t.bucket < within[1]]
    per_bucket = (select(t.bucket, t.n).where(*conds) if len(deleted) == 1
                  else select(t.bucket, func.sum(t.n).label("n")).where(*conds).group_by(t.bucket)).subquery()
    order = per_bucket.c.bucket.asc() if ascending else per_bucket.c.bucket.desc()
    running = select(per_bucket.c.bucket, per_bucket.c.n,
                     func.sum(per_bucket.c.n).over(order_by=order, rows=(None, 0)).label("running")).subquery()
    row = session.execute(select(running.c.bucket, running.c.running - running.c.n)
                          .where(running.c.running > skip)
                          .order_by(running.c.bucket.asc() if ascending else running.c.bucket.desc())
                          .limit(1)).first()
    return None if row is None else (row[0], int(row[1]))


def seek(session: Session, customer_id: str, deleted: str, ascending: bool,
         offset: int) -> tuple[datetime, int] | None:
    """Where the row at position ``offset`` of an organization's listing ordered by ``created_at``
    (filtered by ``deleted`` alone) is: ``(boundary, skip)``, the page being the listing's rows
    from the boundary on (``created_at < boundary`` newest first, ``>= boundary`` oldest first)
    after skipping ``skip`` of them (fewer than that second holds).

    Returns:
        ``None`` when the listing has ``offset`` rows or fewer (as counted when read).

    Raises:
        LookupError: The counts changed between two of the queries (PostgreSQL reads each
            statement as committed when it starts); the caller walks the index instead.
    """
    values, skip, within = DELETED[deleted], offset, None
    for level, width in enumerate(LEVELS):
        found = _bucket_of(session, customer_id, values, level, ascending, skip, within)
        if found is None:
            if level == 0:
                return None
            raise LookupError("the counts changed while they were read")
        start, before = found
        skip -= before
        within = (start, start + width)
    assert within is not None
    return (within[0] if ascending else within[1]), skip


def page_keys(session: Session, customer_id: str, deleted: str, ascending: bool, boundary: datetime,
              skip: int, limit: int) -> list[tuple[datetime, str]]:
    """``(created_at, id)`` of the page :func:`seek` located: the listing index walked from
    ``boundary``, ``skip`` rows skipped. With ``deleted=include`` each ``deleted`` value's index
    range gives its first ``skip + limit`` rows in order and the two are merged."""
    parts = []
    for value in DELETED[deleted]:
        conds = [Resource.customer_id == customer_id, Resource.deleted.is_(value),
                 Resource.created_at >= boundary if ascending else Resource.created_at < boundary]
        order = ([Resource.created_at.asc(), Resource.id.asc()] if ascending
                 else [Resource.created_at.desc(), Resource.id.desc()])
        parts.append(select(Resource.created_at, Resource.id).where(*conds).order_by(*order))
    if len(parts) == 1:
        query = parts[0].offset(skip).limit(limit)
    else:
        merged = union_all(*(part.limit(skip + limit).subquery().select() for part in parts)).subquery()
        order = ([merged.c.created_at.asc(), merged.c.id.asc()] if ascending
                 else [merged.c.created_at.desc(), merged.c.id.desc()])
        query = select(merged.c.created_at, merged.c.id).order_by(*order).offset(skip).limit(limit)
    return [(created_at, rid) for created_at, rid in session.execute(query)]

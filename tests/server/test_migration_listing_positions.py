"""Revision 0021_listing_positions on a database with resources: the time counts are filled from
them (UTC buckets, whatever the session's time zone), the database keeps them afterwards (ORM and
raw inserts, soft delete and restore, a moved creation time, hard deletes), and downgrading drops
the table and its triggers, on both backends."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from datamint.server.auth.models import Organization, User
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource, ResourceTimeCount

#: The revision before 0021_listing_positions.
BEFORE = "0020_listing_tag_order"
UTC = timezone.utc
#: 18:30 UTC is midnight in UTC+5:30 (the session time zone of the PostgreSQL writes below).
T0 = datetime(2026, 11, 1, 18, 29, 59, 500_000, tzinfo=UTC)
ORGS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(2)]


def _rid(i: int) -> str:
    return f"00000000-0000-4000-8000-0000000002{i:02d}"


def _session_zone(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))


def _seed(db: Database) -> None:
    """Two organizations' resources (some deleted), on both sides of a second, a minute and a
    UTC day, written as revision 0020 allowed."""
    with db.transaction() as s:
        for n, org in enumerate(ORGS):
            s.add(Organization(id=org, name=f"Lab {n}", created_at=T0))
            s.flush()
            s.add(User(id=f"00000000-0000-4000-8000-00000000001{n}", customer_id=org, email=f"u{n}@lab.test",
                       roles=["admin"], created_at=T0))
        s.flush()
        offsets = [0, 0, 0.4, 0.5, 1, 60, 3600 * 6, 3600 * 6 + 1, 86400 * 3]
        for i, seconds in enumerate(offsets):
            s.add(_resource(i, ORGS[i % 2], T0 + timedelta(seconds=seconds), deleted=i % 4 == 3))


def _resource(i: int, org: str, at: datetime, deleted: bool = False) -> Resource:
    return Resource(id=_rid(i), customer_id=org, storage="local", location=f"k{i}", filename="a.png",
                    mimetype="image/png", size=1, status="inbox", created_by="a", created_by_id="u", created_at=at,
                    deleted=deleted)


def _truncate(at: datetime, level: int) -> datetime:
    at = at.astimezone(UTC).replace(microsecond=0)
    return at.replace(hour=0, minute=0, second=0) if level == 0 else at.replace(second=0) if level == 1 else at


def _assert_counts(db: Database) -> None:
    """The counts equal the resources grouped by organization, deleted flag and UTC bucket."""
    with db.transaction() as s:
        resources = s.execute(select(Resource.customer_id, Resource.deleted, Resource.created_at)).all()
        kept = s.execute(select(ResourceTimeCount.customer_id, ResourceTimeCount.deleted, ResourceTimeCount.level,
                                ResourceTimeCount.bucket, ResourceTimeCount.n)).all()
    grouped = Counter((c, d, level, _truncate(at, level)) for c, d, at in resources for level in range(3))
    assert {(c, d, level, bucket.astimezone(UTC)): n for c, d, level, bucket, n in kept} == dict(grouped)


def _page(db: Database, org: str, offset: int, deleted: str = "exclude") -> list[str]:
    with db.transaction() as s:
        return repo.list_resources(s, org, repo.ResourceFilters(deleted=deleted), offset, 10).ids


def test_upgrade_fills_the_counts_and_the_database_keeps_them(empty_database, monkeypatch):
    db = empty_database
    migrate.upgrade(db.engine, BEFORE)
    _seed(db)
    with db.engine.begin() as conn:  # a resource written in a session whose time zone is not UTC
        _session_zone(conn)
        conn.execute(sa.insert(Resource), [{"id": _rid(20), "customer_id": ORGS[0], "storage": "local",
                                            "location": "k20", "filename": "b.png", "mimetype": "image/png",
                                            "size": 1, "status": "inbox", "created_by": "a",
                                            "created_by_id": "u", "created_at": T0 + timedelta(seconds=0.6),
                                            "deleted": False}])
    migrate.upgrade(db.engine)
    assert migrate.current_revisions(db.engine) == migrate.head_revisions(db.engine)
    _assert_counts(db)
    monkeypatch.setattr(repo, "SEEK_FROM_OFFSET", 1)
    # org 0: rows 0 (T0), 2 (T0+0.4), 20 (T0+0.6), 4 (T0+1), 6 (+6 h), 8 (+3 days); live, newest first
    assert _page(db, ORGS[0], 1) == [_rid(6), _rid(4), _rid(20), _rid(2), _rid(0)]
    assert _page(db, ORGS[0], 4) == [_rid(2), _rid(0)]
    assert _page(db, ORGS[1], 1, "include") == [_rid(5), _rid(3), _rid(1)]

    with db.transaction() as s:  # ORM insert, soft delete, restore, a moved creation time
        s.add(_resource(21, ORGS[1], T0 + timedelta(days=1)))
        repo.mark_deleted([s.get(Resource, _rid(0))], True, "a", T0)
        repo.mark_deleted([s.get(Resource, _rid(3))], False, None, None)
        s.get(Resource, _rid(2)).created_at = T0 - timedelta(days=2)
    _assert_counts(db)
    with db.engine.begin() as conn:  # raw statements of several rows each, in another time zone
        _session_zone(conn)
        conn.execute(sa.update(Resource).where(Resource.customer_id == ORGS[1]).values(deleted=True))
        conn.execute(sa.update(Resource).where(Resource.id.in_([_rid(4), _rid(6)]))
                     .values(created_at=T0 + timedelta(minutes=1)))
        conn.execute(sa.update(Resource).values(size=2))  # counted columns unchanged: nothing moves
        conn.execute(sa.delete(Resource).where(Resource.id.in_([_rid(8), _rid(20), _rid(5)])))
    _assert_counts(db)
    assert _page(db, ORGS[0], 1) == [_rid(4), _rid(2)]
    with db.engine.begin() as conn:
        conn.execute(sa.delete(Resource))
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM resource_time_counts")).scalar() == 0


def test_downgrade_drops_the_counts_and_the_triggers(empty_database):
    migrate.upgrade(empty_database.engine)
    command.downgrade(migrate.alembic_config(empty_database.engine), BEFORE)
    with empty_database.engine.connect() as conn:
        assert "resource_time_counts" not in sa.inspect(conn).get_table_names()
    _seed(empty_database)  # inserts work without the table (no trigger left behind)
    migrate.upgrade(empty_database.engine)  # and up again, counting what was inserted meanwhile
    assert migrate.current_revisions(empty_database.engine) == migrate.head_revisions(empty_database.engine)
    _assert_counts(empty_database)

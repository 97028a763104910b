"""Revision 0019_listing_tags on a database with tagged resources: every tag row gets its
resource's organization, deleted flag and creation time, and the database keeps them in step
afterwards (inserts, soft delete and restore, a tag moved to another resource), on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import select

from datamint.server.auth.models import Organization, User
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource, ResourceTag

#: The revision before 0019_listing_tags.
BEFORE = "0017_listing"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _rid(i: int) -> str:
    return f"00000000-0000-4000-8000-0000000001{i:02d}"


def _seed(db: Database) -> list[str]:
    """Two organizations' resources (one deleted) and their tags, written as revision 0017 allowed."""
    orgs = []
    with db.transaction() as s:
        for n in range(2):
            org = Organization(id=f"00000000-0000-4000-8000-00000000000{n}", name=f"Lab {n}", created_at=T0)
            s.add(org)
            s.flush()
            s.add(User(id=f"00000000-0000-4000-8000-00000000001{n}", customer_id=org.id, email=f"u{n}@lab.test",
                       roles=["admin"], created_at=T0))
            orgs.append(org.id)
        s.flush()
        for i in range(4):
            s.add(Resource(id=_rid(i), customer_id=orgs[i // 3], storage="local", location=f"k{i}", filename="a.png",
                           mimetype="image/png", size=1, status="inbox", created_by="a", created_by_id="u",
                           created_at=T0 + timedelta(minutes=i), deleted=i == 1))
    with db.engine.begin() as conn:  # the tag table as 0017 had it (no copied columns)
        for rid, tag, position in ((_rid(0), "a", 0), (_rid(0), "b", 1), (_rid(1), "a", 0), (_rid(2), "b", 0),
                                   (_rid(3), "a", 0)):
            conn.execute(sa.text("INSERT INTO resource_tags (resource_id, tag, position) VALUES (:r, :t, :p)"),
                         {"r": rid, "t": tag, "p": position})
    return orgs


def _copies(db: Database) -> dict[tuple[str, str], tuple]:
    with db.transaction() as s:
        rows = s.execute(select(ResourceTag.resource_id, ResourceTag.tag, ResourceTag.customer_id,
                                ResourceTag.deleted, ResourceTag.created_at)).all()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def _listed(db: Database, org: str, tags: list[str], deleted: str = "exclude") -> tuple[int, list[str]]:
    with db.transaction() as s:
        page = repo.list_resources(s, org, repo.ResourceFilters(tags=tags, deleted=deleted), 0, 10)
        return page.total, page.ids


def test_upgrade_fills_the_copies_and_the_database_keeps_them(empty_database):
    migrate.upgrade(empty_database.engine, BEFORE)
    orgs = _seed(empty_database)
    migrate.upgrade(empty_database.engine)
    assert migrate.current_revisions(empty_database.engine) == migrate.head_revisions(empty_database.engine)
    at = [T0 + timedelta(minutes=i) for i in range(4)]
    assert _copies(empty_database) == {
        (_rid(0), "a"): (orgs[0], False, at[0]), (_rid(0), "b"): (orgs[0], False, at[0]),
        (_rid(1), "a"): (orgs[0], True, at[1]), (_rid(2), "b"): (orgs[0], False, at[2]),
        (_rid(3), "a"): (orgs[1], False, at[3])}
    assert _listed(empty_database, orgs[0], ["a", "b"]) == (2, [_rid(2), _rid(0)])
    assert _listed(empty_database, orgs[0], ["a", "b"], "only") == (1, [_rid(1)])
    assert _listed(empty_database, orgs[1], ["a", "b"]) == (1, [_rid(3)])

    # soft delete and restore reach the tag rows in the same statement
    with empty_database.transaction() as s:
        repo.mark_deleted([s.get(Resource, _rid(0))], True, "a", T0)
        repo.mark_deleted([s.get(Resource, _rid(1))], False, None, None)
    copies = _copies(empty_database)
    assert copies[(_rid(0), "a")][1] is True and copies[(_rid(0), "b")][1] is True
    assert copies[(_rid(1), "a")][1] is False
    assert _listed(empty_database, orgs[0], ["a", "b"]) == (2, [_rid(2), _rid(1)])

    # a new tag row (ORM, as the service writes it) and a raw insert both get their resource's values
    with empty_database.transaction() as s:
        repo.insert_tags(s, _rid(3), ["c"])
    with empty_database.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO resource_tags (resource_id, tag, position) VALUES (:r, 'c', 0)"),
                     {"r": _rid(0)})
        conn.execute(sa.text("UPDATE resource_tags SET resource_id = :to WHERE resource_id = :r AND tag = 'b'"),
                     {"to": _rid(1), "r": _rid(2)})
    copies = _copies(empty_database)
    assert copies[(_rid(3), "c")] == (orgs[1], False, at[3])
    assert copies[(_rid(0), "c")] == (orgs[0], True, at[0])
    assert copies[(_rid(1), "b")] == (orgs[0], False, at[1])
    with empty_database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM resource_tags WHERE customer_id IS NULL OR deleted IS NULL "
                                    "OR created_at IS NULL")).scalar() == 0


def test_downgrade_drops_the_copies_and_the_triggers(empty_database):
    migrate.upgrade(empty_database.engine)
    from alembic import command

    command.downgrade(migrate.alembic_config(empty_database.engine), BEFORE)
    with empty_database.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("resource_tags")}
    assert columns == {"resource_id", "tag", "position"}
    migrate.upgrade(empty_database.engine)  # and up again
    assert migrate.current_revisions(empty_database.engine) == migrate.head_revisions(empty_database.engine)

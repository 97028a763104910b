"""Alembic migrations: from an empty database to the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from datamint.server.db import migrate
from datamint.server.db.models import metadata
from datamint.server.db.session import Database

from conftest import database_url_for


def test_history_is_linear_with_one_head(empty_database):
    heads = migrate.head_revisions(empty_database.engine)
    assert len(heads) == 1, f"several migration heads (add a merge revision): {sorted(heads)}"


def test_upgrade_from_empty_reaches_every_head(empty_database):
    engine = empty_database.engine
    assert migrate.current_revisions(engine) == set()
    migrate.upgrade(engine)
    assert migrate.current_revisions(engine) == migrate.head_revisions(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"organizations", "users", "api_keys", "projects", "datasets", "project_members"} <= tables


def test_migrated_schema_matches_the_models(empty_database):
    migrate.upgrade(empty_database.engine)
    with empty_database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_twice_changes_nothing(empty_database):
    migrate.upgrade(empty_database.engine)
    before = migrate.current_revisions(empty_database.engine)
    migrate.upgrade(empty_database.engine)
    assert migrate.current_revisions(empty_database.engine) == before


def test_times_are_read_back_in_utc(empty_database):
    from datetime import datetime, timedelta, timezone

    from datamint.server.auth.models import Organization

    migrate.upgrade(empty_database.engine)
    paris = timezone(timedelta(hours=2))
    written = datetime(2026, 1, 31, 14, 0, tzinfo=paris)
    with empty_database.transaction() as session:
        org = Organization(name="tz", created_at=written)
        session.add(org)
    with empty_database.transaction() as session:
        read = session.get(Organization, org.id).created_at
        found = session.scalar(sa.select(Organization.id).where(Organization.created_at == written))
    assert read == written and read.utcoffset() == timedelta(0) and read.hour == 12
    assert found == org.id


def test_sqlite_runs_in_wal_mode(tmp_path, request):
    db = Database(database_url_for("sqlite", request, tmp_path))
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()

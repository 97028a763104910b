"""Deep ``offset`` pages of the listing: ``resource_time_counts`` holds how many resources of an
organization (deleted or not) were created in each UTC day, minute and second, so a deep offset
finds the second its page starts in by summing a few hundred counts instead of walking the
listing index over every row before it (``resources.positions``).

The database keeps the counts, in the writing transaction, whatever code writes:

* PostgreSQL: statement-level ``AFTER`` triggers on ``resources`` (``INSERT``, ``DELETE``,
  ``UPDATE``) read the statement's transition tables and apply one grouped upsert
  (``ON CONFLICT DO UPDATE SET n = n + excluded.n``) in key order, so the writers of one
  statement each lock the count rows in one order; counts that fall to 0 are deleted. An
  ``UPDATE`` counts its old rows out and its new rows in (rows whose ``customer_id``, ``deleted``
  and ``created_at`` did not change cancel out: nothing is written or locked). A statement that
  takes counts out of buckets (delete, soft delete, restore) first takes its organizations'
  advisory transaction locks, in order, so two such transactions, which may lock count rows
  statement by statement in different orders, cannot deadlock. Buckets are truncated in UTC
  (``date_trunc(unit, created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'``), whatever the
  session's ``TimeZone``.
* SQLite (one writer at a time): row-level triggers with the same upserts. ``created_at`` is
  stored as the text ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's format, UTC): a bucket is its
  first 10, 16 or 19 characters completed to that format, so bucket boundaries fall where the
  listing's text order puts them.

Existing resources are counted here. SQLite drops a table's triggers when Alembic's batch mode
rebuilds it: a later migration that rebuilds ``resources`` on SQLite must create them again
(:func:`create_triggers`); ``tests/server/test_migration_listing_positions.py`` checks they work at
head.

Revision ID: 0021_listing_positions
Revises: 0020_listing_tag_order
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_listing_positions"
down_revision = "0020_listing_tag_order"
branch_labels = None
depends_on = None

TABLE = "resource_time_counts"
#: Trigger names (and on PostgreSQL the function's), checked by the migration tests.
TRIGGER = "resources_time_counts"
#: Levels: their number in ``level`` and their unit (PostgreSQL ``date_trunc``; SQLite: the
#: length of the text prefix kept and the text completing it).
LEVELS = ((0, "day", 10, " 00:00:00.000000"), (1, "minute", 16, ":00.000000"), (2, "second", 19, ".000000"))

_PG_LEVELS = "(VALUES " + ", ".join(f"({level}, '{unit}')" for level, unit, _, _ in LEVELS) + ") AS l(level, unit)"


def _pg_upsert(deltas: str) -> str:
    """Add the counts of ``deltas`` (rows ``customer_id, deleted, created_at, n``) to every level."""
    return f"""INSERT INTO {TABLE} AS c (customer_id, deleted, level, bucket, n)
    SELECT d.customer_id, d.deleted, l.level, date_trunc(l.unit, d.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           sum(d.n)
    FROM ({deltas}) AS d CROSS JOIN {_PG_LEVELS}
    GROUP BY 1, 2, 3, 4 HAVING sum(d.n) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (customer_id, deleted, level, bucket) DO UPDATE SET n = c.n + excluded.n"""


_PG_EMPTIED = f"""DELETE FROM {TABLE} c USING (SELECT DISTINCT customer_id, deleted, created_at FROM old_rows) AS d
    CROSS JOIN {_PG_LEVELS}
    WHERE c.n = 0 AND c.customer_id = d.customer_id AND c.deleted = d.deleted AND c.level = l.level
      AND c.bucket = date_trunc(l.unit, d.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"""

_PG_REMOVED = "SELECT customer_id, deleted, created_at, -1 AS n FROM old_rows"
_PG_MOVED = f"{_PG_REMOVED} UNION ALL SELECT customer_id, deleted, created_at, 1 FROM new_rows"


def _pg_lock_moved(deltas: str) -> str:
    """Take the advisory lock of each organization whose counts ``deltas`` change, in order
    (``FOUND`` is false when they change none)."""
    return f"""PERFORM pg_advisory_xact_lock(hashtextextended('{TABLE} ' || moved.customer_id, 0))
        FROM (SELECT DISTINCT d.customer_id FROM ({deltas}) AS d GROUP BY d.customer_id, d.deleted, d.created_at
              HAVING sum(d.n) <> 0 ORDER BY 1) AS moved"""


_PG = [
    # Counts moved out of their buckets (a delete, a soft delete, a restore) first take their
    # organization's advisory lock: two transactions moving counts statement by statement (the ORM
    # updates row by row) would otherwise lock the same count rows in different orders and
    # deadlock. Inserts take none: they add to the buckets of the present, in key order.
    f"""CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_upsert("SELECT customer_id, deleted, created_at, 1 AS n FROM new_rows")};
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_lock_moved(_PG_REMOVED)};
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        {_pg_upsert(_PG_REMOVED)};
    ELSE
        {_pg_lock_moved(_PG_MOVED)};
        IF NOT FOUND THEN  -- an UPDATE of other columns: no count changes
            RETURN NULL;
        END IF;
        {_pg_upsert(_PG_MOVED)};
    END IF;
    {_PG_EMPTIED};
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER {TRIGGER}_insert AFTER INSERT ON resources REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()""",
    f"""CREATE TRIGGER {TRIGGER}_delete AFTER DELETE ON resources REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()""",
    # PostgreSQL takes no column list on a trigger with transition tables: every UPDATE statement
    # fires it; rows whose counted columns did not change cancel out (nothing locked or written).
    f"""CREATE TRIGGER {TRIGGER}_update AFTER UPDATE ON resources
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()""",
]


def _sqlite_bucket(row: str, length: int, rest: str) -> str:
    return f"substr({row}.created_at, 1, {length}) || '{rest}'"


def _sqlite_add(row: str, n: int) -> str:
    values = ", ".join(f"({row}.customer_id, {row}.deleted, {level}, {_sqlite_bucket(row, length, rest)}, {n})"
                       for level, _, length, rest in LEVELS)
    return (f"INSERT INTO {TABLE} (customer_id, deleted, level, bucket, n) VALUES {values}\n"
            f"    ON CONFLICT (customer_id, deleted, level, bucket) DO UPDATE SET n = n + excluded.n;")


def _sqlite_remove(row: str) -> str:
    emptied = "\n    ".join(
        f"DELETE FROM {TABLE} WHERE customer_id = {row}.customer_id AND deleted = {row}.deleted AND level = {level} "
        f"AND bucket = {_sqlite_bucket(row, length, rest)} AND n = 0;" for level, _, length, rest in LEVELS)
    return f"{_sqlite_add(row, -1)}\n    {emptied}"


_SQLITE = [
    f"""CREATE TRIGGER {TRIGGER}_insert AFTER INSERT ON resources FOR EACH ROW BEGIN
    {_sqlite_add("NEW", 1)}
END""",
    f"""CREATE TRIGGER {TRIGGER}_delete AFTER DELETE ON resources FOR EACH ROW BEGIN
    {_sqlite_remove("OLD")}
END""",
    f"""CREATE TRIGGER {TRIGGER}_update AFTER UPDATE OF customer_id, deleted, created_at ON resources FOR EACH ROW
WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.deleted IS NOT NEW.deleted OR OLD.created_at IS NOT NEW.created_at
BEGIN
    {_sqlite_remove("OLD")}
    {_sqlite_add("NEW", 1)}
END""",
]


def _run(statement: str) -> None:
    """Run SQL as written (its ``:00`` are text, not bind parameters)."""
    op.get_bind().exec_driver_sql(statement)


def create_triggers() -> None:
    """The triggers that keep the counts (see the module docstring)."""
    for statement in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        _run(statement)


def fill_counts() -> None:
    """Count the existing resources (the migration's data step)."""
    if op.get_bind().dialect.name == "postgresql":
        _run(_pg_upsert("SELECT customer_id, deleted, created_at, 1 AS n FROM resources"))
        return
    for level, _, length, rest in LEVELS:
        bucket = _sqlite_bucket("resources", length, rest)
        _run(f"INSERT INTO {TABLE} (customer_id, deleted, level, bucket, n) SELECT customer_id, deleted, "
                   f"{level}, {bucket}, count(*) FROM resources GROUP BY customer_id, deleted, {bucket}")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "deleted", "level", "bucket", name=f"pk_{TABLE}"),
        sqlite_with_rowid=False,
    )
    fill_counts()
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {TRIGGER}_{suffix} ON resources")
        op.execute(f"DROP FUNCTION {TRIGGER}()")
    else:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {TRIGGER}_{suffix}")
    op.drop_table(TABLE)

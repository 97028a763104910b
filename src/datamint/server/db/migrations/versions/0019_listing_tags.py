"""Tag filters at archive scale: ``resource_tags`` carries a copy of its resource's ``customer_id``,
``deleted`` and ``created_at``, so a tag filter's count and page read one index
(``customer_id, deleted, tag, created_at, resource_id``) without visiting ``resources``.

The database keeps the copies in step, in the writing transaction, whatever code writes:

* a tag row inserted (or moved to another resource) takes its resource's values: on PostgreSQL a
  ``BEFORE`` trigger reads them under ``FOR SHARE`` (a concurrent delete or restore of that
  resource waits for this transaction, or this one waits for it and reads its result); on SQLite
  (one writer at a time) an ``AFTER INSERT`` trigger writes them into the new row;
* a resource whose ``customer_id``, ``deleted`` or ``created_at`` changes (soft delete, restore)
  passes the new values to its tag rows (``AFTER UPDATE`` trigger on both).

The copied columns are nullable only because SQLite's trigger fills them after the insert;
every row has them (``resource_tags`` rows always belong to a resource). Existing rows are filled
here from their resources.

SQLite drops a table's triggers when Alembic's batch mode rebuilds it: a later migration that
rebuilds ``resources`` or ``resource_tags`` on SQLite must create them again
(:func:`create_triggers`); ``tests/server/test_migrations.py`` checks they exist at head.

Revision ID: 0019_listing_tags
Revises: 0017_listing
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_listing_tags"
down_revision = "0017_listing"
branch_labels = None
depends_on = None

INDEX = "ix_resource_tags_customer_id_deleted_tag_created_at_resource_id"
#: Trigger names (and on PostgreSQL, their functions' names), checked by the migration tests.
TAG_TRIGGER = "resource_tags_copy_resource"
RESOURCE_TRIGGER = "resources_copy_to_tags"

_PG = [
    f"""CREATE FUNCTION {TAG_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.customer_id, r.deleted, r.created_at INTO NEW.customer_id, NEW.deleted, NEW.created_at
    FROM resources r WHERE r.id = NEW.resource_id FOR SHARE;
    RETURN NEW;
END $$""",
    f"""CREATE TRIGGER {TAG_TRIGGER} BEFORE INSERT OR UPDATE OF resource_id ON resource_tags
FOR EACH ROW EXECUTE FUNCTION {TAG_TRIGGER}()""",
    f"""CREATE FUNCTION {RESOURCE_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE resource_tags SET customer_id = NEW.customer_id, deleted = NEW.deleted, created_at = NEW.created_at
    WHERE resource_id = NEW.id;
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER {RESOURCE_TRIGGER} AFTER UPDATE OF customer_id, deleted, created_at ON resources
FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id OR OLD.deleted IS DISTINCT FROM NEW.deleted
                   OR OLD.created_at IS DISTINCT FROM NEW.created_at)
EXECUTE FUNCTION {RESOURCE_TRIGGER}()""",
]

_SQLITE = [
    f"""CREATE TRIGGER {TAG_TRIGGER} AFTER INSERT ON resource_tags FOR EACH ROW BEGIN
    UPDATE resource_tags SET (customer_id, deleted, created_at) =
        (SELECT r.customer_id, r.deleted, r.created_at FROM resources r WHERE r.id = NEW.resource_id)
    WHERE rowid = NEW.rowid;
END""",
    f"""CREATE TRIGGER {TAG_TRIGGER}_moved AFTER UPDATE OF resource_id ON resource_tags FOR EACH ROW BEGIN
    UPDATE resource_tags SET (customer_id, deleted, created_at) =
        (SELECT r.customer_id, r.deleted, r.created_at FROM resources r WHERE r.id = NEW.resource_id)
    WHERE rowid = NEW.rowid;
END""",
    f"""CREATE TRIGGER {RESOURCE_TRIGGER} AFTER UPDATE OF customer_id, deleted, created_at ON resources FOR EACH ROW
WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.deleted IS NOT NEW.deleted OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE resource_tags SET customer_id = NEW.customer_id, deleted = NEW.deleted, created_at = NEW.created_at
    WHERE resource_id = NEW.id;
END""",
]


def create_triggers() -> None:
    """The triggers that keep the copied columns in step (see the module docstring)."""
    for statement in _PG if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def fill_copies() -> None:
    """Copy each existing tag row's resource values into it (the migration's data step)."""
    op.execute("UPDATE resource_tags SET (customer_id, deleted, created_at) = (SELECT r.customer_id, r.deleted, "
               "r.created_at FROM resources r WHERE r.id = resource_tags.resource_id)")


def upgrade() -> None:
    op.add_column("resource_tags", sa.Column("customer_id", sa.String(36), nullable=True))
    op.add_column("resource_tags", sa.Column("deleted", sa.Boolean(), nullable=True))
    op.add_column("resource_tags", sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    fill_copies()
    op.create_index(INDEX, "resource_tags", ["customer_id", "deleted", "tag", "created_at", "resource_id"])
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {RESOURCE_TRIGGER} ON resources")
        op.execute(f"DROP FUNCTION {RESOURCE_TRIGGER}()")
        op.execute(f"DROP TRIGGER {TAG_TRIGGER} ON resource_tags")
        op.execute(f"DROP FUNCTION {TAG_TRIGGER}()")
    else:
        for name in (RESOURCE_TRIGGER, TAG_TRIGGER, f"{TAG_TRIGGER}_moved"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index(INDEX, table_name="resource_tags")
    with op.batch_alter_table("resource_tags") as batch:
        batch.drop_column("created_at")
        batch.drop_column("deleted")
        batch.drop_column("customer_id")

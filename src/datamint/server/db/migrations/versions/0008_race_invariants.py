"""Invariants held by the database instead of read-then-write code.

* ``users``: an email is unique within its organization (was: platform-wide), so creating a user
  no longer tells one organization that an address has an account in another.
* ``api_keys``: a user's keys that are not revoked have distinct names.
* ``invitations``: at most one open (neither accepted nor revoked) invitation per organization
  and email.
* ``annotation_worklists``: at most one default worklist per project.
* ``project_resource_splits``: a resource is in at most one split of a project at a time.

Rows that would violate a new constraint are repaired first, keeping what users see: of several
active splits of a resource the newest stays (the others end when it began); of several default
worklists the oldest stays default; of several open invitations of an email the newest stays
(its link is the one handed out last; the others are revoked); keys with a duplicate name get
`` (2)``, `` (3)``... appended.

Revision ID: 0008_race_invariants
Revises: 0007_upload_duplicates
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0008_race_invariants"
down_revision = "0007_upload_duplicates"
branch_labels = None
depends_on = None

_OPEN = "accepted_at IS NULL AND revoked_at IS NULL"
_NAME_LIMIT = 200


def _where(clause: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(clause), "postgresql_where": sa.text(clause)}


def _groups(conn: sa.Connection, sql: str) -> dict[tuple, list[tuple]]:
    """Rows of ``sql`` grouped by their first two columns, in the query's order."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in conn.execute(sa.text(sql)):
        groups[(row[0], row[1])].append(tuple(row))
    return {key: rows for key, rows in groups.items() if len(rows) > 1}


def _end_duplicate_splits(conn: sa.Connection) -> None:
    sql = ("SELECT project_id, resource_id, id, created_at FROM project_resource_splits WHERE deleted_at IS NULL "
           "ORDER BY project_id, resource_id, created_at DESC, id DESC")
    for rows in _groups(conn, sql).values():
        newest = rows[0]
        for row in rows[1:]:
            conn.execute(sa.text("UPDATE project_resource_splits SET deleted_at = :at, deleted_by = :by "
                                 "WHERE id = :id"), {"at": newest[3], "by": "migration race_invariants", "id": row[2]})


def _keep_one_default_worklist(conn: sa.Connection) -> None:
    sql = ("SELECT project_id, project_id, id FROM annotation_worklists WHERE is_project_default "
           "AND project_id IS NOT NULL ORDER BY project_id, created_at, id")
    for rows in _groups(conn, sql).values():
        for row in rows[1:]:
            conn.execute(sa.text("UPDATE annotation_worklists SET is_project_default = :f WHERE id = :id"),
                         {"f": False, "id": row[2]})


def _revoke_duplicate_invitations(conn: sa.Connection) -> None:
    sql = (f"SELECT customer_id, email, id FROM invitations WHERE {_OPEN} "
           "ORDER BY customer_id, email, created_at DESC, id DESC")
    now = datetime.now(timezone.utc)
    for rows in _groups(conn, sql).values():
        for row in rows[1:]:
            conn.execute(sa.text("UPDATE invitations SET revoked_at = :at WHERE id = :id"), {"at": now, "id": row[2]})


def _rename_duplicate_keys(conn: sa.Connection) -> None:
    sql = ("SELECT user_id, name, id FROM api_keys WHERE revoked_at IS NULL AND name IS NOT NULL "
           "ORDER BY user_id, name, created_at, id")
    for (user_id, name), rows in _groups(conn, sql).items():
        taken = {n for (n,) in conn.execute(sa.text("SELECT name FROM api_keys WHERE user_id = :u AND "
                                                    "revoked_at IS NULL AND name IS NOT NULL"), {"u": user_id})}
        number = 2
        for row in rows[1:]:
            while True:
                suffix = f" ({number})"
                candidate = name[:_NAME_LIMIT - len(suffix)] + suffix
                number += 1
                if candidate not in taken:
                    break
            taken.add(candidate)
            conn.execute(sa.text("UPDATE api_keys SET name = :n WHERE id = :id"), {"n": candidate, "id": row[2]})


def upgrade() -> None:
    conn = op.get_bind()
    _end_duplicate_splits(conn)
    _keep_one_default_worklist(conn)
    _revoke_duplicate_invitations(conn)
    _rename_duplicate_keys(conn)
    # SQLite rebuilds the table to change a constraint (migrate.py runs it with foreign keys off).
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email", type_="unique")
        batch.create_unique_constraint("uq_users_customer_id_email", ["customer_id", "email"])
    op.create_index("uq_api_keys_user_id_name_active", "api_keys", ["user_id", "name"], unique=True,
                    **_where("revoked_at IS NULL"))
    op.create_index("uq_invitations_customer_id_email_open", "invitations", ["customer_id", "email"], unique=True,
                    **_where(_OPEN))
    op.create_index("uq_annotation_worklists_project_id_default", "annotation_worklists", ["project_id"],
                    unique=True, **_where("is_project_default"))
    op.create_index("uq_project_resource_splits_project_id_resource_id_active", "project_resource_splits",
                    ["project_id", "resource_id"], unique=True, **_where("deleted_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_project_resource_splits_project_id_resource_id_active", "project_resource_splits")
    op.drop_index("uq_annotation_worklists_project_id_default", "annotation_worklists")
    op.drop_index("uq_invitations_customer_id_email_open", "invitations")
    op.drop_index("uq_api_keys_user_id_name_active", "api_keys")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_customer_id_email", type_="unique")
        batch.create_unique_constraint("uq_users_email", ["email"])

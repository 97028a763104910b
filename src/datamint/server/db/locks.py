"""Hold an invariant across concurrent requests: lock rows, or serialize on a key, on both backends.

A rule such as "an organization keeps at least one admin" or "a resource is in at most one split
of a project" is read, checked, then written. Two requests doing that at once both read the old
state and both write: the rule breaks. Where a unique (or partial unique) constraint can state
the rule, the schema holds it. Where it cannot (counts, replaces, read-modify-write of JSON),
the service takes a lock *before* it reads what the rule depends on, and the lock lasts until the
request's transaction ends:

* :func:`lock_rows` / :func:`lock_row` — the rows the rule is about (the organization for its
  admins, the project for its managers and members, the resources whose tags are replaced).
  PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` (it does not block foreign-key checks of other
  requests, so inserting children of a locked row elsewhere never deadlocks), ordered by primary
  key, re-reading the rows (``populate_existing``) so the caller sees the committed state.
* :func:`serialize` — a rule without a row to lock (an email's open invitation, the content
  blobs of an organization). PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of
  the key.
* After taking a lock, the session forgets what it loaded before (pending changes are flushed
  first, then every loaded object is expired): whatever the caller reads next is read under the
  lock, even through objects it already holds.
* SQLite has one writer at a time. Both functions make the transaction that writer from this
  point on (:func:`write_lock`): ``BEGIN IMMEDIATE`` when no transaction is open (pysqlite opens
  one only before the first write, so the reads before it were not part of any), otherwise a
  statement that writes nothing but takes the write lock. Every later read sees the latest
  committed state and no other connection writes until this transaction ends.

Lock order (to keep PostgreSQL free of deadlocks): organization → project → dataset → worklist →
resources (by id) → annotations (by id); advisory keys after the rows they protect. A deadlock
or serialization failure that still happens is answered 409 by the error handler
(:mod:`datamint.server.errors`), never 500.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

T = TypeVar("T")

#: A write that changes nothing: on SQLite it makes the transaction the writer (see module docstring).
_TAKE_SQLITE_WRITE_LOCK = "UPDATE organizations SET id = id WHERE 0"


def dialect(session: Session) -> str:
    """``"sqlite"`` or ``"postgresql"``: the backend of the session's engine."""
    return session.get_bind().dialect.name


def write_lock(session: Session) -> None:
    """SQLite: make this session's transaction the database's only writer until it ends.

    A no-op on PostgreSQL (row and advisory locks do the work there). Call it before reading the
    state an invariant depends on; values read before the call may be stale.
    """
    if dialect(session) != "sqlite":
        return
    connection = session.connection()
    raw = connection.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql(_TAKE_SQLITE_WRITE_LOCK)
    _forget_loaded(session)


def _forget_loaded(session: Session) -> None:
    """Flush pending changes, then expire every loaded object so it is read again under the lock."""
    session.flush()
    session.expire_all()


def lock_rows(session: Session, entity: type[T], ids: Sequence[Any]) -> list[T]:
    """Lock the rows of ``entity`` with these primary keys until the transaction ends.

    Returns:
        The rows that exist, ordered by primary key, freshly read (ORM objects already in the
        session are refreshed with the committed values).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    key = entity.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    stmt = select(entity).where(key.in_(wanted)).order_by(key).execution_options(populate_existing=True)
    if dialect(session) == "postgresql":
        _forget_loaded(session)  # everything read after this line is read under the lock
        return list(session.scalars(stmt.with_for_update(key_share=True)))
    write_lock(session)
    return list(session.scalars(stmt))


def lock_row(session: Session, entity: type[T], id_: Any) -> T | None:
    """:func:`lock_rows` for one row; ``None`` when it does not exist."""
    found = lock_rows(session, entity, [id_])
    return found[0] if found else None


def advisory_key(*parts: object) -> int:
    """The signed 64-bit advisory-lock key of ``parts`` (stable across processes and versions)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def serialize(session: Session, *key: object) -> None:
    """Let one transaction at a time past this point for ``key`` (until the transaction ends).

    Example: ``serialize(session, "invitation", customer_id, email_key(email))`` before looking for
    the open invitation of an email and replacing or creating it.
    """
    if dialect(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(*key)})
        _forget_loaded(session)
    else:
        write_lock(session)

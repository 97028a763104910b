"""Engine and session factory for SQLite (WAL) and PostgreSQL, behind one :class:`Database`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from datamint.server.common.files import PRIVATE_FILE, chmod_quietly, private_dir
from datamint.server.db import unit_of_work, values


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLite's own upper() and lower() fold ASCII letters only: upper('Müller') is 'MüLLER', so a
    # case-insensitive match of a name or an email with other letters found nothing on SQLite and
    # found it on PostgreSQL. Python's folding (the one the queries apply to their values) replaces them.
    dbapi_connection.create_function("upper", 1, _unicode_upper, deterministic=True)
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_upper(value: Any) -> Any:
    return _fold(value, str.upper)


def _unicode_lower(value: Any) -> Any:
    return _fold(value, str.lower)


def _fold(value: Any, case: Any) -> Any:
    """``case(value)`` character by character, as PostgreSQL folds: a character whose folding
    is longer (ß -> SS, İ -> i̇) is kept, so that ``?`` still matches it as one character."""
    if not isinstance(value, str):
        return value
    folded = case(value)
    if len(folded) == len(value):
        return folded
    return "".join(f if len(f := case(ch)) == 1 else ch for ch in value)


def _private_sqlite_file(path: Path) -> None:
    """Create the SQLite file readable by the server's user only (``0600``; SQLite gives its WAL
    and shared-memory files the same mode), or make an existing one so."""
    if not path.parent.exists():
        private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if name.exists() and name.stat().st_mode & 0o077:
            chmod_quietly(name, PRIVATE_FILE)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the settings each backend needs.

    SQLite gets WAL journaling, foreign keys and a generous busy timeout; its file is created
    (with its parent folder) readable by the server's user only. PostgreSQL URLs given as
    ``postgresql://`` use psycopg 3. On both, errors never
    carry the statement's parameters (``hide_parameters``: they may hold password hashes or
    patient data, and errors are logged), and every statement's parameters are checked against
    what both databases can hold (:mod:`datamint.server.db.values`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(Path(parsed.database))
        # Enough pooled connections for every request thread: an overflow connection is closed on
        # return and reopening one (with its PRAGMAs) under concurrent uploads cost more than the queries.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=40, max_overflow=20, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)
    values.install(engine)
    return engine


class Database:
    """One engine and its session factory.

    Args:
        url: SQLAlchemy database URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        unit_of_work.install(self._factory)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """The factory every session comes from (event listeners attach here)."""
        return self._factory

    def session(self) -> Session:
        """A new session; the caller commits and closes it."""
        return self._factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise (a unit of
        work: :func:`~datamint.server.db.unit_of_work.after_commit` callbacks run after the commit)."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

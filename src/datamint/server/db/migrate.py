"""Apply the Alembic migrations shipped inside the package.

Several server processes may start at once against one PostgreSQL: the upgrade runs under a
PostgreSQL advisory lock so only one of them migrates, the others wait and find nothing to do.

SQLite changes a table's constraints by rebuilding it (copy, drop, rename). With foreign keys
enforced, dropping the old table would first delete every row that references it (``ON DELETE
CASCADE``), so SQLite migrations run with foreign keys off, as SQLite's documentation prescribes,
and the references are checked (``PRAGMA foreign_key_check``) before the connection is used again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class _QuietAlembic(logging.Filter):
    """Drops Alembic's start-up chatter ("Context impl SQLiteImpl.", "Will assume non-transactional
    DDL.") at every start; the lines naming each migration applied stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


_QUIET = _QuietAlembic()


def _quiet() -> None:
    logging.getLogger("alembic.runtime.migration").addFilter(_QUIET)  # added once: the same object
_ADVISORY_LOCK_KEY = 0x646D6967  # "dmig"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of ``engine``'s database up to ``revision`` (the one head by default)."""
    cfg = alembic_config(engine)
    _quiet()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
                conn.commit()
        return
    with engine.connect() as conn:
        _upgrade_sqlite(cfg, conn, revision)


def _upgrade_sqlite(cfg: Config, conn: Connection, revision: str) -> None:
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside any transaction, so it takes effect
    try:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the migration left {len(broken)} rows with broken references, e.g. {broken[:3]}")
    finally:
        conn.rollback()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at (empty for a fresh database)."""
    _quiet()
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def head_revisions(engine: Engine) -> set[str]:
    """The newest revisions shipped with this version of the package."""
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())

"""Removes the blobs of uploads that never got their resource row (the server died in between).

Every upload commits an :class:`~datamint.server.resources.models.UploadIntent` before storing its
blob and deletes it together with inserting the resource row, so an intent older than the longest
plausible blob write marks an orphan. :meth:`UploadJanitor.sweep` runs when the application starts
and, at most every ``interval`` seconds, alongside uploads. On SQLite it also refreshes the query
planner's statistics (a sampled ``ANALYZE``): without them SQLite may walk the listing's ordering
index instead of the index of a selective filter (a 10 ms listing then takes 150 ms at 100k rows).
It is safe with several server processes: deleting a blob or an intent twice is harmless, and a
blob whose resource row exists is never deleted.

A server killed while it received a large body also leaves its spool file (``*.part`` in the
spool folder, see ``resources.receive``); the sweep deletes the ones older than ``max_age`` (a
live upload writes to its spool file continuously, so its modification time stays recent).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

from sqlalchemy import delete

from datamint.server.db import locks
from datamint.server.db.base import utcnow
from datamint.server.db.session import Database
from datamint.server.resources import repository as repo
from datamint.server.resources.models import UploadIdempotency
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.resources")


class UploadJanitor:
    """Deletes orphan upload blobs and their intents.

    Args:
        database: The server's database.
        store: The server's blob store.
        max_age: Age after which an intent is considered abandoned.
        interval: Minimum seconds between two sweeps triggered by :meth:`maybe_sweep`.
        spool_folder: Where uploads spool their bodies; its ``*.part`` files older than ``max_age``
            are deleted by each sweep. ``None``: no spool folder to clean.
        idempotency_ttl: Upload idempotency keys older than this are forgotten (kept forever when
            ``None``).
    """

    def __init__(self, database: Database, store: BlobStore, max_age: timedelta, interval: float,
                 spool_folder: str | None = None, idempotency_ttl: timedelta | None = None) -> None:
        self.database = database
        self.idempotency_ttl = idempotency_ttl
        self.store = store
        self.max_age = max_age
        self.interval = interval
        self.spool_folder = spool_folder
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def sweep(self) -> int:
        """Delete the blobs and intents of abandoned uploads; returns how many were removed."""
        removed = 0
        with self.database.transaction() as session:
            locks.serialize(session, "upload-janitor")  # several workers may sweep at once
            for intent in repo.stale_intents(session, utcnow() - self.max_age):
                if not repo.resource_exists(session, intent.id):
                    self.store.delete(intent.blob_key)
                    removed += 1
                session.delete(intent)
            if self.idempotency_ttl is not None:  # upload idempotency keys past their lifetime
                session.execute(delete(UploadIdempotency).where(
                    UploadIdempotency.created_at < utcnow() - self.idempotency_ttl))
        if removed:
            _LOG.warning("removed %d orphan upload blob(s) left by an interrupted upload", removed)
        spooled = self._remove_stale_spool_files()
        if spooled:
            _LOG.warning("removed %d spool file(s) left by an interrupted upload", spooled)
        if self.database.dialect == "sqlite":
            with self.database.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA analysis_limit=10000")
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        self._last = time.monotonic()
        return removed

    def _remove_stale_spool_files(self) -> int:
        if self.spool_folder is None or not os.path.isdir(self.spool_folder):
            return 0
        cutoff = time.time() - self.max_age.total_seconds()
        removed = 0
        for entry in os.scandir(self.spool_folder):
            try:
                if entry.name.endswith(".part") and entry.is_file(follow_symlinks=False) \
                        and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # another process removed it first
        return removed

    def due(self) -> bool:
        """Whether the next :meth:`maybe_sweep` would sweep."""
        return time.monotonic() - self._last >= self.interval

    def maybe_sweep(self) -> None:
        """Sweep when the last sweep is older than ``interval`` (never blocks on another sweep)."""
        if time.monotonic() - self._last < self.interval or not self._lock.acquire(blocking=False):
            return
        try:
            self.sweep()
        except Exception:  # housekeeping must never fail an upload
            _LOG.exception("orphan upload sweep failed; it will be retried")
        finally:
            self._lock.release()

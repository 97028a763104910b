"""``datamint server worker``: a process that runs jobs from the Redis queue (the scaled-out shape).

Start any number of them, on any host that reaches the same database, blob store and Redis as the
server (``DATAMINT_SERVER_DATABASE_URL``, ``DATAMINT_SERVER_STORAGE_URL``,
``DATAMINT_SERVER_QUEUE_URL``). Each runs ``--threads`` jobs at once and the lease sweeper; ``kill
-9`` of one costs the jobs it was running one attempt each, which another worker re-runs once
their lease expires (``job_lease_s``). SIGTERM or Ctrl-C stops it gracefully: running jobs go back
to the queue at once.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Sequence

from datamint.server import app as _app  # noqa: F401 - importing the app registers every area's job kinds
from datamint.server.config import Settings
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.jobs import registry
from datamint.server.jobs.runtime import JobRuntime
from datamint.server.models import environments, hosting
from datamint.server.models.mlflow_backend import backend_for
from datamint.server.storage import make_blob_store

_LOG = logging.getLogger("datamint.server.worker")


class WorkerConfigError(Exception):
    """The worker cannot start with these settings (the message says what to set)."""


def build(settings: Settings, imports: Sequence[str] = ()) -> JobRuntime:
    """The runtime of a worker process: every job kind imported, the schema current, nothing started.

    Args:
        settings: Server settings; ``queue_url`` must name the Redis queue.
        imports: Extra modules that register job kinds (plug-ins).

    Raises:
        WorkerConfigError: No queue URL, or a module cannot be imported.
    """
    if not settings.queue_url:
        raise WorkerConfigError("A separate worker needs the Redis queue: set DATAMINT_SERVER_QUEUE_URL="
                                "redis://host:6379/0 for the server and its workers (without it the server runs "
                                "its jobs itself)")
    for module in imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise WorkerConfigError(f"Cannot import {module!r} ({exc}); is it on PYTHONPATH?") from exc
    if not settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
        raise WorkerConfigError(f"Unsupported queue URL {settings.queue_url!r}: use redis://host:6379/0")
    database = Database(settings.resolved_database_url)
    migrate.upgrade(database.engine)
    store = make_blob_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url)

    backend_for(settings.resolved_database_url, store, settings.data_dir, settings.mlflow_database_url)
    environments.configure(database.url, settings.resolved_model_envs_dir)
    return JobRuntime(database, store, settings)


def run(settings: Settings, threads: int, imports: Sequence[str] = ()) -> None:
    """Run a worker until SIGTERM/SIGINT (blocking)."""
    runtime = build(settings, imports)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime.start(threads)
    _LOG.info("worker %s: %d thread(s) on %s; kinds: %s", runtime.worker_id, threads,
              settings.queue_url, ", ".join(registry.names()))
    try:
        stop.wait()
    finally:
        runtime.stop()
        hosting.stop_all()
        runtime.database.dispose()

"""What the benchmarks share: a fresh PostgreSQL database for one run, a server in a thread, the
model benchmarks' project with one image, and the arguments and order of the A/B comparisons of
source trees.

Imported by the scripts next to it (``sys.path.insert(0, str(Path(__file__).parent))``, then
``import _common``), as ``ingest_ab.py`` imports ``ingest``.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _admin_url(admin_url: str) -> Any:
    """``admin_url`` parsed, with psycopg (3) as the driver of a bare ``postgresql://`` URL."""
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def _execute(admin_url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_admin_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def create_database(admin_url: str, prefix: str = "dm_bench") -> tuple[str, str]:
    """Create an empty PostgreSQL database on ``admin_url``'s server.

    Args:
        admin_url: A database URL of that server (the new database sits beside its database).
        prefix: The start of the new database's name (a random suffix follows).

    Returns:
        The new database's URL (with its password) and its name, for :func:`drop_database`.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _execute(admin_url, f'CREATE DATABASE "{name}"')
    return _admin_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database made by :func:`create_database`, closing the connections still open to it."""
    _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(admin_url: str, prefix: str = "dm_bench") -> Iterator[str]:
    """A new empty PostgreSQL database's URL for the ``with`` block (see :func:`create_database`),
    dropped when it ends."""
    url, name = create_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def serve_in_thread(app: Any, **config: Any) -> tuple[str, Any, threading.Thread]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a daemon thread, once it has started.

    Args:
        app: The app.
        config: More ``uvicorn.Config`` settings (``lifespan="on"``, ...); the log level is
            ``warning`` and access logs are off unless given.

    Returns:
        Its URL, the ``uvicorn.Server`` (set ``should_exit`` to stop it) and its thread.
    """
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **{"log_level": "warning", "access_log": False, **config}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def image_project(url: str, key: str, folder: Path, description: str) -> tuple[Any, Any, str, Path]:
    """A new project holding one 64×64 PNG (``folder/image.png``) on the server at ``url``, with
    MLflow pointed at that server and ``datamint.mlflow`` at the project (the model benchmarks' start).

    Returns:
        The SDK client, the project, the image's resource id and its path.
    """
    import numpy as np
    from PIL import Image

    from datamint import Api

    api = Api(url, key)
    project = api.projects.create(f"bench-{uuid.uuid4().hex[:6]}", description)
    path = Path(folder) / "image.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(path)
    resource = api.resources.upload_resource(str(path))
    api.projects.add_resources([resource], project)
    os.environ.update(MLFLOW_TRACKING_URI=url, MLFLOW_TRACKING_TOKEN=key, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    import datamint.mlflow as dm

    dm.set_project(project)
    return api, project, resource, path


def ab_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of an A/B benchmark of source trees: the trees, and ``--rounds`` (the script
    adds its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("trees", nargs="+", help="source folders (each holding the datamint package)")
    parser.add_argument("--rounds", type=int, default=3)
    return parser


def ab_order(trees: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """``(round, tree)`` in the order an A/B runs them: each tree once a round, the order rotated
    every round (no tree always runs first, in the same minutes as the others)."""
    for r in range(rounds):
        shift = r % len(trees)
        for tree in trees[shift:] + trees[:shift]:
            yield r, tree

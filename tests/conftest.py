"""Shared fixtures: a real server (uvicorn in a thread, real database) per backend, and isolation
of the SDK's config file and cache from the developer's own.

Backends: ``DATAMINT_TEST_BACKENDS`` (comma-separated, default ``sqlite,postgresql``). PostgreSQL
is the machine's server at ``DATAMINT_TEST_PG_URL`` (default
``postgresql+psycopg://root@127.0.0.1:5432/test``); each test session creates a fresh database
there and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from datamint.server.db import migrate
from datamint.server.db.session import Database
from fixtures.files import make_ct_slice, write_video
from fixtures.names import unique  # noqa: F401 - tests import it from here
from fixtures.projects import upload_pngs

# Servers the tests start (in-process or as subprocesses) prepare MLflow's stores only when a test
# uses them (tests/e2e/models), not in the background at every start.
os.environ.setdefault("DATAMINT_SERVER_MLFLOW_WARMUP", "false")

PG_ADMIN_URL = os.environ.get("DATAMINT_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
KNOWN_BACKENDS = ("sqlite", "postgresql")


def _backends(value: str) -> list[str]:
    """The backends named by ``DATAMINT_TEST_BACKENDS``; an empty or unknown one is a usage error
    (an empty list would skip every server test and still exit 0)."""
    names = [b.strip() for b in value.split(",") if b.strip()]
    unknown = [b for b in names if b not in KNOWN_BACKENDS]
    if not names or unknown:
        raise pytest.UsageError(
            f"DATAMINT_TEST_BACKENDS={value!r} names {'no backend' if not names else f'unknown {unknown}'}; "
            f"use a comma-separated subset of {', '.join(KNOWN_BACKENDS)} (or unset it for both)")
    return names


BACKENDS = _backends(os.environ.get("DATAMINT_TEST_BACKENDS", ",".join(KNOWN_BACKENDS)))
#: A server-facing test runs on every backend unless it says why one is enough (what it proves does
#: not involve the database) and marks itself with ``one_backend``: it runs on the first one selected.
one_backend = pytest.mark.parametrize("server", BACKENDS[:1], indirect=True)


@pytest.fixture(autouse=True)
def _isolated_sdk_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the SDK's config file and cache at a temporary folder for every test; remove it after
    (the SDK caches downloaded resources there: kept, they add up over 2,000 tests)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("DATAMINT_DATA_DIR", str(home / "datamint"))
    monkeypatch.delenv("DATAMINT_API_KEY", raising=False)
    monkeypatch.delenv("DATAMINT_API_URL", raising=False)
    # Api() sets MLflow's variables for the process (wire §1.2); each test starts without them.
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_WORKSPACE", "DATAMINT_PROJECT_ID",
                 "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@contextmanager
def fresh_pg_database(options: str = "") -> Iterator[str]:
    """Create an empty PostgreSQL database; yield its SQLAlchemy URL; drop it afterwards.

    ``options`` are added to its ``CREATE DATABASE`` (``TEMPLATE template0 LOCALE_PROVIDER icu
    ICU_LOCALE 'en-US'``: the collation of a server installed with an en_US locale).
    """
    import sqlalchemy as sa

    name = f"dm_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" {options}'.rstrip()))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it "
                    "(see .ci/run) or set DATAMINT_TEST_BACKENDS=sqlite")
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database shared by this session's live server; its SQLAlchemy URL."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test only."""
    with fresh_pg_database() as url:
        yield url


def database_url_for(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """A database URL of ``backend`` for one server."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'datamint.sqlite3'}"
    return request.getfixturevalue("pg_database")


@contextmanager
def own_database(backend: str, folder: Path) -> Iterator[str]:
    """A database of ``backend`` for one server only (a server that bootstraps its own first
    organization must not share the session's PostgreSQL database with the main fixture)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'datamint.sqlite3'}"
    else:
        with fresh_pg_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of each backend with no tables yet (migration tests), for one test only."""
    with own_database(request.param, tmp_path) as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture
def migrated_database(empty_database: Database) -> Database:
    """A database of each backend migrated to the head revision, for one test only."""
    migrate.upgrade(empty_database.engine)
    return empty_database


@dataclass
class LiveServer:
    """A running server: its URL, the admin key of its first organization, and its internals."""

    url: str
    admin_key: str
    app: object
    backend: str
    data_dir: Path

    @property
    def database(self):  # type: ignore[no-untyped-def]
        return self.app.state.database  # type: ignore[attr-defined]

    def new_org(self, name: str | None = None) -> str:
        """Create another organization (as the CLI's create-org does); its admin's API key."""
        from datamint.server.auth.service import create_organization

        name = name or f"org-{uuid.uuid4().hex[:8]}"
        with self.database.transaction() as session:
            _, _, key = create_organization(session, name, f"admin-{uuid.uuid4().hex[:8]}@{name}.test")
        return key

    def new_user(self, roles: list[str] | None = None, admin_key: str | None = None) -> tuple[str, str]:
        """Create a user in the organization of ``admin_key`` (default: the first); (email, API key)."""
        from datamint.server.auth import service

        email = f"user-{uuid.uuid4().hex[:8]}@example.test"
        with self.database.transaction() as session:
            principal = service.authenticate(session, admin_key or self.admin_key)
            user = service.create_user(session, principal, email, roles=roles)
            _, key = service.issue_key(session, user)
        return email, key


def free_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port (uvicorn listens on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_in_thread(app: object, sock: socket.socket | None = None) -> tuple[str, object, threading.Thread]:
    """Serve ``app`` with uvicorn in a daemon thread, on ``sock`` or a free loopback port."""
    import uvicorn

    sock = sock or free_socket()
    port = sock.getsockname()[1]
    # proxy_headers=False as `datamint server run` does: the app reads X-Forwarded-For itself
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def start_server(
    backend: str, request: pytest.FixtureRequest, folder: Path, wrap: Callable[[object], object] | None = None,
    **settings: object
) -> Iterator[LiveServer]:
    """Start a live server on ``backend`` in ``folder``; stops it when the generator is closed.

    ``wrap(app)`` gives the ASGI application clients see (a test's middleware); ``settings``
    override the server's (``database_url=`` for a database of its own).
    """
    from datamint.server.app import create_app
    from datamint.server.config import Settings

    admin_key = f"dmk_test_{uuid.uuid4().hex}"
    sock = free_socket()  # the settings say where the server listens (links it builds point there)
    options = {"data_dir": folder, "database_url": database_url_for(backend, request, folder),
               "admin_api_key": admin_key, "auth_failures_per_minute": 100000, "mlflow_warmup": False,
               "host": "127.0.0.1", "port": sock.getsockname()[1],
               # every server of the session shares one folder of model environments: each is built once per
               # session, and servers on one database (the environments' folder is known per database URL in
               # the process) agree on it
               "model_envs_dir": request.getfixturevalue("tmp_path_factory").getbasetemp() / "model-envs",
               **settings}
    app = create_app(Settings(**options))
    url, server, thread = serve_in_thread(wrap(app) if wrap else app, sock)
    try:
        yield LiveServer(url=url, admin_key=admin_key, app=app, backend=backend, data_dir=folder)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
        app.state.database.dispose()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def session_servers(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], LiveServer]]:
    """``session_servers(backend)``: the session's live server on ``backend``, started when a test
    first needs it and stopped when the session ends.

    A session fixture parametrized by backend would be stopped and started again whenever the
    backend changes: pytest-xdist runs one test file after another (``--dist loadfile``), each on
    both backends, so that would be twice per file instead of once per session.
    """
    with ExitStack() as stack:
        started: dict[str, LiveServer] = {}

        def get(backend: str) -> LiveServer:
            if backend not in started:
                running = start_server(backend, request, tmp_path_factory.mktemp(f"server-{backend}"))
                started[backend] = next(running)
                stack.callback(running.close)
            return started[backend]

        yield get


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, session_servers: Callable[[str], LiveServer]) -> LiveServer:
    """One live server per backend for the whole session (tests isolate themselves by creating
    their own projects, users or organizations). Module-scoped so that a module's fixtures can build
    on it; the server itself lives as long as the session (:func:`session_servers`)."""
    return session_servers(request.param)


@pytest.fixture
def api(server: LiveServer):  # type: ignore[no-untyped-def]
    """The SDK, connected to the live server as the first organization's admin."""
    from datamint import Api

    client = Api(server.url, server.admin_key)
    yield client
    client.close()


@pytest.fixture
def images(api, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """Ids of three PNG resources the admin uploaded."""
    return upload_pngs(api, tmp_path, 3)


@pytest.fixture
def ct_series() -> Callable[..., list[Dataset]]:
    """Factory: ``ct_series(n=10, shuffle=True)`` → slices of one synthetic CT series, in shuffled order."""

    def build(n: int = 10, *, size: int = 32, shuffle: bool = True, seed: int = 7) -> list[Dataset]:
        study, series, frame = generate_uid(), generate_uid(), generate_uid()
        slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=size) for i in range(n)]
        if shuffle:
            order = np.random.default_rng(seed).permutation(n)
            slices = [slices[i] for i in order]
        return slices

    return build


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An MJPG .avi and an mp4v .mp4, 6 frames of 48×32 at 10 fps."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "avi": write_video(folder / "clip.avi", "MJPG"),
        "mp4": write_video(folder / "clip.mp4", "mp4v"),
    }


# -- browser tests (tests/web) -------------------------------------------------------------------
# The web server runs on SQLite only: browser tests prove what the *browser* does (pages, tools,
# geometry drawn with the mouse); the REST API underneath runs on both databases in tests/e2e, and
# a second backend would double the slowest tests of the suite for no new evidence.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def web_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on SQLite (see above for why one backend) serving the built app."""
    from datamint.server.webapp.router import STATIC_DIR

    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"The web app is not built ({STATIC_DIR} has no index.html): run `make web`")
    running = start_server("sqlite", request, tmp_path_factory.mktemp("web-server"))
    live = next(running)
    # links for other people (invitations) come from public_url, never from a request's Host
    # (docs/security.md): this server's is the port it got
    live.app.state.settings.public_url = live.url  # type: ignore[attr-defined]
    try:
        yield live
    finally:
        running.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, web_server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) pointed at the server."""
    ctx = browser.new_context(base_url=web_server.url, viewport={"width": 1280, "height": 820})
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page of a fresh profile. Uncaught script errors fail the test; console errors are printed
    (pytest shows them when a test fails)."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(f"{exc}"))
    opened.on("console", lambda msg: print(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning")
              else None)
    yield opened
    assert not errors, f"uncaught errors in the page: {errors}"

"""``datamint server run`` as a real subprocess: answers on its port, bootstraps the admin once.

The commands that keep data run on each backend (the ``backend_url`` fixture: the data folder's
SQLite file, or a PostgreSQL database of their own)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import BACKENDS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=BACKENDS)
def backend_url(request) -> str | None:
    """``None`` for the default SQLite database in the data folder; else a fresh PostgreSQL URL."""
    return None if request.param == "sqlite" else request.getfixturevalue("own_pg_database")


def _database_args(url: str | None) -> list[str]:
    return [] if url is None else ["--database-url", url]


def _start(data_dir: Path, port: int, env: dict[str, str], database_url: str | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port), "--data-dir", str(data_dir),
           *_database_args(database_url)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not answer within 60 s")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.timeout(180)
def test_run_bootstraps_once_and_keeps_data(tmp_path, _isolated_sdk_config, backend_url):
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": ""}
    env.pop("DATAMINT_SERVER_ADMIN_API_KEY")
    data_dir = tmp_path / "data"
    port = _free_port()
    url = f"http://localhost:{port}"

    first = _start(data_dir, port, env, backend_url)
    try:
        _wait_healthy(url, first)
    finally:
        out1 = _stop(first)
    match = re.search(r"(dmk_[A-Za-z0-9_-]{20,})", out1)
    assert match, out1
    key = match.group(1)
    assert url in out1

    config = yaml.safe_load((_isolated_sdk_config / "config" / "datamintapi" / "datamintapi.yaml").read_text())
    assert config == {"api_key": key, "default_api_url": url}

    second = _start(data_dir, port, env, backend_url)
    try:
        _wait_healthy(url, second)
        from datamint import Api

        api = Api()  # URL and key come from the config file the first start wrote
        project = api.projects.create("kept-across-restarts", "d")
        api.close()
    finally:
        out2 = _stop(second)
    assert "dmk_" not in out2, "the admin key must be printed only on the first start"

    third = _start(data_dir, port, env, backend_url)
    try:
        _wait_healthy(url, third)
        listed = httpx.get(f"{url}/projects", headers={"apikey": key}).json()["data"]
        assert [p["id"] for p in listed] == [project.id]
    finally:
        _stop(third)


def test_migrate_command_reports_revision(tmp_path, backend_url):
    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "datamint.cli", "server", "migrate", "--data-dir",
                               str(tmp_path / "data"), *_database_args(backend_url)],
                              capture_output=True, text=True, timeout=120)

    result = migrate()
    assert result.returncode == 0, result.stderr
    from alembic.script import ScriptDirectory

    from datamint.server.db.migrate import MIGRATIONS_DIR

    (head,) = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    assert f"Database schema created from scratch: at the newest revision, {head}" in result.stdout
    assert "revision(s)" not in result.stdout and "Context impl" not in result.stderr + result.stdout
    assert "Running upgrade 0005_merge_heads ->" in result.stderr  # each migration applied is named
    again = migrate()
    assert f"Database schema already up to date: at the newest revision, {head}" in again.stdout
    assert again.stderr == ""
    assert (tmp_path / "data" / "datamint.sqlite3").exists() == (backend_url is None)
    assert (tmp_path / "data" / ".gitignore").read_text().splitlines()[-1] == "*"  # a new data folder


def test_create_org_errors_are_one_line_and_accounts_are_per_organization(tmp_path, backend_url):
    def create(name: str, email: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "datamint.cli", "server", "create-org", name, "--admin-email",
                               email, "--data-dir", str(tmp_path), *_database_args(backend_url)],
                              capture_output=True, text=True, timeout=120)

    assert create("Lab C", "c@lab.test").returncode == 0
    again = create("Lab D", "c@lab.test")  # the same person may administer another organization
    assert again.returncode == 0 and "Organization 'Lab D'" in again.stdout and "admin c@lab.test" in again.stdout
    bad = create("Lab E", "not-an-email")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "Error: Invalid email address: 'not-an-email'"


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path):  # no database is opened: one run
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port),
                                 "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another one with --port" in result.stderr
    assert "Datamint server on" not in result.stderr + result.stdout and not (tmp_path / "data").exists()


@pytest.mark.timeout(180)
def test_run_says_when_the_sdk_config_points_elsewhere(tmp_path, _isolated_sdk_config):  # SDK config only: SQLite
    from datamint import configs

    configs.write_config({configs.APIKEY_KEY: "dmk_other", configs.APIURL_KEY: "http://localhost:5000"})
    port = _free_port()
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": "dmk_note_0123456789abcd"}
    proc = _start(tmp_path / "my-data", port, env)
    try:
        _wait_healthy(f"http://localhost:{port}", proc)
    finally:
        out = _stop(proc)
    assert "use http://localhost:5000" in out and "not this server" in out
    assert f"datamint config --url http://localhost:{port} --api-key dmk_note_0123456789abcd" in out
    assert configs.read_config()[configs.APIURL_KEY] == "http://localhost:5000"  # left as it was
    assert (tmp_path / "my-data" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_server_help_teaches(tmp_path):
    result = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "run", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--data-dir" in result.stdout and "--port" in result.stdout and "first start" in result.stdout


@pytest.mark.timeout(180)
def test_several_workers_share_one_postgresql(tmp_path, own_pg_database):
    from concurrent.futures import ThreadPoolExecutor

    port = _free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": "dmk_workers_test_key_0123456789"}
    cmd = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port), "--data-dir", str(tmp_path),
           "--database-url", own_pg_database, "--workers", "2", "--no-write-sdk-config"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_healthy(url, proc)
        assert len(_worker_processes(proc.pid)) == 2
        headers = {"apikey": env["DATAMINT_SERVER_ADMIN_API_KEY"]}

        def create(i: int) -> int:
            return httpx.post(f"{url}/projects", json={"name": f"w-{i}"}, headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(create, range(24)))
        assert statuses == [201] * 24
        listed = httpx.get(f"{url}/projects", headers=headers, params={"limit": 100}).json()
        assert sorted(p["name"] for p in listed["data"]) == sorted(f"w-{i}" for i in range(24))
        assert len(_worker_processes(proc.pid)) == 2  # both still serving
    finally:
        _stop(proc)


def _worker_processes(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing ``spawn_main`` children) of ``parent``."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if ppid == parent and "spawn_main" in cmdline:
            workers.append(int(entry.name))
    return workers


def test_create_org_on_a_fresh_database_shows_both_admin_keys(tmp_path, backend_url):
    env = {k: v for k, v in os.environ.items() if k != "DATAMINT_SERVER_ADMIN_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "create-org", "Lab B", "--admin-email",
                             "b@lab.test", "--data-dir", str(tmp_path), *_database_args(backend_url)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    keys = re.findall(r"API key \(shown once\): (dmk_\S+)", result.stdout)
    assert len(keys) == 2, result.stdout
    from datamint.server.auth.service import authenticate
    from datamint.server.db.session import Database

    db = Database(backend_url or f"sqlite:///{tmp_path / 'datamint.sqlite3'}")
    with db.transaction() as session:
        assert [authenticate(session, key).email for key in keys] == ["admin@datamint.local", "b@lab.test"]
    db.dispose()

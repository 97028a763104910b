"""``datamint server make-admin``: gives an organization that lost its admins one back, as a real
subprocess against the server's database (SQLite in the data dir, or PostgreSQL)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy import select

from datamint.server.app import create_app, initialize
from datamint.server.auth import service as users
from datamint.server.auth.models import User
from datamint.server.config import Settings

from conftest import BACKENDS, serve_in_thread


@pytest.fixture(params=BACKENDS)
def settings(request, tmp_path) -> Settings:
    url = (f"sqlite:///{tmp_path / 'datamint.sqlite3'}" if request.param == "sqlite"
           else request.getfixturevalue("own_pg_database"))
    return Settings(data_dir=tmp_path, database_url=url, organization_name="Radiology",
                    admin_email="chief@radiology.test", admin_api_key=f"dmk_test_{uuid.uuid4().hex}")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "datamint.cli", "server", "make-admin", *args, "--data-dir", str(settings.data_dir),
           "--database-url", settings.resolved_database_url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _without_admins(settings: Settings) -> None:
    """The state two admins demoting each other used to leave: an organization with no admin."""
    init = initialize(settings)
    with init.database.transaction() as s:
        for user in s.scalars(select(User)):
            user.roles = ["member"]
    init.database.dispose()


@pytest.mark.timeout(300)
def test_make_admin_restores_an_admin_with_a_new_key(settings):
    _without_admins(settings)
    result = _cli(settings, "chief@RADIOLOGY.test", "--api-key")
    assert result.returncode == 0, result.stderr
    assert "chief@radiology.test is now an admin of organization 'Radiology'" in result.stdout
    key = re.search(r"New API key \(shown once\): (dmk_\S+)", result.stdout).group(1)  # type: ignore[union-attr]

    app = create_app(settings)
    url, server, thread = serve_in_thread(app)
    try:
        with httpx.Client(base_url=url, headers={"apikey": key}) as admin:
            me = admin.get("/users/me").json()
            assert me["email"] == "chief@radiology.test" and me["roles"] == ["admin", "member"]
            created = admin.post("/users", json={"email": "new@radiology.test"})
            assert created.status_code == 201  # an admin's right
            events = admin.get("/audit-events", params={"action": "make_admin"}).json()["data"]
            assert [(e["entity_type"], e["entity_id"], e["user_id"], e["method"]) for e in events] == [
                ("user", me["id"], None, "CLI")]
            assert events[0]["details"]["api_key_issued"] is True
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.database.dispose()

    again = _cli(settings, "chief@radiology.test")
    assert again.returncode == 0 and "was already an admin" in again.stdout and "dmk_" not in again.stdout


def _invoke(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in this process (typer's runner): the same code as :func:`_cli`, without a
    new interpreter per call."""
    from typer.testing import CliRunner

    from datamint.cli.server import app

    result = CliRunner().invoke(app, ["make-admin", *args, "--data-dir", str(settings.data_dir),
                                      "--database-url", settings.resolved_database_url])
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_make_admin_creates_only_when_asked_and_needs_an_unambiguous_organization(settings):
    _without_admins(settings)
    missing = _invoke(settings, "newcomer@radiology.test")
    assert missing.returncode == 1
    assert "has no account in organization 'Radiology'; pass --create" in missing.stderr

    created = _invoke(settings, "newcomer@radiology.test", "--create", "--org", "Radiology")
    assert created.returncode == 0, created.stderr
    assert "newcomer@radiology.test created as an admin of organization 'Radiology'" in created.stdout

    init = initialize(settings)
    with init.database.transaction() as s:
        other, _, _ = users.create_organization(s, "Cardiology", "boss@cardiology.test")
        other_id = other.id
        users.new_user(s, other_id, "newcomer@radiology.test", None, None, None, ["member"])
    init.database.dispose()
    ambiguous = _invoke(settings, "newcomer@radiology.test")
    assert ambiguous.returncode == 1
    assert "has an account in 2 organizations ('Radiology', 'Cardiology'); choose one with --org" in ambiguous.stderr
    unknown = _invoke(settings, "newcomer@radiology.test", "--org", "Neurology")
    assert unknown.returncode == 1 and "Organization not found: 'Neurology'" in unknown.stderr

    chosen = _invoke(settings, "newcomer@radiology.test", "--org", "Cardiology")
    assert chosen.returncode == 0 and "is now an admin of organization 'Cardiology'" in chosen.stdout
    init = initialize(settings)
    with init.database.transaction() as s:
        roles = {u.customer_id: u.roles for u in s.scalars(select(User).where(User.email == "newcomer@radiology.test"))}
    init.database.dispose()
    assert roles == {other_id: ["admin", "member"], next(k for k in roles if k != other_id): ["admin"]}


def test_make_admin_help_teaches():
    result = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "make-admin", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--org" in result.stdout and "--create" in result.stdout and "--api-key" in result.stdout
    assert "last admin" in result.stdout

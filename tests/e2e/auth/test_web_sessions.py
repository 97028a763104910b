"""The web app's cookie sessions (``/auth/session``): sign in by password or API key, HttpOnly
SameSite cookie, CSRF token required on cookie-authenticated writes, sign out, expiry, revocation."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from datamint.server.auth import service
from datamint.server.auth.models import WebSession
from datamint.server.db.base import utcnow

from conftest import start_server

PASSWORD = "correct horse battery staple"


def _user_with_password(server, roles=None) -> tuple[str, str]:
    """A new member of the first organization with a known password; (email, API key)."""
    email = f"web-{uuid.uuid4().hex[:8]}@example.test"
    with server.database.transaction() as s:
        admin = service.authenticate(s, server.admin_key)
        user = service.create_user(s, admin, email, password=PASSWORD, roles=roles)
        _, key = service.issue_key(s, user)
    return email, key


def _signed_in(server, email: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url)
    answer = client.post("/auth/session", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return client, answer.json()["csrf_token"]


def test_password_sign_in_sets_an_httponly_samesite_cookie(server):
    email, _ = _user_with_password(server)
    answer = httpx.post(f"{server.url}/auth/session", json={"email": email.upper(), "password": PASSWORD})
    assert answer.status_code == 201
    body = answer.json()
    assert body["user"]["email"] == email and body["user"]["roles"] == ["member"]
    assert len(body["csrf_token"]) == 64 and body["expires_at"]
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith("datamint_session=")
    assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes
    assert "samesite=lax" in cookie.lower() and "max-age=43200" in cookie.lower()
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in answer.text, "the cookie's token never appears in a body"


def test_cookie_reads_need_no_csrf_but_writes_do(server):
    email, _ = _user_with_password(server)
    client, csrf = _signed_in(server, email)
    with contextlib.closing(client):
        me = client.get("/auth/session")
        assert me.status_code == 200 and me.json() == {"user": me.json()["user"], "csrf_token": csrf}
        assert client.get("/projects").status_code == 200
        assert client.get("/users/me").json()["email"] == email

        missing = client.post("/projects", json={"name": f"w-{uuid.uuid4().hex[:6]}"})
        assert missing.status_code == 403 and "CSRF" in missing.json()["message"]
        wrong = client.post("/projects", json={"name": f"w-{uuid.uuid4().hex[:6]}"},
                            headers={"x-csrf-token": "0" * 64})
        assert wrong.status_code == 403
        name = f"w-{uuid.uuid4().hex[:6]}"
        created = client.post("/projects", json={"name": name}, headers={"x-csrf-token": csrf})
        assert created.status_code == 201 and created.json()["name"] == name
        listed = [p["name"] for p in client.get("/projects").json()["data"]]
        assert name in listed and listed.count(name) == 1, "the refused writes created nothing"


def test_an_api_key_header_wins_over_the_cookie(server):
    email, key = _user_with_password(server)
    client, _ = _signed_in(server, email)
    with contextlib.closing(client):
        answer = client.post("/projects", json={"name": f"k-{uuid.uuid4().hex[:6]}"}, headers={"apikey": key})
        assert answer.status_code == 201, "a script's key needs no CSRF token, cookie or not"
        assert client.get("/auth/session", headers={"apikey": key}).json()["csrf_token"] is None


def test_wrong_password_and_unknown_email_are_401_alike(server):
    email, _ = _user_with_password(server)
    wrong = httpx.post(f"{server.url}/auth/session", json={"email": email, "password": "nope-nope"})
    unknown = httpx.post(f"{server.url}/auth/session", json={"email": "ghost@example.test", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"] == "Wrong email or password"
    assert "set-cookie" not in wrong.headers
    empty = httpx.post(f"{server.url}/auth/session", json={"email": email})
    assert empty.status_code == 422 and "api_key" in empty.json()["message"]
    extra = httpx.post(f"{server.url}/auth/session", json={"email": email, "password": PASSWORD, "admin": True})
    assert extra.status_code == 422


def test_sign_out_ends_the_session_on_the_server(server):
    email, _ = _user_with_password(server)
    client, csrf = _signed_in(server, email)
    token = client.cookies["datamint_session"]
    with contextlib.closing(client):
        assert client.delete("/auth/session").status_code == 403, "signing out needs the CSRF token too"
        out = client.delete("/auth/session", headers={"x-csrf-token": csrf})
        assert out.status_code == 204 and 'datamint_session=""' in out.headers["set-cookie"]
    replay = httpx.get(f"{server.url}/projects", cookies={"datamint_session": token})
    assert replay.status_code == 401 and "sign in again" in replay.json()["message"]


def test_a_session_opened_with_a_key_ends_when_the_key_is_revoked(server):
    _, key = _user_with_password(server)
    client = httpx.Client(base_url=server.url)
    with contextlib.closing(client):
        answer = client.post("/auth/session", json={"api_key": key})
        assert answer.status_code == 201
        keys = client.get("/users/me/api-keys").json()
        current = [k for k in keys if k["current"]]
        assert len(current) == 1 and current[0]["prefix"] == key[:12]
        revoked = client.delete(f"/users/me/api-keys/{current[0]['id']}",
                                headers={"x-csrf-token": answer.json()["csrf_token"]})
        assert revoked.status_code == 204
        assert client.get("/projects").status_code == 401
    assert httpx.post(f"{server.url}/auth/session", json={"api_key": key}).status_code == 401


def test_an_expired_session_is_refused(server):
    email, _ = _user_with_password(server)
    client, _ = _signed_in(server, email)
    with server.database.transaction() as s:
        s.execute(update(WebSession).where(WebSession.user_id == service.get_user(
            s, service.authenticate(s, server.admin_key), email).id).values(expires_at=utcnow() - timedelta(seconds=1)))
    with contextlib.closing(client):
        expired = client.get("/projects")
        assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_a_deleted_user_loses_its_sessions(server):
    email, _ = _user_with_password(server)
    client, _ = _signed_in(server, email)
    assert httpx.delete(f"{server.url}/users/{email}", headers={"apikey": server.admin_key}).status_code == 204
    with contextlib.closing(client):
        assert client.get("/projects").status_code == 401


@pytest.fixture(scope="module")
def guarded(request, tmp_path_factory):
    """A server allowing 3 failures a minute (SQLite; the throttle's backends are covered by test_brute_force)."""
    yield from start_server("sqlite", request, tmp_path_factory.mktemp("guarded-web"), auth_failures_per_minute=3)


def test_failed_sign_ins_are_throttled(guarded):
    guarded.app.state.auth_guard.clear()
    email, _ = _user_with_password(guarded)
    for _ in range(3):
        assert httpx.post(f"{guarded.url}/auth/session", json={"email": email, "password": "guess-guess"}
                          ).status_code == 401
    throttled = httpx.post(f"{guarded.url}/auth/session", json={"email": email, "password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_one_email_in_several_organizations_signs_in_to_the_account_its_password_opens(server):
    """An email is unique per organization only: the password chooses the account, and when the
    same password opens two, ``organization`` (name or id) must choose (409 without it)."""
    email, _ = _user_with_password(server)
    accounts = {}
    for password in ("another password entirely", PASSWORD):
        org_name = f"org-{uuid.uuid4().hex[:8]}"
        with server.database.transaction() as s:
            admin = service.authenticate(s, server.new_org(org_name))
            accounts[password] = (org_name, service.create_user(s, admin, email, password=password).customer_id)
    url = f"{server.url}/auth/session"
    other = httpx.post(url, json={"email": email, "password": "another password entirely"})
    assert other.status_code == 201 and other.json()["user"]["customer_id"] == accounts["another password entirely"][1]
    ambiguous = httpx.post(url, json={"email": email, "password": PASSWORD})
    assert ambiguous.status_code == 409 and "'organization'" in ambiguous.json()["message"]
    org_name, org_id = accounts[PASSWORD]
    for chosen in (org_name, org_id):
        answer = httpx.post(url, json={"email": email, "password": PASSWORD, "organization": chosen})
        assert answer.status_code == 201 and answer.json()["user"]["customer_id"] == org_id
    wrong = httpx.post(url, json={"email": email, "password": "nope", "organization": org_name})
    assert wrong.status_code == 401

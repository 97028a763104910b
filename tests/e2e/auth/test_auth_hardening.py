"""Hardening of sign-in and identity found by review: a password change ends the user's other
web sessions; emails that differ only by Unicode letter case or composition are one address."""

from __future__ import annotations

import contextlib
import uuid

import httpx

from datamint.server.auth import service

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another horse battery staple"


def _user_with_password(server) -> str:
    """A new member of the first organization with a known password; its email."""
    email = f"hard-{uuid.uuid4().hex[:8]}@example.test"
    with server.database.transaction() as s:
        service.create_user(s, service.authenticate(s, server.admin_key), email, password=PASSWORD)
    return email


def _sign_in(server, email: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server.url)
    answer = client.post("/auth/session", json={"email": email, "password": password})
    assert answer.status_code == 201, answer.text
    return client, answer.json()["csrf_token"]


def test_a_password_change_ends_the_users_web_sessions(server):
    email = _user_with_password(server)
    stolen, _ = _sign_in(server, email)
    with contextlib.closing(stolen):
        assert stolen.get("/users/me").json()["email"] == email
        changed = httpx.patch(f"{server.url}/users/{email}", json={"password": NEW_PASSWORD},
                              headers={"apikey": server.admin_key})
        assert changed.status_code == 200
        after = stolen.get("/users/me")
        assert after.status_code == 401 and "sign in again" in after.json()["message"]
    fresh, _ = _sign_in(server, email, NEW_PASSWORD)
    with contextlib.closing(fresh):
        assert fresh.get("/users/me").json()["email"] == email
    old = httpx.post(f"{server.url}/auth/session", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401


def test_an_admin_changing_its_own_password_keeps_the_session_it_uses(server):
    email = _user_with_password(server)
    with server.database.transaction() as s:
        user = service.get_user(s, service.authenticate(s, server.admin_key), email)
        user.roles = ["admin"]
    mine, csrf = _sign_in(server, email)
    other, _ = _sign_in(server, email)
    with contextlib.closing(mine), contextlib.closing(other):
        changed = mine.patch(f"/users/{email}", json={"password": NEW_PASSWORD}, headers={"x-csrf-token": csrf})
        assert changed.status_code == 200, changed.text
        assert mine.get("/users/me").json()["email"] == email
        assert other.get("/users/me").status_code == 401
        renamed = mine.patch(f"/users/{email}", json={"firstname": "Ada"}, headers={"x-csrf-token": csrf})
        assert renamed.status_code == 200 and renamed.json()["firstname"] == "Ada"
        assert mine.get("/users/me").json()["firstname"] == "Ada"


def test_emails_differing_by_unicode_case_or_composition_are_one_address(server):
    tag = uuid.uuid4().hex[:8]
    first = httpx.post(f"{server.url}/users", json={"email": f"\u00c9lise-{tag}@example.test", "password": PASSWORD},
                       headers={"apikey": server.admin_key})
    assert first.status_code == 201, first.text
    for variant in (f"\u00e9lise-{tag}@example.test", f"E\u0301lise-{tag}@example.test",
                    f"e\u0301lise-{tag}@EXAMPLE.test"):
        again = httpx.post(f"{server.url}/users", json={"email": variant}, headers={"apikey": server.admin_key})
        assert again.status_code == 409, (variant, again.text)
        assert again.json()["existing"]["id"] == first.json()["id"]
    invited = httpx.post(f"{server.url}/users/invite", json={"email": f"E\u0301LISE-{tag}@example.test"},
                         headers={"apikey": server.admin_key})
    assert invited.status_code == 409 and invited.json()["existing"]["id"] == first.json()["id"]
    signed = httpx.post(f"{server.url}/auth/session", json={"email": f"e\u0301LISE-{tag}@example.test",
                                                              "password": PASSWORD})
    assert signed.status_code == 201 and signed.json()["user"]["id"] == first.json()["id"]


def test_an_email_with_invisible_characters_is_refused(server):
    """A zero-width space, a soft hyphen or a direction mark makes an address that looks like
    another user's; nothing is created."""
    tag = uuid.uuid4().hex[:8]
    for invisible in ("\u200b", "\u00ad", "\u200e", "\ufeff", "\u2060"):
        email = f"look{invisible}alike-{tag}@example.test"
        for path in ("/users", "/users/invite"):
            answer = httpx.post(f"{server.url}{path}", json={"email": email}, headers={"apikey": server.admin_key})
            assert answer.status_code == 422, (path, repr(invisible), answer.text)
            assert answer.json()["message"].startswith("Invalid email address")
    listed = httpx.get(f"{server.url}/users", params={"limit": 5000}, headers={"apikey": server.admin_key}).json()
    assert [u["email"] for u in listed["data"] if tag in u["email"]] == []
    invitations = httpx.get(f"{server.url}/users/invitations", headers={"apikey": server.admin_key}).json()
    assert [i["email"] for i in invitations if tag in i["email"]] == []

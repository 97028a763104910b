"""``POST /invitations/describe``: who an invitation is for, shown by the web app's accept page
before the password is chosen; unknown tokens are throttled like the accept route's."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from datamint import Api
from datamint.server.auth.models import Invitation
from datamint.server.db.base import utcnow

from conftest import start_server, unique


def test_a_valid_token_names_the_invitee_and_the_organization(server):
    api = Api(server.url, server.admin_key)
    email = f"{unique('desc')}@example.test"
    token = api.users.invite(email, firstname="Ana")["token"]
    answer = httpx.post(f"{server.url}/invitations/describe", json={"token": token})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["email"], body["firstname"], body["lastname"]) == (email, "Ana", None)
    assert body["organization"] == "Default organization" and body["expires_at"]
    assert token not in answer.text
    assert httpx.post(f"{server.url}/invitations/describe", json={"token": token}).status_code == 200, \
        "describing does not use the invitation up"

    with server.database.transaction() as s:
        s.execute(update(Invitation).where(Invitation.email == email).values(expires_at=utcnow() - timedelta(1)))
    expired = httpx.post(f"{server.url}/invitations/describe", json={"token": token})
    assert expired.status_code == 410 and "expired" in expired.json()["message"]
    bad = httpx.post(f"{server.url}/invitations/describe", json={"token": ""})
    assert bad.status_code == 422


@pytest.fixture(scope="module")
def guarded(request, tmp_path_factory):
    """A server allowing 2 failures a minute (SQLite; the throttle's backends are covered by test_brute_force)."""
    yield from start_server("sqlite", request, tmp_path_factory.mktemp("guarded-describe"),
                            auth_failures_per_minute=2)


def test_unknown_tokens_are_404_then_throttled(guarded):
    guarded.app.state.auth_guard.clear()
    for _ in range(2):
        unknown = httpx.post(f"{guarded.url}/invitations/describe", json={"token": "dmi_" + "x" * 43})
        assert unknown.status_code == 404 and unknown.json()["message"].startswith("Invitation not found")
    throttled = httpx.post(f"{guarded.url}/invitations/describe", json={"token": "dmi_" + "y" * 43})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1

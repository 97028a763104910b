"""Brute force: repeated bad keys (or invitation tokens) from one client are throttled with 429."""

from __future__ import annotations

import uuid

import httpx
import pytest

from datamint import Api
from datamint.exceptions import RateLimitError
from datamint.server.auth.throttle import AuthFailureGuard

from conftest import BACKENDS, own_database, start_server

LIMIT = 3


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request, tmp_path_factory):
    """A server on each backend that tolerates only LIMIT failed authentications per client per minute."""
    folder = tmp_path_factory.mktemp(f"guarded-{request.param}")
    with own_database(request.param, folder) as url:
        yield from start_server(request.param, request, folder, auth_failures_per_minute=LIMIT, database_url=url)


@pytest.fixture
def fresh_guard(guarded):
    """Every test starts with a clean failure count (all tests come from 127.0.0.1)."""
    guarded.app.state.auth_guard = AuthFailureGuard(LIMIT)
    return guarded


def _bad_key() -> str:
    return "dmk_" + uuid.uuid4().hex * 2


def test_repeated_bad_keys_get_429_with_retry_after(fresh_guard):
    url = fresh_guard.url
    for _ in range(LIMIT):
        assert httpx.get(f"{url}/projects", headers={"apikey": _bad_key()}).status_code == 401
    throttled = httpx.get(f"{url}/projects", headers={"apikey": _bad_key()})
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 61
    assert throttled.json()["code"] == "too_many_requests" and throttled.json()["request_id"]
    valid = httpx.get(f"{url}/projects", headers={"apikey": fresh_guard.admin_key})
    assert valid.status_code == 429, "a valid key from a throttled address must wait too"
    assert httpx.get(f"{url}/health").status_code == 200


def test_a_success_does_not_reset_the_count(fresh_guard):
    url = fresh_guard.url
    for _ in range(LIMIT - 1):
        assert httpx.get(f"{url}/projects", headers={"apikey": _bad_key()}).status_code == 401
    assert httpx.get(f"{url}/projects", headers={"apikey": fresh_guard.admin_key}).status_code == 200
    assert httpx.get(f"{url}/projects", headers={"apikey": _bad_key()}).status_code == 401
    assert httpx.get(f"{url}/projects", headers={"apikey": fresh_guard.admin_key}).status_code == 429


def test_missing_keys_count_as_failures(fresh_guard):
    for _ in range(LIMIT):
        assert httpx.get(f"{fresh_guard.url}/users").status_code == 401
    assert httpx.get(f"{fresh_guard.url}/users").status_code == 429


def test_guessing_invitation_tokens_is_throttled(fresh_guard):
    url = fresh_guard.url
    for _ in range(LIMIT):
        guess = httpx.post(f"{url}/invitations/accept", json={"token": "dmi_" + uuid.uuid4().hex})
        assert guess.status_code == 404
    assert httpx.post(f"{url}/invitations/accept", json={"token": "dmi_x"}).status_code == 429


def test_sdk_reports_the_throttle(fresh_guard):
    for _ in range(LIMIT):
        httpx.get(f"{fresh_guard.url}/projects", headers={"apikey": _bad_key()})
    api = Api(fresh_guard.url, fresh_guard.admin_key, max_retries=0, check_connection=False)
    with pytest.raises(RateLimitError) as info:
        api.projects.get_list()
    assert info.value.status_code == 429 and info.value.retry_after and info.value.retry_after >= 1

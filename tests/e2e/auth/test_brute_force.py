"""Brute force: repeated bad keys (or invitation tokens) from one client are throttled with 429."""

from __future__ import annotations

import uuid

import httpx
import pytest

from datamint import Api
from datamint.exceptions import RateLimitError

from conftest import BACKENDS, fresh_pg_database, start_server

LIMIT = 3


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request, tmp_path_factory):
    """A server that tolerates only LIMIT failed authentications per client per minute; it trusts
    ``X-Forwarded-For`` from one proxy network (not the loopback the tests connect from)."""
    folder = tmp_path_factory.mktemp("guarded")
    options = {"auth_failures_per_minute": LIMIT, "trusted_proxies": ["10.9.0.0/16"]}
    if request.param == "postgresql":  # a database of its own: its first organization is ours
        with fresh_pg_database() as url:
            yield from start_server(request.param, request, folder, database_url=url, **options)
    else:
        yield from start_server(request.param, request, folder, **options)


@pytest.fixture
def fresh_guard(guarded):
    """Every test starts with a clean failure count (all tests come from 127.0.0.1)."""
    guarded.app.state.auth_guard.clear()
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


def _failures_by_client(server) -> dict[str, int]:
    from sqlalchemy import func, select

    from datamint.server.auth.models import AuthFailure

    with server.database.session() as session:
        return dict(session.execute(select(AuthFailure.client, func.count()).group_by(AuthFailure.client)).all())


def test_forwarded_for_from_a_peer_that_is_no_proxy_is_ignored(fresh_guard):
    """Rotating X-Forwarded-For gives no fresh attempts, and the named addresses are not charged
    (spoofing a victim's address cannot lock the victim out)."""
    url = fresh_guard.url
    for i in range(LIMIT):
        spoofed = {"apikey": _bad_key(), "X-Forwarded-For": f"10.9.0.{i + 1}"}
        assert httpx.get(f"{url}/projects", headers=spoofed).status_code == 401
    rotated = httpx.get(f"{url}/projects", headers={"apikey": _bad_key(), "X-Forwarded-For": "10.9.0.200"})
    assert rotated.status_code == 429
    assert _failures_by_client(fresh_guard) == {"127.0.0.1": LIMIT}


def test_every_server_process_sees_the_same_failures(fresh_guard, request, tmp_path):
    """A second server on the same database (as a second worker is) refuses a client the first
    one counted: failures live in the database, not in a process."""
    twin = start_server(fresh_guard.backend, request, tmp_path / "twin", auth_failures_per_minute=LIMIT,
                        database_url=fresh_guard.app.state.settings.resolved_database_url)
    other = next(twin)
    try:
        for i in range(LIMIT):
            target = fresh_guard.url if i % 2 == 0 else other.url
            assert httpx.get(f"{target}/projects", headers={"apikey": _bad_key()}).status_code == 401
        for target in (fresh_guard.url, other.url):
            assert httpx.get(f"{target}/projects", headers={"apikey": _bad_key()}).status_code == 429
    finally:
        twin.close()


@pytest.fixture(scope="module")
def behind_proxy(request, tmp_path_factory):
    """A server that trusts the loopback as its reverse proxy. SQLite only: which address is
    charged does not depend on the database (test_every_server_process_sees_the_same_failures
    covers both)."""
    folder = tmp_path_factory.mktemp("proxied")
    yield from start_server("sqlite", request, folder, auth_failures_per_minute=LIMIT,
                            trusted_proxies=["127.0.0.1", "10.9.0.0/16"])


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(behind_proxy):
    behind_proxy.app.state.auth_guard.clear()
    url = behind_proxy.url
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(LIMIT):
        assert httpx.get(f"{url}/projects", headers={**attacker, "apikey": _bad_key()}).status_code == 401
    assert httpx.get(f"{url}/projects", headers={**attacker, "apikey": _bad_key()}).status_code == 429
    # another client behind the same proxy is not locked out; the chain is read from the right,
    # skipping trusted proxies, so a client-written left part cannot pick the charged address
    other = {"X-Forwarded-For": "203.0.113.7, 198.51.100.4, 10.9.3.3", "apikey": behind_proxy.admin_key}
    assert httpx.get(f"{url}/projects", headers=other).status_code == 200
    assert _failures_by_client(behind_proxy) == {"203.0.113.7": LIMIT}


def test_a_trusted_proxy_names_the_scheme_and_nobody_else_does(behind_proxy, fresh_guard):
    """Behind a TLS-terminating proxy the session cookie is Secure (X-Forwarded-Proto: https from
    the proxy); the same header from a client that is no proxy changes nothing."""
    body = {"api_key": behind_proxy.admin_key}
    proxied = httpx.post(f"{behind_proxy.url}/auth/session", json=body, headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 201 and "secure" in proxied.headers["set-cookie"].lower()
    direct = httpx.post(f"{fresh_guard.url}/auth/session", json={"api_key": fresh_guard.admin_key},
                        headers={"X-Forwarded-Proto": "https"})
    assert direct.status_code == 201 and "secure" not in direct.headers["set-cookie"].lower()


def test_an_ipv6_client_is_counted_by_its_64_network(behind_proxy):
    """One IPv6 client holds a whole /64 (2^64 addresses): a fresh address per guess must not give
    fresh counts. An IPv4 client written as an IPv4-mapped IPv6 address is the same client."""
    behind_proxy.app.state.auth_guard.clear()
    url = behind_proxy.url
    for host in ("2001:db8:7:1::1", "2001:DB8:7:1:0:0:0:2", "2001:db8:7:1:ffff::3"):
        assert httpx.get(f"{url}/projects", headers={"X-Forwarded-For": host, "apikey": _bad_key()}).status_code == 401
    rotated = httpx.get(f"{url}/projects", headers={"X-Forwarded-For": "2001:db8:7:1:abcd::9", "apikey": _bad_key()})
    assert rotated.status_code == 429
    neighbour = {"X-Forwarded-For": "2001:db8:7:2::1", "apikey": behind_proxy.admin_key}
    assert httpx.get(f"{url}/projects", headers=neighbour).status_code == 200, "another /64 is another client"
    for host in ("198.51.100.9", "::ffff:198.51.100.9", "198.51.100.9"):
        assert httpx.get(f"{url}/projects", headers={"X-Forwarded-For": host, "apikey": _bad_key()}).status_code == 401
    mapped = httpx.get(f"{url}/projects", headers={"X-Forwarded-For": "::ffff:198.51.100.9", "apikey": _bad_key()})
    assert mapped.status_code == 429
    assert _failures_by_client(behind_proxy) == {"2001:db8:7:1::/64": LIMIT, "198.51.100.9": LIMIT}

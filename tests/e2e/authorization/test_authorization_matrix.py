"""The authorization matrix: every route × every kind of caller gets the status docs/permissions.md says.

The table is the specification; this test sends one valid request per route and caller to the
live server and reports every mismatch at once. A route without a row (or a row without a route)
fails too, so nobody adds an endpoint without deciding who may call it.
"""

from __future__ import annotations

import httpx
import pytest

from fixtures.authz.permissions_doc import ACTORS, PATH_PARAM_RE, coverage, route_rows
from fixtures.authz.world import REQUESTS, Request, World


@pytest.fixture(scope="module")
def world(server) -> World:
    return World(server)


def test_every_route_has_exactly_one_row(server):
    missing, stale = coverage(server.app.openapi(), route_rows())
    assert not missing, ("routes without a row in docs/permissions.md (add one; see 'How to add a route'): "
                         f"{missing}")
    assert not stale, f"rows in docs/permissions.md for routes that do not exist: {stale}"


def test_coverage_check_notices_a_new_route(server):
    schema = server.app.openapi()
    extended = {**schema, "paths": {**schema["paths"], "/brand-new/{thing_id}": {"get": {}, "delete": {}}}}
    missing, stale = coverage(extended, route_rows())
    assert missing == ["DELETE /brand-new/{thing_id}", "GET /brand-new/{thing_id}"]
    fewer = {**schema, "paths": {p: ops for p, ops in schema["paths"].items() if p != "/audit-events"}}
    assert coverage(fewer, route_rows())[1] == ["GET /audit-events"]


def _build(world: World, key: str, actor_name: str) -> tuple[str, Request]:
    method, path = key.split(" ", 1)
    builder = REQUESTS.get(key)
    req = builder(world, world.actors[actor_name]) if builder else Request()
    params = {**world.path_defaults(), **req.params}
    missing = [name for name in PATH_PARAM_RE.findall(path) if name not in params]
    if missing:
        raise AssertionError(f"{key}: no value for path parameter(s) {missing}; add them to "
                             "World.path_defaults or a builder in tests/e2e/authz_world.py")
    return PATH_PARAM_RE.sub(lambda m: params[m.group(1)], path), req


def test_every_route_answers_every_caller_as_documented(server, world):
    rows = route_rows()
    mismatches = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for key, row in rows.items():
            for actor_name in ACTORS:
                url, req = _build(world, key, actor_name)
                actor = world.actors[actor_name]
                headers = {**(req.headers or {}), **({"apikey": actor.key} if actor.key else {})}
                response = client.request(row.method, url, headers=headers, json=req.json, params=req.query,
                                          files=req.files, content=req.content)
                client.cookies.clear()  # callers are told apart by their keys only (POST /auth/session sets one)
                expected = row.expected[actor_name]
                if response.status_code != expected:
                    body = response.text[:160].replace("\n", " ")
                    mismatches.append(f"{key:<52} {actor_name:<16} expected {expected}, got "
                                      f"{response.status_code}: {body}")
    assert not mismatches, "status differs from docs/permissions.md:\n" + "\n".join(mismatches)

"""Bad input gets a clear 4xx in the wire protocol's envelope, never a 500, and changes nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from conftest import unique


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=30) as client:
        yield client


def _snapshot(http: httpx.Client) -> dict[str, object]:
    """What a request could have changed in the organization: projects, users, resources, and the
    audit trail of changes."""
    def everything(path: str, **params: str) -> list[dict]:
        response = http.get(path, params={"limit": 5000, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        return body["data"] if isinstance(body, dict) else body

    return {"projects": everything("/projects", includeArchived="true"), "users": everything("/users"),
            "resources": everything("/resources"), "audit": [e["id"] for e in everything("/audit-events")]}


@pytest.fixture
def unchanged(http):
    """Fails the test if the organization's data differs after it (bad input changes nothing)."""
    before = _snapshot(http)
    yield
    assert _snapshot(http) == before


def _assert_envelope(response: httpx.Response, status: int, *phrases: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"message", "code", "status_code", "request_id"}
    assert body["status_code"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert "error" not in body
    for phrase in phrases:
        assert phrase.lower() in body["message"].lower(), body["message"]
    return body


def test_malformed_json_is_400(http, unchanged):
    response = http.post("/projects", content=b'{"name": ', headers={"content-type": "application/json"})
    _assert_envelope(response, 400, "malformed json")


def test_missing_and_wrong_typed_fields_are_422(http, unchanged):
    _assert_envelope(http.post("/projects", json={}), 422, "name")
    _assert_envelope(http.post("/projects", json={"name": "x", "is_active_learning": {"a": 1}}), 422,
                     "is_active_learning")
    _assert_envelope(http.post("/projects", json=["not", "an", "object"]), 422)
    _assert_envelope(http.post("/users", json={"email": 12}), 422, "email")


def test_non_uuid_ids_are_422_and_name_the_id(http, unchanged):
    body = _assert_envelope(http.get("/projects/not-a-uuid"), 422, "not-a-uuid", "uuid")
    assert body["code"] == "validation_error"
    _assert_envelope(http.patch("/projects/123", json={"description": "x"}), 422)
    _assert_envelope(http.delete("/projects/..%2F..%2Fetc"), 404, "not found")  # decoded into other path segments


def test_unknown_ids_are_404_with_the_wire_wording(http, unchanged):
    body = _assert_envelope(http.get(f"/projects/{uuid.uuid4()}"), 404, "project not found")
    assert " not found" in body["message"].lower()  # what the official client looks for
    _assert_envelope(http.delete(f"/projects/{uuid.uuid4()}"), 404, "project not found")
    _assert_envelope(http.get("/users/nobody@nowhere.test"), 404, "user not found")
    _assert_envelope(http.get("/no/such/route"), 404, "not found")


def test_missing_or_bad_key_is_401(server, unchanged):
    with httpx.Client(base_url=server.url) as anonymous:
        _assert_envelope(anonymous.get("/projects"), 401, "missing api key")
        _assert_envelope(anonymous.get("/projects", headers={"apikey": "nope"}), 401, "invalid api key")
        ok = anonymous.get("/projects", headers={"Authorization": f"Bearer {server.admin_key}"})
        assert ok.status_code == 200


def test_paging_bounds_are_checked(http, unchanged):
    _assert_envelope(http.get("/projects", params={"limit": 0}), 422, "limit")
    _assert_envelope(http.get("/projects", params={"limit": 5001}), 422, "limit")
    _assert_envelope(http.get("/projects", params={"offset": -1}), 422, "offset")
    _assert_envelope(http.get("/projects", params={"limit": "ten"}), 422, "limit")


def test_oversized_json_body_is_413_and_creates_nothing(server, http, unchanged):
    limit = server.app.state.settings.max_json_bytes
    declared, chunked = unique("huge"), unique("huge-chunked")
    big = b'{"name": "' + declared.encode() + b'", "description": "' + b"x" * (limit + 10) + b'"}'
    response = http.post("/projects", content=big, headers={"content-type": "application/json"})
    assert _assert_envelope(response, 413, "too large")["code"] == "payload_too_large"

    def stream():  # no Content-Length: the limit is enforced while the body arrives
        head = b'{"name": "' + chunked.encode() + b'", "description": "'
        yield head
        remaining = limit + 10 - len(head)
        while remaining > 0:
            yield b"x" * min(remaining, 1 << 20)
            remaining -= 1 << 20
        yield b'"}'

    response = http.post("/projects", content=stream(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert _assert_envelope(response, 413, "too large")["code"] == "payload_too_large"
    names = {p["name"] for p in http.get("/projects", params={"includeArchived": "true", "limit": 5000}).json()["data"]}
    assert declared not in names and chunked not in names


def test_duplicate_project_is_409_with_existing(http):
    name = unique("conflict")
    created = http.post("/projects", json={"name": name})
    assert created.status_code == 201
    body = _assert_envelope(http.post("/projects", json={"name": name}), 409, "already exists")
    assert body["id"] == created.json()["id"]
    assert body["existing"]["name"] == name


def test_every_response_has_a_request_id_and_client_ids_are_echoed(http):
    assert len(http.get("/projects").headers["x-request-id"]) >= 8
    echoed = http.get("/projects", headers={"x-request-id": "trace-abc-12345"})
    assert echoed.headers["x-request-id"] == "trace-abc-12345"
    bogus = http.get("/projects", headers={"x-request-id": "bad id with spaces"})
    assert bogus.headers["x-request-id"] != "bad id with spaces"


def test_access_log_has_one_structured_line_per_request(http, caplog):
    import json
    import logging
    import time

    with caplog.at_level(logging.INFO, logger="datamint.server.access"):
        response = http.get("/projects", headers={"x-request-id": "log-check-123456"})
        deadline = time.monotonic() + 5  # the line is written just after the response is sent
        while True:
            lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "datamint.server.access"]
            mine = [line for line in lines if line["request_id"] == "log-check-123456"]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert len(mine) == 1
    assert mine[0]["status"] == response.status_code and mine[0]["path"] == "/projects"
    assert mine[0]["user"] and mine[0]["duration_ms"] >= 0


def test_project_changes_are_checked_like_a_new_project(http):
    pid = http.post("/projects", json={"name": unique("checked")}).json()["id"]
    _assert_envelope(http.patch(f"/projects/{pid}", json={"name": "   "}), 422, "blank")
    twice = {"definitions": [{"identifier": "liver"}, {"identifier": "liver"}]}
    _assert_envelope(http.patch(f"/projects/{pid}", json={"segmentationData": twice}), 422, "liver")
    unchanged = http.get(f"/projects/{pid}").json()
    assert unchanged["name"].startswith("checked-") and unchanged["segmentationData"]["definitions"] == []

    labels = {"definitions": [{"identifier": "liver"}, {"identifier": "tumor", "index": 5}]}
    changed = http.patch(f"/projects/{pid}", json={"segmentationData": labels})
    assert changed.status_code == 200, changed.text
    definitions = changed.json()["segmentationData"]["definitions"]
    assert [(d["identifier"], d["index"]) for d in definitions] == [("tumor", 5), ("liver", 6)]
    assert all(len(d["color"]) == 4 for d in definitions)  # RGBA from the palette

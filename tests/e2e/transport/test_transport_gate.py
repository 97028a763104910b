"""Issue 9 §1: the request gate decides before the body is read.

Anonymous callers are refused before a byte of their body is read (an answer to a head that
declares 400 MiB and sends none proves it), on every route that needs a caller; body limits come
from the route, never from the client's ``Content-Type``; forms have a total cap on their text
fields; an anonymous upload leaves nothing on disk.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx

from datamint.server.transport.routes import RouteTable

from rawhttp import send_chunked_until_answer, send_head_only

HUGE = 400 * 1024 * 1024
MULTIPART = "multipart/form-data; boundary=x"


def _concrete(path: str) -> str:
    """A request path for a route template (every parameter a fresh UUID)."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _table(server) -> RouteTable:
    return RouteTable.from_app(server.app, server.app.state.settings)


def test_every_route_that_needs_a_caller_refuses_anonymous_before_the_body(server):
    """A 400 MiB multipart body is declared and never sent: every such route answers 401 at once."""
    checked = 0
    for rule in _table(server):
        if not rule.authenticated:
            continue
        for method in sorted(rule.methods - {"HEAD"}):
            answer = send_head_only(server.url, method, _concrete(rule.path),
                                    {"Content-Type": MULTIPART, "Content-Length": str(HUGE)})
            assert answer.status == 401, (method, rule.path, answer.body)
            body = json.loads(answer.body)
            assert body.get("code", body.get("error_code")) in ("unauthenticated", "UNAUTHENTICATED")  # MLflow's shape
            assert "api key" in body["message"].lower()
            assert answer.headers["connection"] == "close" and answer.closed, (method, rule.path)
            checked += 1
    assert checked >= 120  # the whole API, not a sample


def test_a_wrong_key_or_cookie_is_refused_before_the_body_too(server):
    for headers in ({"apikey": "dmk_" + uuid.uuid4().hex}, {"Authorization": "Bearer nope"},
                    {"Cookie": "datamint_session=" + uuid.uuid4().hex}):
        answer = send_head_only(server.url, "POST", "/resources",
                                {**headers, "Content-Type": MULTIPART, "Content-Length": str(HUGE)})
        assert answer.status == 401 and answer.closed, headers


def test_a_cookie_write_without_csrf_is_refused_before_the_body(server):
    signed = httpx.post(f"{server.url}/auth/session", json={"api_key": server.admin_key})
    assert signed.status_code == 201
    cookie = signed.cookies["datamint_session"]
    answer = send_head_only(server.url, "POST", "/projects", {"Cookie": f"datamint_session={cookie}",
                                                              "Content-Type": "application/json",
                                                              "Content-Length": str(HUGE)})
    assert answer.status == 403 and "csrf" in json.loads(answer.body)["message"].lower()
    assert answer.closed


def test_an_anonymous_chunked_body_is_not_read(server):
    """Chunked: the 401 comes while the client is still sending; the server read at most a small bound."""
    answer, sent = send_chunked_until_answer(server.url, "POST", "/projects", {"Content-Type": MULTIPART},
                                             b"\0" * 65536, max_bytes=64 * 1024 * 1024)
    assert answer is not None and answer.status == 401
    assert sent < 16 * 1024 * 1024, f"the client could push {sent} bytes before the answer"


def test_a_small_anonymous_body_is_drained_and_the_connection_kept(server):
    """A client that sends its small body before reading gets the 401 on a reusable connection."""
    with httpx.Client(base_url=server.url) as client:
        first = client.post("/projects", json={"name": "x"})
        assert first.status_code == 401 and first.headers.get("connection") != "close"
        assert client.get("/health").status_code == 200


def test_an_anonymous_upload_leaves_nothing_on_disk(server):
    spool = server.data_dir / "blobs" / ".tmp"
    before = sorted(p.name for p in server.data_dir.rglob("*") if p.is_file())
    files = {"resource": ("big.dcm", b"\0" * (3 * 1024 * 1024), "application/dicom")}
    response = httpx.post(f"{server.url}/resources", files=files, data={"channel": "x"})
    assert response.status_code == 401
    after = sorted(p.name for p in server.data_dir.rglob("*") if p.is_file())
    assert [n for n in after if n not in before and not n.endswith(("-wal", "-shm", ".log"))] == []
    assert list(spool.glob("*.part")) == []


def test_content_type_does_not_lift_the_limit_of_a_json_route(server):
    limit = server.app.state.settings.max_json_bytes
    answer = send_head_only(server.url, "POST", "/projects", {"apikey": server.admin_key, "Content-Type": MULTIPART,
                                                              "Content-Length": str(limit * 4)})
    assert answer.status == 413 and answer.closed
    assert json.loads(answer.body)["message"] == "Request body too large: the limit is 32 MiB for this route"


def test_routes_without_a_body_take_a_small_one_only(server):
    small = server.app.state.settings.max_small_body_bytes
    for method, path in (("DELETE", f"/resources/{uuid.uuid4()}"), ("GET", "/projects"),
                         ("POST", f"/projects/{uuid.uuid4()}/restore")):
        answer = send_head_only(server.url, method, path, {"apikey": server.admin_key, "Content-Type": MULTIPART,
                                                           "Content-Length": str(HUGE)})
        assert answer.status == 413, (method, path)
        assert json.loads(answer.body)["message"] == (f"Request body too large: the limit is {small // 1024:g} KiB "
                                                      "for this route")


def test_chunked_bodies_are_cut_at_the_route_limit(server):
    answer, sent = send_chunked_until_answer(server.url, "POST", "/auth/session",
                                             {"Content-Type": "application/json"}, b" " * 16384,
                                             max_bytes=8 * 1024 * 1024)
    assert answer is not None and answer.status == 413 and answer.closed
    assert sent < 8 * 1024 * 1024


def test_a_body_nobody_reads_closes_the_connection(server):
    """A route that answers without reading the body (here a 404) does not keep receiving it."""
    answer, sent = send_chunked_until_answer(server.url, "DELETE", f"/resources/{uuid.uuid4()}",
                                             {"apikey": server.admin_key}, b"x" * 16384, max_bytes=64 * 1024 * 1024)
    assert answer is not None and answer.status == 404
    assert answer.headers["connection"] == "close" and answer.closed
    assert sent < 16 * 1024 * 1024


def test_routes_without_a_caller_take_a_small_body_only(server):
    small = server.app.state.settings.max_small_body_bytes
    for path in ("/auth/session", "/invitations/accept", "/invitations/describe"):
        answer = send_head_only(server.url, "POST", path, {"Content-Type": "application/json",
                                                           "Content-Length": str(small * 16)})
        assert answer.status == 413 and answer.closed, path
    padded = {"email": "a@b.test", "password": "x" * (small + 10)}
    assert httpx.post(f"{server.url}/auth/session", json=padded).status_code == 413


def test_large_headers_are_431(server):
    response = httpx.get(f"{server.url}/health", headers={"x-padding": "a" * (33 * 1024)})
    assert response.status_code == 431
    assert response.json()["code"] == "request_header_fields_too_large"
    assert httpx.get(f"{server.url}/health", headers={"x-padding": "a" * 8000}).status_code == 200


def _form_with_fields(count: int, size: int) -> dict[str, str]:
    return {f"field{i}": "v" * size for i in range(count)}


def test_an_upload_form_has_a_cap_on_its_text_fields(server):
    settings = server.app.state.settings
    files = {"resource": ("a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")}
    headers = {"apikey": server.admin_key}
    before = httpx.get(f"{server.url}/resources", headers=headers, params={"limit": 1}).json()["totalCount"]
    many = httpx.post(f"{server.url}/resources", headers=headers, files=files,
                      data=_form_with_fields(settings.max_form_fields + 1, 1))
    assert many.status_code == 413 and "max_form_fields" in many.json()["message"]
    size = 1024 * 1024  # each under the 2 MiB per-field cap; together above max_form_text_kb (4 MiB)
    heavy = httpx.post(f"{server.url}/resources", headers=headers, files=files, data=_form_with_fields(5, size))
    assert heavy.status_code == 413 and "max_form_text_kb" in heavy.json()["message"]
    after = httpx.get(f"{server.url}/resources", headers=headers, params={"limit": 1}).json()["totalCount"]
    assert after == before


def test_forms_fastapi_parses_have_a_field_cap_too(server):
    settings = server.app.state.settings
    rid = str(uuid.uuid4())
    response = httpx.post(f"{server.url}/annotations/{rid}/segmentations/file", headers={"apikey": server.admin_key},
                          files={"file": ("m.nii.gz", b"\0" * 10)},
                          data=_form_with_fields(settings.max_form_fields + 1, 1))
    assert response.status_code == 400 and "fields" in response.json()["message"].lower()


def test_the_route_table_covers_the_api():
    """Built from the app: routes with CurrentUser need a caller; uploads are the upload kind; no
    route without a caller takes more than the small limit."""
    import tempfile
    from pathlib import Path

    from datamint.server.app import create_app
    from datamint.server.config import Settings

    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    app = create_app(settings)
    table = RouteTable.from_app(app, settings)
    by_route = {(method, rule.path): rule for rule in table for method in rule.methods}
    for key in (("POST", "/resources"), ("POST", "/dicomweb/studies"), ("POST", "/dicomweb/studies/{study_uid}"),
                ("POST", "/annotations/{resource_id}/segmentations/file")):
        assert by_route[key].kind == "upload" and by_route[key].limit == settings.max_upload_bytes, key
    assert by_route[("POST", "/projects")].kind == "json"
    # MLflow's REST API and artifact proxy authenticate themselves: marked, so the gate does it first
    artifacts = by_route[("PUT", "/api/2.0/mlflow-artifacts/{rest:path}")]
    assert artifacts.authenticated and artifacts.kind == "upload" and artifacts.errors is not None
    assert by_route[("POST", "/api/2.0/mlflow/{rest:path}")].kind == "json"
    assert by_route[("GET", "/api/3.0/mlflow/server-info")].authenticated
    assert by_route[("GET", "/jobs/{job_id}/stream")].authenticated
    assert by_route[("GET", "/auth/session")].authenticated and not by_route[("POST", "/auth/session")].authenticated
    for rule in table:
        if not rule.authenticated:
            assert rule.limit == settings.max_small_body_bytes, rule
    assert table.match("POST", "/no/such/route").limit == settings.max_small_body_bytes

    def linear(method: str, path: str):  # what the indexed lookup must agree with
        for regex, rule in table.rules:
            if regex.match(path) and (not rule.methods or method in rule.methods
                                      or (method == "HEAD" and "GET" in rule.methods)):
                return rule
        return table.fallback

    paths = [_concrete(rule.path) for rule in table] + ["/", "/assets/app.js", "/app/a/b", "/nope", "/users/me"]
    for path in paths:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            assert table.match(method, path) == linear(method, path), (method, path)
    app.state.database.dispose()


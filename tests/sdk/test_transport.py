"""The SDK's own transport code: retries, backoff, error mapping and paging (httpx.MockTransport)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

import datamint.api.base_api as base_api
from datamint.api.base_api import ApiConfig, BaseApi, items_from, retry_delay, should_retry
from datamint.exceptions import (
    AuthenticationError,
    DatamintException,
    EntityAlreadyExistsError,
    ItemNotFoundError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch):
    monkeypatch.setattr(base_api.time, "sleep", lambda _s: None)


def make_api(handler, max_retries: int = 3) -> BaseApi:
    config = ApiConfig("http://test.local", api_key="k", max_retries=max_retries)
    client = httpx.Client(base_url=config.server_url, transport=httpx.MockTransport(handler))
    return BaseApi(config, client)


def test_get_is_retried_on_503_until_success():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503 if len(calls) < 3 else 200, json={"ok": True})

    assert make_api(handler)._request("GET", "/x").json() == {"ok": True}
    assert len(calls) == 3


def test_post_is_not_retried_on_503():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, json={"message": "busy", "request_id": "r-1"})

    with pytest.raises(ServerError) as info:
        make_api(handler)._request("POST", "/x", json={})
    assert len(calls) == 1
    assert info.value.status_code == 503 and info.value.request_id == "r-1"


def test_429_is_retried_for_post_and_gives_up_after_max_retries():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow down"})

    with pytest.raises(RateLimitError) as info:
        make_api(handler, max_retries=2)._request("POST", "/x", json={})
    assert len(calls) == 3
    assert info.value.retry_after == 0


def test_connection_errors_are_retried_then_become_network_error():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(NetworkError, match="Could not reach"):
        make_api(handler, max_retries=2)._request("POST", "/x")
    assert len(calls) == 3


def test_max_retries_zero_means_one_attempt():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(502)

    with pytest.raises(ServerError):
        make_api(handler, max_retries=0)._request("GET", "/x")
    assert len(calls) == 1


@pytest.mark.parametrize(("status", "exc"), [
    (400, ValidationError), (401, AuthenticationError), (403, PermissionDeniedError),
    (404, ItemNotFoundError), (409, EntityAlreadyExistsError), (413, ValidationError),
    (422, ValidationError), (500, ServerError),
])
def test_status_codes_map_to_seed_exceptions(status, exc):
    def handler(request):
        return httpx.Response(status, json={"message": f"thing went wrong {status}", "request_id": "rid-9"},
                              headers={"x-request-id": "rid-9"})

    with pytest.raises(exc) as info:
        make_api(handler, max_retries=0)._request("GET", "/x")
    err = info.value
    assert isinstance(err, DatamintException) and isinstance(err, httpx.HTTPStatusError)
    assert err.status_code == status and err.request_id == "rid-9"
    assert err.server_message == f"thing went wrong {status}"
    assert "rid-9" in str(err) and str(status) in str(err)
    assert BaseApi.get_status_code(err) == status


def test_backoff_grows_and_honours_retry_after():
    assert retry_delay(0, "7") == 7.0
    assert retry_delay(0, "9999") == 60.0
    assert all(0 <= retry_delay(5) <= 16.0 for _ in range(50))
    assert max(retry_delay(6) for _ in range(200)) > max(retry_delay(0) for _ in range(200))


def test_retry_policy_table():
    assert should_retry("GET", 0, 3, status=503)
    assert not should_retry("POST", 0, 3, status=503)
    assert should_retry("POST", 0, 3, status=429)
    assert not should_retry("GET", 3, 3, status=503)
    assert not should_retry("GET", 0, 3, status=500)
    req = httpx.Request("POST", "http://x")
    assert should_retry("POST", 0, 3, error=httpx.ConnectError("x", request=req))
    assert not should_retry("POST", 0, 3, error=httpx.ReadTimeout("x", request=req))
    assert should_retry("GET", 0, 3, error=httpx.ReadTimeout("x", request=req))


@pytest.mark.parametrize("payload", [
    [{"id": 1}, {"id": 2}],
    {"data": [{"id": 1}, {"id": 2}], "totalCount": "2"},
    {"items": [{"id": 1}, {"id": 2}]},
    {"data": [{"resources": [{"id": 1}, {"id": 2}]}], "totalCount": 2},
])
def test_every_list_shape_is_understood(payload):
    assert [i["id"] for i in items_from(payload, "resources")] == [1, 2]


def test_unknown_list_shape_is_an_error():
    with pytest.raises(ValidationError):
        items_from({"unexpected": 1})


def test_paging_walks_until_a_short_page(monkeypatch):
    monkeypatch.setattr(base_api, "PAGE_LIMIT", 3)
    rows = list(range(7))
    seen = []

    def handler(request):
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        seen.append((offset, limit, request.url.params.get("status")))
        return httpx.Response(200, json={"data": rows[offset:offset + limit], "totalCount": len(rows)})

    api = make_api(handler)
    assert list(api._iter_items("/r", {"status": "inbox", "skip": None})) == rows
    assert seen == [(0, 3, "inbox"), (3, 3, "inbox"), (6, 3, "inbox")]
    seen.clear()
    assert list(api._iter_items("/r", limit=4)) == rows[:4]
    assert seen == [(0, 3, None), (3, 1, None)]


def test_post_search_paging_sends_offset_and_limit_as_strings(monkeypatch):
    import json

    monkeypatch.setattr(base_api, "PAGE_LIMIT", 2)
    bodies = []

    def handler(request):
        body = json.loads(request.content)
        bodies.append(body)
        start = int(body["offset"])
        return httpx.Response(200, json={"data": list(range(5))[start:start + int(body["limit"])]})

    assert list(make_api(handler)._iter_items("/s", method="POST", body={"resource_id": "r"})) == [0, 1, 2, 3, 4]
    assert bodies[0] == {"resource_id": "r", "offset": "0", "limit": "2"}
    assert all(isinstance(b["offset"], str) for b in bodies)


def test_auth_headers_are_sent():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json=[])

    config = ApiConfig("http://test.local/", api_key="secret-key")
    assert config.server_url == "http://test.local"
    api = BaseApi(config)
    api._client = httpx.Client(base_url=config.server_url, headers=api._headers(),
                               transport=httpx.MockTransport(handler))
    api._request("GET", "/projects")
    assert seen["apikey"] == "secret-key" and seen["authorization"] == "Bearer secret-key"


def test_web_app_url():
    assert ApiConfig("http://localhost:5000").web_app_url == "http://localhost:3000"
    assert ApiConfig("https://api.example.org").web_app_url == "https://app.example.org"


def test_sdk_does_not_import_the_server():
    code = ("import sys, datamint, datamint.api, datamint.entities, datamint.configs, datamint.cli.main, "
            "datamint.cli.config\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'sqlalchemy', 'starlette', 'alembic')"
            " or m.startswith('datamint.server')]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_requests_with_an_idempotency_key_are_retried_like_idempotent_ones():
    assert should_retry("POST", 0, 3, status=503, keyed=True)
    assert should_retry("POST", 0, 3, error=httpx.ReadTimeout("slow"), keyed=True)
    assert not should_retry("POST", 0, 3, error=httpx.ReadTimeout("slow"))
    assert not should_retry("POST", 3, 3, status=503, keyed=True)


def test_the_collector_is_paused_while_entities_are_built_and_restored_after():
    import gc

    assert gc.isenabled()
    with base_api.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), base_api.gc_paused():
        raise RuntimeError("a page failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with base_api.gc_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: left as it was
    finally:
        gc.enable()


def test_a_page_of_payloads_becomes_the_specialised_entities_in_order():
    import pydantic

    from datamint.entities.resource import Resource, resources_from_dicts
    from datamint.entities.resources import DICOMResource, ImageResource, NiftiResource

    base = {"location": "k", "status": "inbox", "created_at": "2026-11-01T09:00:00Z", "created_by": "u",
            "resource_uri": "/r", "upload_channel": "", "customer_id": "c", "published": False, "deleted": False,
            "projects": [{"id": "p", "name": "n"}]}
    payloads = [{**base, "id": "1", "storage": "DicomResource", "mimetype": "application/dicom", "filename": "a"},
                {**base, "id": "2", "storage": "ImageResource", "mimetype": "image/png", "filename": "b.png"},
                {**base, "id": "3", "storage": "", "mimetype": "application/octet-stream", "filename": "c.nii.gz"},
                {**base, "id": "4", "storage": "FileResource", "mimetype": "text/plain", "filename": "d.txt"}]
    built = resources_from_dicts(payloads)
    assert [type(r) for r in built] == [DICOMResource, ImageResource, NiftiResource, Resource]
    assert [r.id for r in built] == ["1", "2", "3", "4"] and built[0].projects == [{"id": "p", "name": "n"}]
    with pytest.raises(pydantic.ValidationError, match="filename"):
        resources_from_dicts([{k: v for k, v in payloads[0].items() if k != "filename"}])

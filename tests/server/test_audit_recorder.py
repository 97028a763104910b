"""The audit recorder on routes it has never seen: a download listed in AUDITED_READS is audited
once per successful call, and any new mutating route is audited without code of its own."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import Response

from datamint.server.app import create_app
from datamint.server.audit import recorder
from datamint.server.config import Settings
from datamint.server.deps import CurrentUser, SessionDep
from datamint.server.errors import NotFoundError
from datamint.server.projects.models import Dataset

from conftest import BACKENDS, own_database, serve_in_thread

KEY = f"dmk_test_{uuid.uuid4().hex}"


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"audit-{request.param}")
    with own_database(request.param, folder) as url:
        yield from _serve(folder, url)


def _serve(folder, database_url):  # type: ignore[no-untyped-def]
    app = create_app(Settings(data_dir=folder, admin_api_key=KEY, auth_failures_per_minute=1000, mlflow_warmup=False,
                              database_url=database_url))

    @app.get("/test-downloads/{resource_id}/file")
    def download_test_file(resource_id: str, session: SessionDep, me: CurrentUser) -> Response:
        if resource_id == "missing":
            raise NotFoundError("Resource")
        return Response(b"bytes", media_type="application/octet-stream")

    @app.get("/test-downloads/{resource_id}/meta")
    def read_test_meta(resource_id: str, session: SessionDep, me: CurrentUser) -> dict[str, str]:
        return {"id": resource_id}

    @app.post("/test-datasets", status_code=201)
    def create_test_dataset(session: SessionDep, me: CurrentUser) -> dict[str, str]:
        dataset = Dataset(customer_id=me.customer_id, name="t", description="", created_by=me.email)
        session.add(dataset)
        session.commit()
        return {"id": dataset.id}

    @app.post("/test-datasets/twice", status_code=201)
    def create_and_rename_test_dataset(session: SessionDep, me: CurrentUser) -> dict[str, str]:
        dataset = Dataset(customer_id=me.customer_id, name="first", description="", created_by=me.email)
        session.add(dataset)
        session.commit()
        dataset.name = "second"
        session.commit()
        return {"id": dataset.id}

    url, server, thread = serve_in_thread(app)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    app.state.database.dispose()


def _events(url: str, **params: str) -> list[dict]:
    response = httpx.get(f"{url}/audit-events", params=params, headers={"apikey": KEY})
    response.raise_for_status()
    return response.json()["data"]


def test_listed_downloads_are_audited_once_per_success(live, monkeypatch):
    monkeypatch.setattr(recorder, "AUDITED_READS",
                        recorder.AUDITED_READS | {"GET /test-downloads/{resource_id}/file"})
    rid = str(uuid.uuid4())
    for _ in range(2):
        assert httpx.get(f"{live}/test-downloads/{rid}/file", headers={"apikey": KEY}).content == b"bytes"
    assert httpx.get(f"{live}/test-downloads/missing/file", headers={"apikey": KEY}).status_code == 404
    assert httpx.get(f"{live}/test-downloads/{rid}/meta", headers={"apikey": KEY}).status_code == 200

    events = _events(live, entity_id=rid)
    assert [e["action"] for e in events] == ["download_test_file", "download_test_file"]
    assert events[0]["entity_type"] == "resource" and events[0]["method"] == "GET"
    assert events[0]["details"] == {"params": {"resource_id": rid}}
    assert not _events(live, entity_id="missing")


def test_a_new_mutating_route_is_audited_without_code(live):
    response = httpx.post(f"{live}/test-datasets", headers={"apikey": KEY, "x-request-id": "new-route-0001"})
    assert response.status_code == 201
    events = _events(live, request_id="new-route-0001")
    assert len(events) == 1
    assert events[0]["action"] == "create_test_dataset"
    assert (events[0]["entity_type"], events[0]["entity_id"]) == ("dataset", response.json()["id"])
    assert events[0]["status"] == 201


def test_entity_type_names():
    assert recorder.entity_type_of(Dataset()) == "dataset"
    from datamint.server.auth.models import ApiKey
    from datamint.server.projects.models import ProjectMember

    assert recorder.entity_type_of(ApiKey()) == "api_key"
    assert recorder.entity_type_of(ProjectMember()) == "project_member"


def test_a_route_committing_twice_keeps_one_event(live):
    headers = {"apikey": KEY, "x-request-id": "twice-0000001"}
    response = httpx.post(f"{live}/test-datasets/twice", headers=headers)
    assert response.status_code == 201
    events = _events(live, request_id="twice-0000001")
    assert len(events) == 1
    assert sorted(c["op"] for c in events[0]["details"]["changes"]) == ["create", "update"]

"""Issue 17: ``POST /resources/batch`` stores many files in one request, each on its own terms.

Each file of a batch is stored or refused alone (a bad file among good ones leaves nothing), keeps
its own idempotency key (a retried batch stores nothing twice) and its duplicate handling; the SDK
sends ``upload_resources(assemble_dicoms=False)`` this way, and falls back to one request per file
against a server that has no batch route.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from fastapi.responses import JSONResponse
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from datamint import Api
from datamint.api._upload import send
from datamint.server.audit.models import AuditEvent
from datamint.server.resources.models import Resource, UploadIdempotency, UploadIntent
from fixtures.files import make_ct_slice, to_bytes

from conftest import LiveServer, own_database, start_server
from rawhttp import send_head_only

HUGE = 400 * 1024 * 1024


def _slices(n: int, size: int = 16) -> list[bytes]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    return [to_bytes(make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=size))
            for i in range(n)]


def _post(server: LiveServer, files: list[tuple[str, bytes]], manifest: list[dict] | None = None,
          key: str | None = None, **fields: str) -> httpx.Response:
    parts = [("resources", (name, data, "application/dicom")) for name, data in files]
    data = dict(fields)
    if manifest is not None:
        data["files"] = json.dumps(manifest)
    return httpx.post(f"{server.url}/resources/batch", headers={"apikey": key or server.admin_key},
                      files=parts, data=data, timeout=120)


def _count(server: LiveServer, model, *where) -> int:  # type: ignore[no-untyped-def]
    with server.database.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _blobs(server: LiveServer) -> int:
    return sum(1 for p in (server.data_dir / "blobs").rglob("*") if p.is_file() and ".tmp" not in p.parts)


def test_a_batch_stores_every_file_with_its_fields(server):
    channel = f"batch-{uuid.uuid4().hex[:8]}"
    files = [(f"s{i}.dcm", data) for i, data in enumerate(_slices(3))]
    manifest = [{"tags": [f"own{i}"], "metadata": {"n": i}, "source_filepath": f"/scans/s{i}.dcm",
                 "idempotency_key": str(uuid.uuid4())} for i in range(3)]
    answer = _post(server, files, manifest, channel=channel, tags="shared", bypass_inbox="true")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["index"], i["status"]) for i in items] == [(0, 201), (1, 201), (2, 201)]
    for i, item in enumerate(items):
        resource = item["resource"]
        assert resource["filename"] == f"s{i}.dcm" and resource["mimetype"] == "application/dicom"
        assert resource["tags"] == ["shared", f"own{i}"]
        assert resource["metadata"]["n"] == i and resource["metadata"]["Modality"] == "CT"
        assert resource["source_filepath"] == f"/scans/s{i}.dcm"
        assert resource["upload_channel"] == channel and resource["status"] == "published"
        assert resource["duplicate_of"] is None
        stored = httpx.get(f"{server.url}/resources/{resource['id']}", headers={"apikey": server.admin_key}).json()
        assert stored["tags"] == ["shared", f"own{i}"] and stored["modality"] == "CT"
        body = httpx.get(f"{server.url}/resources/{resource['id']}/file", headers={"apikey": server.admin_key})
        assert body.content == files[i][1]
        original = pydicom.dcmread(io.BytesIO(files[i][1]))
        np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(body.content)).pixel_array, original.pixel_array)
    ids = [item["resource"]["id"] for item in items]
    with server.database.session() as session:  # one audit event names the resources it created
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "upload_batch")
                                .order_by(AuditEvent.at.desc()).limit(1)).one()
        created = {c["id"] for c in event.details["changes"] if c["type"] == "resource"}
    assert created == set(ids)


def test_a_bad_file_fails_alone_and_leaves_nothing(server):
    good = _slices(2)
    truncated = good[0][: len(good[0]) - 100]
    fake = b"this is not a DICOM file at all" * 10
    intents, blobs = _count(server, UploadIntent), _blobs(server)
    names = [f"{uuid.uuid4().hex}.dcm" for _ in range(4)]
    answer = _post(server, [(names[0], good[0]), (names[1], truncated), (names[2], good[1]), (names[3], fake)])
    items = answer.json()["items"]
    assert [i["status"] for i in items] == [201, 422, 201, 415], items
    assert "truncated" in items[1]["error"]["message"] and names[1] in items[1]["error"]["message"]
    assert items[3]["error"]["code"] == "unsupported_media_type"
    for i, name in enumerate(names):
        assert _count(server, Resource, Resource.filename == name) == (1 if i in (0, 2) else 0)
    assert _count(server, UploadIntent) == intents
    assert _blobs(server) == blobs + 2


def test_files_past_the_memory_budget_are_stored_whole(server, monkeypatch):
    """receive.MEMORY_BUDGET (made small here: the server runs in this process) spools the later
    files of the request; each stored file is byte for byte the one sent, whichever way it came."""
    from datamint.server.resources import receive

    slices = _slices(6, size=32)
    monkeypatch.setattr(receive, "MEMORY_BUDGET", 2 * max(len(s) for s in slices))
    intents, blobs = _count(server, UploadIntent), _blobs(server)
    answer = _post(server, [(f"{uuid.uuid4().hex}.dcm", data) for data in slices])
    items = answer.json()["items"]
    assert [i["status"] for i in items] == [201] * 6, items
    for item, data in zip(items, slices, strict=True):
        stored = httpx.get(f"{server.url}/resources/{item['resource']['id']}/file",
                           headers={"apikey": server.admin_key})
        assert stored.status_code == 200 and stored.content == data
    assert _count(server, UploadIntent) == intents
    assert _blobs(server) == blobs + 6


def test_the_manifest_type_decides_when_it_differs_from_the_parts(server):
    """A file is checked against the type its manifest entry declares, not its part's Content-Type."""
    names = [f"{uuid.uuid4().hex}.bin" for _ in range(2)]
    content = b"plain bytes, no signature of any format" * 4
    parts = [("resources", (name, content, "application/octet-stream")) for name in names]
    manifest = [{"mimetype": "application/octet-stream"}, {"mimetype": "application/dicom"}]
    answer = httpx.post(f"{server.url}/resources/batch", headers={"apikey": server.admin_key}, files=parts,
                        data={"files": json.dumps(manifest)}, timeout=60)
    items = answer.json()["items"]
    assert [i["status"] for i in items] == [201, 415], items
    assert items[0]["resource"]["mimetype"] == "application/octet-stream"
    assert items[1]["error"]["code"] == "unsupported_media_type" and names[1] in items[1]["error"]["message"]
    assert "application/dicom" in items[1]["error"]["message"]
    assert _count(server, Resource, Resource.filename == names[1]) == 0


def test_a_batch_without_a_key_is_refused_before_its_body(server):
    answer = send_head_only(server.url, "POST", "/resources/batch",
                            {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(HUGE)})
    assert answer.status == 401 and answer.closed


def test_a_retried_batch_stores_nothing_twice(server):
    files = [(f"{uuid.uuid4().hex}.dcm", data) for data in _slices(3)]
    manifest = [{"idempotency_key": str(uuid.uuid4())} for _ in files]
    first = _post(server, files, manifest).json()["items"]
    blobs = _blobs(server)
    again = _post(server, files, manifest).json()["items"]
    assert [i["status"] for i in again] == [201, 201, 201]
    assert [i["resource"]["id"] for i in again] == [i["resource"]["id"] for i in first]
    for name, _ in files:
        assert _count(server, Resource, Resource.filename == name) == 1
    assert _blobs(server) == blobs
    # one key reused for another file: that file is refused, the others of the batch are stored
    other = _slices(1)[0]
    mixed = _post(server, [files[0], ("new.dcm", other)], [manifest[1], {"idempotency_key": str(uuid.uuid4())}])
    statuses = [i["status"] for i in mixed.json()["items"]]
    assert statuses == [422, 201] and "different file" in mixed.json()["items"][0]["error"]["message"]
    # a key used twice in one batch: the later file is refused
    twice = str(uuid.uuid4())
    dup = _post(server, [("a.dcm", _slices(1)[0]), ("b.dcm", _slices(1)[0])],
                [{"idempotency_key": twice}, {"idempotency_key": twice}]).json()["items"]
    assert [i["status"] for i in dup] == [201, 422]
    assert _count(server, UploadIdempotency, UploadIdempotency.idem_key == twice) == 1


def test_a_key_reused_with_other_fields_is_refused_for_its_file(server):
    """A file of a batch whose key was used with other fields (here its own tags, then the batch's
    channel) is refused (422), and only that file: the others are stored."""
    files = [(f"{uuid.uuid4().hex}.dcm", data) for data in _slices(2)]
    key = str(uuid.uuid4())
    first = _post(server, files[:1], [{"idempotency_key": key, "tags": ["x"]}], channel="c1").json()["items"]
    assert first[0]["status"] == 201
    message = ("This Idempotency-Key was already used for this file with other fields; send each upload with a "
               "key of its own")
    replay = _post(server, files[:1], [{"idempotency_key": key, "tags": ["x"]}], channel="c1").json()["items"]
    assert replay[0]["status"] == 201 and replay[0]["resource"]["id"] == first[0]["resource"]["id"]
    for tags, channel in ((["y"], "c1"), (["x"], "c2")):
        manifest = [{"idempotency_key": key, "tags": tags}, {"idempotency_key": str(uuid.uuid4())}]
        again = _post(server, files, manifest, channel=channel).json()["items"]
        assert [i["status"] for i in again] == [422, 201]
        assert again[0]["error"]["message"] == message
    assert _count(server, Resource, Resource.filename == files[0][0]) == 1
    stored = httpx.get(f"{server.url}/resources/{first[0]['resource']['id']}",
                       headers={"apikey": server.admin_key}).json()
    assert (stored["tags"], stored["upload_channel"]) == (["x"], "c1")


@contextmanager
def _key_refused(server: LiveServer, key: str) -> Iterator[None]:
    """The database refuses ``key`` as taken (unique violation), as when another request commits
    it between the batch's key check and its insert: a trigger on ``upload_idempotency``."""
    name = f"refuse_{uuid.uuid4().hex[:12]}"
    if server.backend == "sqlite":
        create = [f"CREATE TRIGGER {name} BEFORE INSERT ON upload_idempotency WHEN NEW.idem_key = '{key}' "
                  "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: upload_idempotency.idem_key'); END"]
        drop = [f"DROP TRIGGER {name}"]
    else:
        create = [f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "RAISE EXCEPTION 'duplicate key' USING ERRCODE = 'unique_violation'; END $$",
                  f"CREATE TRIGGER {name} BEFORE INSERT ON upload_idempotency FOR EACH ROW "
                  f"WHEN (NEW.idem_key = '{key}') EXECUTE FUNCTION {name}()"]
        drop = [f"DROP TRIGGER {name} ON upload_idempotency", f"DROP FUNCTION {name}()"]
    with server.database.engine.begin() as conn:
        for statement in create:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        with server.database.engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)


def test_after_a_failed_batch_insert_duplicate_of_names_a_stored_resource(server):
    """A key refused at the batch's insert sends its files one by one. A file whose earlier twin in
    the batch could not be stored names no copy; one whose twin was stored alone names that."""
    x, y = _slices(2)
    refused, kept = str(uuid.uuid4()), str(uuid.uuid4())
    names = [f"{uuid.uuid4().hex}.dcm" for _ in range(4)]
    intents, blobs = _count(server, UploadIntent), _blobs(server)
    with _key_refused(server, refused):
        answer = _post(server, list(zip(names, [x, x, y, y], strict=True)),
                       [{"idempotency_key": refused}, {}, {"idempotency_key": kept}, {}])
    items = answer.json()["items"]
    assert [i["status"] for i in items] == [409, 201, 201, 201], items
    assert items[1]["resource"]["duplicate_of"] is None
    assert items[3]["resource"]["duplicate_of"] == items[2]["resource"]["id"]
    for i, name in enumerate(names):
        assert _count(server, Resource, Resource.filename == name) == (0 if i == 0 else 1)
    twin = httpx.get(f"{server.url}/resources/{items[3]['resource']['duplicate_of']}",
                     headers={"apikey": server.admin_key})
    assert twin.status_code == 200 and twin.json()["filename"] == names[2]
    assert _count(server, UploadIdempotency, UploadIdempotency.idem_key == kept,
                  UploadIdempotency.duplicate_of.is_(None)) == 1
    assert _count(server, UploadIntent) == intents
    assert _blobs(server) == blobs + 3


def test_duplicates_in_a_batch(server):
    data = _slices(2)
    single = httpx.post(f"{server.url}/resources", headers={"apikey": server.admin_key}, timeout=60,
                        files={"resource": ("first.dcm", data[0], "application/dicom")})
    earlier = single.json()["id"]
    fresh = _slices(1)[0]
    skip = _post(server, [("a.dcm", data[0]), ("b.dcm", fresh), ("c.dcm", fresh)], on_duplicate="skip")
    items = skip.json()["items"]
    assert [i["status"] for i in items] == [200, 201, 200]
    assert items[0]["resource"]["id"] == earlier and items[0]["resource"]["duplicate_of"] == earlier
    assert items[2]["resource"]["id"] == items[1]["resource"]["id"] == items[2]["resource"]["duplicate_of"]
    assert _count(server, Resource, Resource.content_sha256 == items[1]["resource"]["content_sha256"]) == 1
    keep = _post(server, [("d.dcm", data[1]), ("e.dcm", data[1])], on_duplicate="keep").json()["items"]
    assert [i["status"] for i in keep] == [201, 201]
    assert keep[1]["resource"]["duplicate_of"] == keep[0]["resource"]["id"] != keep[1]["resource"]["id"]


def test_the_batch_checks_its_shared_fields_first(server):
    refused = _post(server, [("a.dcm", _slices(1)[0])], project_id=str(uuid.uuid4()))
    assert refused.status_code == 404 and "not found" in refused.json()["message"]
    wrong = _post(server, [("a.dcm", _slices(1)[0])], manifest=[{}, {}])
    assert wrong.status_code == 422 and "one object per file" in wrong.json()["message"]
    assert httpx.get(f"{server.url}/resources/batch", headers={"apikey": server.admin_key}).json()["max_files"] == 200


def test_a_hostile_manifest_is_refused_and_stores_nothing(server):
    before = _count(server, Resource), _blobs(server)
    one = [("a.dcm", _slices(1)[0])]
    for raw, said in [('[{"metadata": {"x": NaN}}]', "NaN"), ("[" * 5000 + "]" * 5000, "nested deeper"),
                      ('[{"tags": ["a\\u0000b"]}]', "NUL"), ('[{"modality": "\\ud800"}]', "surrogate"),
                      # tags that are not strings were stored as Python's text of them ('None', "{'a': 1}")
                      ('[{"tags": [null]}]', "tags must be a list of strings"),
                      ('[{"tags": ["ok", {"a": 1}]}]', "tags must be a list of strings"),
                      ('[{"tags": [true, 5]}]', "tags must be a list of strings")]:
        parts = [("resources", (name, data, "application/dicom")) for name, data in one]
        answer = httpx.post(f"{server.url}/resources/batch", headers={"apikey": server.admin_key}, files=parts,
                            data={"files": raw}, timeout=60)
        assert answer.status_code == 422, (raw[:40], answer.text)
        assert said.lower() in answer.json()["message"].lower(), answer.json()["message"]
    assert (_count(server, Resource), _blobs(server)) == before


def test_anonymize_and_project_apply_to_every_file(server, api):
    project = api.projects.create(f"batch-{uuid.uuid4().hex[:8]}", description="batch")
    answer = _post(server, [("a.dcm", _slices(2)[0]), ("b.dcm", _slices(2)[1])], anonymize="true",
                   project_id=project.id)
    items = answer.json()["items"]
    assert [i["status"] for i in items] == [201, 201]
    for item in items:
        assert item["resource"]["projects"] == [{"id": project.id, "name": project.name}]
        body = httpx.get(f"{server.url}/resources/{item['resource']['id']}/file",
                         headers={"apikey": server.admin_key}).content
        assert "Doe" not in str(pydicom.dcmread(io.BytesIO(body)).get("PatientName", ""))
    assert sorted(r.id for r in api.projects.get_project_resources(project.id)) == \
        sorted(i["resource"]["id"] for i in items)


def test_the_sdk_sends_files_in_batches(server, api, tmp_path: Path):
    paths = []
    for i, data in enumerate(_slices(5)):
        paths.append(tmp_path / f"{uuid.uuid4().hex}-{i}.dcm")
        paths[-1].write_bytes(data)
    channel = f"sdk-{uuid.uuid4().hex[:8]}"
    ids = api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=False, channel=channel,
                                         tags=["t"], metadata=[{"i": i} for i in range(5)])
    assert len(set(ids)) == 5
    with server.database.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "upload_batch")).all()
        batched = {c["id"] for e in events for c in e.details.get("changes", []) if c["type"] == "resource"}
        rows = {r.id: r for r in session.scalars(select(Resource).where(Resource.id.in_(list(ids))))}
    assert set(ids) <= batched
    assert [rows[i].file_metadata["i"] for i in ids] == list(range(5))
    assert {rows[i].upload_channel for i in ids} == {channel}
    again = api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=False, on_duplicate="skip")
    assert list(again) == list(ids) and all(r.skipped for r in again)


@pytest.fixture
def server_without_batches(server: LiveServer, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A real server of the same backend that answers ``/resources/batch`` as a server without
    the batch routes does: ``GET`` falls to ``GET /resources/{resource_id}`` (404), ``POST`` to no
    route (405). Everything else is the real application."""
    def older(app):  # type: ignore[no-untyped-def]
        async def serve(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http" and scope["path"] == "/resources/batch":
                get = scope["method"] == "GET"
                answer = JSONResponse({"message": "Resource not found" if get else "Method Not Allowed",
                                       "code": "not_found" if get else "method_not_allowed"},
                                      status_code=404 if get else 405)
                await answer(scope, receive, send)
                return
            await app(scope, receive, send)
        return serve

    yield from _serve_wrapped(request, server.backend, tmp_path, older)


def _serve_wrapped(request: pytest.FixtureRequest, backend: str, folder: Path,
                   wrap) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A fresh server of ``backend`` (its own database) whose application is seen through ``wrap``."""
    with own_database(backend, folder) as database_url:
        yield from start_server(backend, request, folder, wrap=wrap, database_url=database_url)


def test_the_sdk_falls_back_to_one_file_per_request(server_without_batches, tmp_path: Path):
    old = server_without_batches
    assert httpx.get(f"{old.url}/resources/batch", headers={"apikey": old.admin_key}).status_code == 404
    paths = []
    for i, data in enumerate(_slices(4)):
        paths.append(tmp_path / f"f{i}.dcm")
        paths[-1].write_bytes(data)
    with Api(old.url, old.admin_key) as api:
        ids = api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=False, tags=["x"])
    assert len(set(ids)) == 4
    with old.database.session() as session:
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id.in_(list(ids)))))
        assert session.scalar(select(func.count()).select_from(Resource)) == 4
    assert actions == {"upload_resource"}


@pytest.fixture
def server_noting_connections(server: LiveServer, tmp_path: Path,
                              request: pytest.FixtureRequest) -> Iterator[tuple[LiveServer, list[int]]]:
    """A real server of the same backend that notes the client port of every batch upload."""
    ports: list[int] = []

    def noting(app):  # type: ignore[no-untyped-def]
        async def serve(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http" and scope["path"] == "/resources/batch" and scope["method"] == "POST":
                ports.append(scope["client"][1])
            await app(scope, receive, send)
        return serve

    for live in _serve_wrapped(request, server.backend, tmp_path, noting):
        yield live, ports


def test_the_sdk_sends_each_batch_on_a_new_connection(server_noting_connections, tmp_path: Path):
    """A server with several workers hands each new connection to a free worker; kept connections
    would stay with the worker that accepted them."""
    live, ports = server_noting_connections
    batches = send.BATCH_CONCURRENCY + 2  # more than are in flight at once: kept connections would be reused
    count = batches * send.BATCH_FILES
    paths = []
    for i, data in enumerate(_slices(count, size=8)):
        paths.append(tmp_path / f"c{i}.dcm")
        paths[-1].write_bytes(data)
    with Api(live.url, live.admin_key) as api:
        ids = api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=False)
    assert len(set(ids)) == count
    assert len(ports) == batches and len(set(ports)) == batches

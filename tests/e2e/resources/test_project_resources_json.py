"""``GET /projects/{id}/resources`` sends the JSON the database writes (``resources.wire_json``):
the same objects, in the same order (oldest first, ties by id), as the Python wire dicts of the
project's live rows (``wire.to_wire_many`` of ``repository.project_resources``), on both backends:
tags in their order, several projects, deleted resources left out, the ``label_status`` filter,
an empty project, another organization's project (404), a project larger than one JSON chunk.
The datasets' live listing sends the same body.

Both listings are streamed (chunked, no ``Content-Length``): the body is byte for byte the one the
route built in memory before (the database's JSON of the project's live ids, in order, joined),
over several chunks; what can fail answers before the stream starts (an error envelope with its
``Content-Length``); the resources listed are those of the moment the route read the ids."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import update

from datamint import Api
from datamint.server.auth.service import authenticate
from datamint.server.quality.models import LabelStatus
from datamint.server.resources import membership, wire, wire_json
from datamint.server.resources import repository as repo
from datamint.server.resources.models import ProjectResource, Resource, ResourceTag

from conftest import unique

METADATA = {"width": 512, "spacing": [0.1, 1e-05, 2.5e16], "note": 'é "q" \\ \n\t🩻', "nested": {"none": None}}


@pytest.fixture
def org(server):
    """(SDK, httpx client, principal) of a fresh organization's admin."""
    key = server.new_org()
    with server.database.transaction() as session:
        me = authenticate(session, key)
    with Api(server.url, key) as api, httpx.Client(base_url=server.url, headers={"apikey": key}) as http:
        yield api, http, me


def _insert(server, me, count: int, **values: object) -> list[str]:
    """``count`` resource rows of ``me``'s organization (created one second apart unless
    ``created_at`` is given); their ids."""
    start = datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=timezone.utc)
    rows = []
    for i in range(count):
        rid = str(uuid.uuid4())
        rows.append(Resource(**{
            "id": rid, "customer_id": me.customer_id, "storage": "DicomResource", "location": f"k/{rid}",
            "filename": f"scan {i}.dcm", "mimetype": "application/dicom", "size": 10 + i, "status": "inbox",
            "created_by": me.email, "created_by_id": me.user_id, "created_at": start + timedelta(seconds=i),
            "file_metadata": METADATA, **values}))
    with server.database.transaction() as session:
        session.add_all(rows)
    return [r.id for r in rows]


def _add(server, me, project_id: str, ids: list[str]) -> None:
    with server.database.transaction() as session:
        session.add_all([ProjectResource(project_id=project_id, resource_id=rid, added_by=me.email) for rid in ids])


def _expected(server, project_id: str, keep: set[str] | None = None) -> list[dict]:
    """What the route built before: the wire dicts of the project's live rows, in their order."""
    with server.database.transaction() as session:
        rows = [r for r in repo.project_resources(session, project_id) if keep is None or r.id in keep]
        return json.loads(json.dumps(wire.to_wire_many(session, rows)))


def _same(body: list[dict], expected: list[dict]) -> None:
    assert [r["id"] for r in body] == [r["id"] for r in expected]
    for got, want in zip(body, expected, strict=True):
        assert list(got) == list(want)  # same fields, same order
        assert got == want


def test_the_body_equals_the_wire_dicts_in_order(server, org):
    api, http, me = org
    project, other = api.projects.create(unique("p"), "d"), api.projects.create(unique("q"), "d")
    plain = _insert(server, me, 3)
    tied = _insert(server, me, 3, created_at=datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc),
                   file_metadata=None, upload_channel="ch", modality="CT", published=True, status="published",
                   published_by=me.email, published_on=datetime(2026, 10, 2, tzinfo=timezone.utc))
    gone = _insert(server, me, 1, deleted=True, deleted_by=me.email,
                   deleted_at=datetime(2026, 11, 3, 0, 0, 0, 1, tzinfo=timezone.utc))
    outside = _insert(server, me, 1)  # in no project
    with server.database.transaction() as session:
        session.add_all([ResourceTag(resource_id=plain[0], tag=tag, position=p) for p, tag in enumerate("zam")])
    _add(server, me, project.id, [*plain, *tied, *gone])
    _add(server, me, other.id, [plain[1], tied[2]])  # two resources in both projects

    response = http.get(f"/projects/{project.id}/resources")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    expected = _expected(server, project.id)
    _same(body, expected)
    assert [r["id"] for r in body] == [*sorted(tied), *plain]  # oldest first, equal times by id
    assert gone[0] not in {r["id"] for r in body} and outside[0] not in {r["id"] for r in body}
    by_id = {r["id"]: r for r in body}
    assert by_id[plain[0]]["tags"] == ["z", "a", "m"] and by_id[tied[0]]["metadata"] == {}
    assert sorted(p["id"] for p in by_id[plain[1]]["projects"]) == sorted([project.id, other.id])
    _same(http.get(f"/projects/{other.id}/resources").json(), _expected(server, other.id))
    # the datasets' live listing sends the same body
    assert http.get(f"/datasets/{project.dataset_id}/resources").content == response.content


def test_label_status_filter(server, org):
    api, http, me = org
    project = api.projects.create(unique("p"), "d")
    ids = _insert(server, me, 4)
    _add(server, me, project.id, ids)
    with server.database.transaction() as session:
        session.add_all([LabelStatus(project_id=project.id, resource_id=ids[1], label_set="model:x", status="skipped",
                                     updated_by=me.email),
                         LabelStatus(project_id=project.id, resource_id=ids[3], label_set="model:x", status="skipped",
                                     updated_by=me.email),
                         LabelStatus(project_id=project.id, resource_id=ids[2], label_set="ground-truth",
                                     status="skipped", updated_by=me.email)])
    skipped = http.get(f"/projects/{project.id}/resources", params={"label_status": "skipped", "label_set": "model:x"})
    _same(skipped.json(), _expected(server, project.id, {ids[1], ids[3]}))
    default_set = http.get(f"/projects/{project.id}/resources", params={"label_status": "skipped"}).json()
    _same(default_set, _expected(server, project.id, {ids[2]}))
    unlabeled = http.get(f"/projects/{project.id}/resources", params={"label_status": "unlabeled"}).json()
    _same(unlabeled, _expected(server, project.id, {ids[0], ids[1], ids[3]}))
    none = http.get(f"/projects/{project.id}/resources", params={"label_status": "verified"})
    assert none.status_code == 200 and none.content == b"[]"
    bad = http.get(f"/projects/{project.id}/resources", params={"label_status": "done"})
    assert bad.status_code == 422


def test_empty_project_and_another_organization(server, org):
    api, http, me = org
    project = api.projects.create(unique("p"), "d")
    empty = http.get(f"/projects/{project.id}/resources")
    assert empty.status_code == 200 and empty.content == b"[]"
    assert http.get(f"/datasets/{project.dataset_id}/resources").content == b"[]"
    _add(server, me, project.id, _insert(server, me, 1))
    with httpx.Client(base_url=server.url, headers={"apikey": server.new_org()}) as stranger:
        hidden = stranger.get(f"/projects/{project.id}/resources")
        assert hidden.status_code == 404
        assert stranger.get(f"/projects/{uuid.uuid4()}/resources").status_code == 404


def test_a_project_larger_than_a_chunk(server, org, monkeypatch):
    api, http, me = org
    monkeypatch.setattr(membership, "JSON_CHUNK", 3)  # the server runs in this process
    project = api.projects.create(unique("p"), "d")
    ids = _insert(server, me, 7)
    gone = _insert(server, me, 1, deleted=True)
    _add(server, me, project.id, [*ids, *gone])
    body = http.get(f"/projects/{project.id}/resources").json()
    _same(body, _expected(server, project.id))
    assert [r["id"] for r in body] == ids
    monkeypatch.setattr(membership, "JSON_CHUNK", 7)  # chunks that end with the list
    _same(http.get(f"/projects/{project.id}/resources").json(), _expected(server, project.id))


def _old_body(server, project_id: str, keep: set[str] | None = None) -> bytes:
    """The body the route built in memory before it streamed: the database's JSON of the project's
    live resources (those in ``keep``), oldest first, written in one statement and joined."""
    with server.database.transaction() as session:
        ids = [r.id for r in repo.project_resources(session, project_id) if keep is None or r.id in keep]
        written = wire_json.resources_json(session, ids)
    return ("[" + ",".join(written[rid] for rid in ids) + "]").encode()


def _streamed(http: httpx.Client, path: str, **params: str) -> bytes:
    """The body of a ``GET`` that must be a streamed JSON array (chunked, no ``Content-Length``)."""
    with http.stream("GET", path, params=params) as response:
        body = response.read()
    assert response.status_code == 200, body[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
    return body


def test_the_streamed_body_is_the_old_body_byte_for_byte(server, org, monkeypatch):
    api, http, me = org
    monkeypatch.setattr(membership, "JSON_CHUNK", 3)  # the server runs in this process: four chunks
    project, other = api.projects.create(unique("p"), "d"), api.projects.create(unique("q"), "d")
    ids = _insert(server, me, 10, upload_channel="ch")
    gone = _insert(server, me, 2, deleted=True)
    with server.database.transaction() as session:
        session.add_all([ResourceTag(resource_id=ids[4], tag=tag, position=p) for p, tag in enumerate("ba")])
        session.add(LabelStatus(project_id=project.id, resource_id=ids[7], label_set="ground-truth",
                                status="verified", updated_by=me.email))
    _add(server, me, project.id, [*ids, *gone])
    _add(server, me, other.id, ids[::3])

    body = _streamed(http, f"/projects/{project.id}/resources")
    assert body == _old_body(server, project.id) and [r["id"] for r in json.loads(body)] == ids
    assert _streamed(http, f"/datasets/{project.dataset_id}/resources") == body
    filtered = _streamed(http, f"/projects/{project.id}/resources", label_status="unlabeled")
    assert filtered == _old_body(server, project.id, set(ids) - {ids[7]})
    assert _streamed(http, f"/projects/{project.id}/resources", label_status="rejected") == b"[]"
    empty = api.projects.create(unique("e"), "d")
    assert _streamed(http, f"/projects/{empty.id}/resources") == b"[]"


def _error(response: httpx.Response, status: int) -> dict:
    """The error envelope of a response that failed before any streaming: status, JSON, its length."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    assert "transfer-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["status_code"] == status and body["message"], body
    return body


def test_failures_answer_before_the_stream_starts(server, org):
    api, http, me = org
    project = api.projects.create(unique("p"), "d")
    _add(server, me, project.id, _insert(server, me, 2))
    assert "project" in _error(http.get(f"/projects/{uuid.uuid4()}/resources"), 404)["message"].lower()
    assert "uuid" in _error(http.get("/projects/not-an-id/resources"), 422)["message"].lower()
    assert "done" in _error(http.get(f"/projects/{project.id}/resources", params={"label_status": "done"}),
                            422)["message"]
    _error(http.get(f"/datasets/{uuid.uuid4()}/resources"), 404)
    with httpx.Client(base_url=server.url, headers={"apikey": server.new_org()}) as stranger:
        _error(stranger.get(f"/projects/{project.id}/resources"), 404)
        _error(stranger.get(f"/datasets/{project.dataset_id}/resources"), 404)
    with httpx.Client(base_url=server.url) as anonymous:
        _error(anonymous.get(f"/projects/{project.id}/resources"), 401)


def test_the_listing_is_the_projects_when_the_stream_starts(server, org, monkeypatch):
    api, http, me = org
    monkeypatch.setattr(membership, "JSON_CHUNK", 2)
    project = api.projects.create(unique("p"), "d")
    ids = _insert(server, me, 5)
    _add(server, me, project.id, ids)
    with http.stream("GET", f"/projects/{project.id}/resources") as response:
        assert response.status_code == 200  # the ids were read before the headers were sent
        later = _insert(server, me, 1, created_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
        _add(server, me, project.id, later)
        body = json.loads(response.read())
    assert [r["id"] for r in body] == ids  # added after the stream started: not listed
    assert [r["id"] for r in http.get(f"/projects/{project.id}/resources").json()] == [*ids, *later]


def test_each_chunk_is_read_as_it_is_sent(server, org, monkeypatch):
    """A body far larger than what the kernels and the server buffer: while the client has read only
    the start, a resource of the last chunk is deleted; it comes listed with ``deleted: true``
    (its chunk was written after that), the others unchanged."""
    api, http, me = org
    monkeypatch.setattr(membership, "JSON_CHUNK", 1)  # one resource of ~1 MB a chunk
    project = api.projects.create(unique("p"), "d")
    ids = _insert(server, me, 24, file_metadata={"blob": "x" * 1_000_000})
    _add(server, me, project.id, ids)
    small_window = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)])
    with httpx.Client(base_url=server.url, headers=http.headers, transport=small_window) as slow, \
            slow.stream("GET", f"/projects/{project.id}/resources") as response:
        pieces = response.iter_raw(64 * 1024)
        start = next(pieces)
        with server.database.transaction() as session:  # the server is at most a few MB ahead
            session.execute(update(Resource).where(Resource.id == ids[-1]).values(deleted=True))
        body = json.loads(start + b"".join(pieces))
    assert [r["id"] for r in body] == ids
    assert [r["deleted"] for r in body] == [False] * 23 + [True]

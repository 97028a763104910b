"""Invariants of splits, frame ranges, tags, dataset versions, worklist and project membership,
work statuses and masks under 16 requests at once (see tests/races.py)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from datamint.server.annotations.models import Annotation
from datamint.server.datasets.models import ProjectResourceSplit
from datamint.server.resources.models import ProjectResource, ResourceTag
from datamint.server.worklists.models import WorklistResource, WorkStatus
from fixtures.names import unique
from fixtures.races import Call, N, assert_clean, at_once, finished_job, png_bytes, same, statuses, upload_png


def _client(server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"apikey": key}, timeout=60)


def _project(client: httpx.Client, resources: list[str] | None = None) -> dict:
    response = client.post("/projects", json={"name": unique("p"), "resource_ids": resources or []})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_resource_ends_in_exactly_one_split(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        first, second = upload_png(c), upload_png(c)
        project = _project(c, [first, second])["id"]
    names = ("train", "val", "test")
    calls = [Call(admin, "POST", f"/projects/{project}/splits",
                  json={"resource_ids": [first, second] if i % 2 else [second, first], "split_name": names[i % 3]})
             for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    with _client(server, admin) as c:
        current = c.get(f"/projects/{project}/splits").json()
    assert sorted(s["resource_id"] for s in current) == sorted([first, second])
    with server.database.transaction() as s:
        active = s.scalars(select(ProjectResourceSplit.resource_id).where(
            ProjectResourceSplit.project_id == project, ProjectResourceSplit.deleted_at.is_(None))).all()
    assert sorted(active) == sorted([first, second])


def test_a_frame_range_replace_leaves_one_record(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        resource = upload_png(c)
    body = {"identifier": "phase", "type": "category", "values": [{"value": "arterial",
                                                                    "frame_ranges": [{"start": 0, "end": 1}]}]}
    responses = at_once(server.url, same(Call(admin, "PUT", f"/annotations/{resource}/frame-ranges", json=body)))
    assert_clean(responses)
    with _client(server, admin) as c:
        records = c.get(f"/annotations/{resource}/frame-ranges").json()
    assert [(r["identifier"], r["value"], r["frame_ranges"]) for r in records] == [
        ("phase", "arterial", [{"start": 0, "end": 1}])]
    assert len(records[0]["annotation_ids"]) == 1
    with server.database.transaction() as s:
        live = s.scalar(select(func.count()).select_from(Annotation).where(
            Annotation.resource_id == resource, Annotation.deleted.is_(False)))
    assert live == 1


def test_tag_replaces_do_not_merge(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        one, two = upload_png(c), upload_png(c)
    sets = [[f"t{i}-a", f"t{i}-b"] for i in range(N)]
    calls = [Call(admin, "PUT", "/resources/tags", json={"resource_ids": [one, two] if i % 2 else [two, one],
                                                          "tags": sets[i]}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    with _client(server, admin) as c:
        final = [c.get(f"/resources/{rid}").json()["tags"] for rid in (one, two)]
    assert final[0] in sets and final[1] == final[0]  # one request's set, on both resources


def test_single_resource_tag_replaces_do_not_merge(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        resource = upload_png(c)
    sets = [[f"s{i}", "shared", f"z{i}"] for i in range(N)]
    responses = at_once(server.url, [Call(admin, "PUT", f"/resources/{resource}/tags", json={"tags": t})
                                     for t in sets])
    assert_clean(responses)
    with server.database.transaction() as s:
        rows = s.execute(select(ResourceTag.tag).where(ResourceTag.resource_id == resource)
                         .order_by(ResourceTag.position)).scalars().all()
    assert list(rows) in sets


def test_versions_of_a_fresh_dataset_get_distinct_numbers(server):
    """Unnamed versions are built by 16 jobs at once (202 each): every build ends with its own number."""
    admin = server.new_org()
    with _client(server, admin) as c:
        dataset = _project(c, [upload_png(c)])["dataset_id"]
    responses = at_once(server.url, same(Call(admin, "POST", f"/datasets/{dataset}/versions", json={})))
    assert_clean(responses)
    assert statuses(responses) == [202] * N
    with _client(server, admin) as c:
        jobs = [finished_job(c, r.json()["id"]) for r in responses]
    assert [j["status"] for j in jobs] == ["completed"] * N, [j.get("error_message") for j in jobs]
    numbers = sorted(j["result"]["number"] for j in jobs)
    assert numbers == list(range(1, N + 1))
    assert sorted(j["result"]["name"] for j in jobs) == sorted(f"v{n}" for n in numbers)


def test_versions_with_one_name_make_one(server):
    """16 builds of one name: one version; the others are refused at once (409: the name is being
    built) or their build fails on the name's conflict."""
    admin = server.new_org()
    with _client(server, admin) as c:
        dataset = _project(c, [upload_png(c)])["dataset_id"]
    responses = at_once(server.url, same(Call(admin, "POST", f"/datasets/{dataset}/versions",
                                              json={"name": "baseline"})))
    assert_clean(responses)
    assert set(statuses(responses)) <= {202, 409} and 202 in statuses(responses)
    with _client(server, admin) as c:
        jobs = [finished_job(c, r.json()["id"]) for r in responses if r.status_code == 202]
        assert sorted(j["status"] for j in jobs) == ["completed"] + ["failed"] * (len(jobs) - 1)
        versions = c.get(f"/datasets/{dataset}/versions").json()
    assert versions["totalCount"] == 1 and versions["data"][0]["name"] == "baseline"


def test_adding_one_resource_to_a_worklist_and_a_project_sixteen_times(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        resource = upload_png(c)
        project = _project(c)["id"]
        worklist = c.post("/annotationsets", json={"name": "w", "project_id": project}).json()["id"]
    calls = [Call(admin, "POST", f"/annotationsets/{worklist}/resources", json={"resource_ids_to_add": [resource]})
             if i % 2 else Call(admin, "POST", f"/projects/{project}/resources",
                                json={"resource_ids_to_add": [resource]}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    assert statuses(responses) == [200] * N
    with server.database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(WorklistResource).where(
            WorklistResource.worklist_id == worklist)) == 1
        assert s.scalar(select(func.count()).select_from(ProjectResource).where(
            ProjectResource.project_id == project)) == 1


def test_one_work_status_per_annotator_and_resource(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        resource = upload_png(c)
        project = _project(c, [resource])
    worklist = project["worklist_id"]
    responses = at_once(server.url, same(Call(admin, "POST", f"/annotationsets/{worklist}/resources/{resource}/status",
                                              json={"status": "annotated"})))
    assert_clean(responses)
    assert statuses(responses) == [200] * N
    with server.database.transaction() as s:
        rows = s.scalars(select(WorkStatus.status).where(WorkStatus.worklist_id == worklist,
                                                         WorkStatus.resource_id == resource)).all()
    assert list(rows) == ["annotated"]


def test_concurrent_mask_uploads_leave_exactly_one_stored_mask(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        resource = upload_png(c)
        (annotation,) = c.post(f"/annotations/{resource}/annotations",
                               json=[{"type": "segmentation", "identifier": "organ"}]).json()
    calls = [Call(admin, "POST", f"/annotations/{resource}/annotations/{annotation}/file",
                  files={"file": ("m.png", png_bytes(value=i % 2), "image/png")}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    with server.database.transaction() as s:
        row = s.get(Annotation, annotation)
        customer, key = row.customer_id, row.file_key
    store = server.app.state.blob_store
    stored = list(store.list(f"{customer}/annotations/{annotation}/"))
    assert stored == [key]  # no mask of a losing request is left behind unreferenced

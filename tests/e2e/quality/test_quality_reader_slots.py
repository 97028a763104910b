"""Reader slots of multi-reader worklists after a manager's changes: a status reset frees the
reader's slot, lowering ``readers_per_item`` completes the items that already have enough readers
done, and a workunit names its worklist by id in any case."""

from __future__ import annotations

import httpx
import pytest

from datamint import Api
from fixtures.races import Call, at_once, statuses, upload_png

from conftest import unique


def _member_key(server, project_id: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new annotator of the project: their email and API key."""
    email, key = server.new_user()
    user_id = httpx.get(f"{server.url}/users/{email}", headers={"apikey": server.admin_key}).json()["id"]
    answer = httpx.post(f"{server.url}/projects/{project_id}/members/{user_id}", json={"roles": ["PROJECT_ANNOTATOR"]},
                        headers={"apikey": server.admin_key})
    assert answer.status_code == 200, answer.text
    return email, key


def _member(server, project_id: str) -> tuple[str, Api]:  # type: ignore[no-untyped-def]
    email, key = _member_key(server, project_id)
    return email, Api(server.url, key)


def _setup(api, server, readers_per_item: int, resources: int = 1, members: int = 3):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=60) as client:
        rids = [upload_png(client) for _ in range(resources)]
    project = api.projects.create(unique("slots"), "", resources_ids=rids)
    people = [_member(server, project.id) for _ in range(members)]
    wid = api.annotationsets.create(unique("readers"), rids, project=project, readers_per_item=readers_per_item,
                                    annotators=[email for email, _ in people])
    return project, rids, people, wid


def _item(api, wid: str, rid: str) -> tuple[list[str], bool]:  # type: ignore[no-untyped-def]
    item = api.annotationsets.get_readers(wid)["items"].get(rid, {"readers": [], "complete": False})
    return sorted(r["email"] for r in item["readers"]), item["complete"]


def test_a_status_reset_frees_the_readers_slot(api, server):
    _, (rid,), [(one, r1), (two, r2), (three, r3)], wid = _setup(api, server, readers_per_item=2)
    r1.annotationsets.update_annotation_status(wid, rid, "annotated")
    r2.annotationsets.update_annotation_status(wid, rid, "annotated")
    assert _item(api, wid, rid) == (sorted([one, two]), True)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        r3.annotationsets.update_annotation_status(wid, rid, "opened")
    assert refused.value.response.status_code == 409 and "already has its 2 readers" in refused.value.response.text
    api.annotationsets.reset_annotator_status(wid, rid, two)
    assert _item(api, wid, rid) == ([one], False)  # one reader done of two: not complete any more
    r3.annotationsets.update_annotation_status(wid, rid, "opened")  # the freed slot
    assert _item(api, wid, rid) == (sorted([one, three]), False)
    r3.annotationsets.update_annotation_status(wid, rid, "annotated")
    assert _item(api, wid, rid) == (sorted([one, three]), True)
    with pytest.raises(httpx.HTTPStatusError) as again:
        r2.annotationsets.update_annotation_status(wid, rid, "opened")
    assert again.value.response.status_code == 409


def test_lowering_readers_per_item_completes_the_items_with_enough_readers_done(api, server):
    _, (a, b), [(one, r1), (two, r2), (three, r3)], wid = _setup(api, server, readers_per_item=3, resources=2)
    r1.annotationsets.update_annotation_status(wid, a, "annotated")
    r2.annotationsets.update_annotation_status(wid, a, "closed")
    r3.annotationsets.update_annotation_status(wid, a, "opened")  # never finishes
    r1.annotationsets.update_annotation_status(wid, b, "annotated")
    assert [_item(api, wid, rid)[1] for rid in (a, b)] == [False, False]
    api.annotationsets.update(wid, readers_per_item=2)
    assert _item(api, wid, a) == (sorted([one, two, three]), True)
    assert _item(api, wid, b) == ([one], False)
    r2.annotationsets.update_annotation_status(wid, b, "annotated")
    assert _item(api, wid, b) == (sorted([one, two]), True)


def test_lowering_readers_per_item_while_readers_finish_completes_every_item_once(api, server):
    """Eight items with one reader done of three; the second readers finish all at once while the
    worklist is lowered to two readers: whichever commits first, every item ends complete."""
    items = 8
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=60) as client:
        rids = [upload_png(client) for _ in range(items)]
    project = api.projects.create(unique("slots-race"), "", resources_ids=rids)
    (one, k1), (two, k2) = _member_key(server, project.id), _member_key(server, project.id)
    wid = api.annotationsets.create(unique("readers"), rids, project=project, readers_per_item=3,
                                    annotators=[one, two])
    for rid in rids:
        answer = httpx.post(f"{server.url}/annotationsets/{wid}/resources/{rid}/status", json={"status": "annotated"},
                            headers={"apikey": k1})
        assert answer.status_code == 200, answer.text
    lower = Call(server.admin_key, "PATCH", f"/annotationsets/{wid}", json={"readers_per_item": 2})
    calls = [Call(k2, "POST", f"/annotationsets/{wid}/resources/{rid}/status", json={"status": "annotated"})
             for rid in rids] + [lower]
    responses = at_once(server.url, calls)
    assert statuses(responses) == [200] * (items + 1), [r.text[:200] for r in responses if r.status_code != 200]
    progress = api.annotationsets.get_readers(wid)
    assert progress["readers_per_item"] == 2
    assert {rid: (sorted(r["email"] for r in progress["items"][rid]["readers"]), progress["items"][rid]["complete"])
            for rid in rids} == {rid: (sorted([one, two]), True) for rid in rids}


def test_a_workunit_names_its_worklist_in_any_case(api, server):
    project, (rid,), _, wid = _setup(api, server, readers_per_item=1, members=0)
    url = f"{server.url}/projects/{project.id}/resources/{rid}/workunits"
    headers = {"apikey": server.admin_key}
    answer = httpx.post(url, json={"seconds": 12.5, "worklist_id": wid.upper()}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["worklist_id"], answer.json()["seconds"]) == (wid, 12.5)
    bad = httpx.post(url, json={"seconds": 1, "worklist_id": "not-a-uuid"}, headers=headers)
    assert bad.status_code == 422 and "Invalid worklist id 'not-a-uuid'" in bad.json()["message"]
    other = httpx.post(url, json={"seconds": 1, "worklist_id": "123E4567-E89B-12D3-A456-426614174000"},
                       headers=headers)
    assert other.status_code == 404 and other.json()["message"] == "Worklist not found in this project"
    units = api.projects.get_workunits(project.id, direction="asc")
    assert [(u["worklist_id"], u["seconds"]) for u in units if u["source"] == "client"] == [(wid, 12.5)]

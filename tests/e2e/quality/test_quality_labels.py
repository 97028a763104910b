"""Label quality over real HTTP with the SDK: label sets (with promotion of a model's predictions
into ground truth), label statuses and their transitions, issues and workunits."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from datamint import Api
from datamint.exceptions import ItemNotFoundError, ValidationError

from conftest import unique


@pytest.fixture
def project(api, images):
    return api.projects.create(unique("quality"), "d", resources_ids=images)


def _add_member(server, project_id: str, email: str, role: str) -> None:
    user_id = httpx.get(f"{server.url}/users/{email}", headers={"apikey": server.admin_key}).json()["id"]
    r = httpx.post(f"{server.url}/projects/{project_id}/members/{user_id}", json={"roles": [role]},
                   headers={"apikey": server.admin_key})
    assert r.status_code == 200, r.text


def category(identifier: str, value: str, **extra) -> dict:
    return {"type": "category", "identifier": identifier, "scope": "image", "value": value, **extra}


def test_label_sets_default_model_custom_and_search(api, project, images):
    wid = project.worklist_id
    gt = api.annotations.create(images[0], category("grade", "1", annotation_worklist_id=wid))
    pred = api.annotations.create(images[0], category("grade", "2", annotation_worklist_id=wid,
                                                      model_id="liver-net"))
    assert api.annotations.get_by_id(gt).label_set == "ground-truth"
    assert api.annotations.get_by_id(pred).label_set == "model:liver-net"
    with pytest.raises(ValidationError, match="label set 'second-opinion' does not exist"):
        api.annotations.create(images[0], category("grade", "3", annotation_worklist_id=wid,
                                                   label_set="second-opinion"))
    created = api.projects.add_labelset(project, "second-opinion", "a second radiologist")
    assert (created["name"], created["kind"], created["annotation_count"]) == ("second-opinion", "custom", 0)
    with pytest.raises(httpx.HTTPStatusError) as exc:
        api.projects.add_labelset(project, "second-opinion")
    assert exc.value.response.status_code == 409
    second = api.annotations.create(images[1], category("grade", "3", annotation_worklist_id=wid,
                                                        label_set="second-opinion"))
    with pytest.raises(ValidationError, match="another reader's label set"):
        api.annotations.create(images[1], category("grade", "3", annotation_worklist_id=wid,
                                                   label_set="reader:someone@else.test"))
    with pytest.raises(ValidationError, match="not a label-set name"):
        api.annotations.create(images[1], category("grade", "3", label_set="bad name!"))
    sets = {s["name"]: s for s in api.projects.get_labelsets(project)}
    assert [s["name"] for s in api.projects.get_labelsets(project)][0] == "ground-truth"
    assert {n: (s["kind"], s["annotation_count"]) for n, s in sets.items()} == {
        "ground-truth": ("ground_truth", 1), "model:liver-net": ("model", 1), "second-opinion": ("custom", 1)}
    assert [a.id for a in api.annotations.get_list(images, label_set="ground-truth")] == [gt]
    assert [a.id for a in api.annotations.get_list(images, label_set=["model:liver-net", "second-opinion"])] == \
        [pred, second]
    assert len(api.annotations.get_list(images)) == 3  # no label_set: every set, as the official client expects
    with pytest.raises(ItemNotFoundError):
        api.projects.get_labelset(project, "nothing-here")
    assert api.projects.delete_labelset(project, "second-opinion") == 1
    assert api.annotations.get_by_id(second).deleted is True
    assert "second-opinion" not in {s["name"] for s in api.projects.get_labelsets(project)}
    with pytest.raises(ValidationError, match="cannot be deleted"):
        api.projects.delete_labelset(project, "ground-truth")


def test_promote_prediction_into_ground_truth_keeps_provenance_and_mask(api, project, images):
    import numpy as np

    wid = project.worklist_id
    mask = np.zeros((16, 24), np.uint8)
    mask[2:5, 3:9] = 1
    (seg,) = api.annotations.upload_segmentations(images[0], mask, {1: "lesion"}, worklist_id=wid,
                                                  ai_model_name="seg-net")
    source = api.annotations.get_by_id(seg)
    assert source.label_set == "model:seg-net"
    promoted = api.annotations.promote(seg)
    assert (promoted.label_set, promoted.promoted_from, promoted.model_id) == ("ground-truth", seg, "seg-net")
    assert promoted.id != seg and api.annotations.get_by_id(seg).label_set == "model:seg-net"  # source kept
    again = api.annotations.promote(seg)
    assert again.id == promoted.id  # promoting twice returns the first copy
    src_bytes = api.annotations._request("GET", f"/annotations/{images[0]}/annotations/{seg}/file").content
    copy_bytes = api.annotations._request("GET", f"/annotations/{images[0]}/annotations/{promoted.id}/file").content
    assert copy_bytes == src_bytes and len(copy_bytes) > 0
    api.annotations.create(images[1], category("grade", "2", annotation_worklist_id=wid, model_id="cls"))
    api.annotations.create(images[2], category("grade", "1", annotation_worklist_id=wid, model_id="cls"))
    result = api.projects.promote_labelset(project, "model:cls", resources=[images[1]])
    assert len(result["promoted"]) == 1 and result["skipped"] == 0
    result = api.projects.promote_labelset(project, "model:cls")
    assert len(result["promoted"]) == 1 and result["skipped"] == 1
    gt = api.annotations.get_list(images, label_set="ground-truth")
    assert sorted((a.resource_id, a.value if a.annotation_type == "category" else None) for a in gt) == sorted(
        [(images[0], None), (images[1], "2"), (images[2], "1")])
    with pytest.raises(ValidationError, match="Promote into"):
        api.annotations.promote(seg, to="model:other")


def test_label_status_transitions_roles_and_history(api, server, project, images):
    annotator, annotator_key = server.new_user()
    reviewer, reviewer_key = server.new_user()
    _add_member(server, project.id, annotator, "PROJECT_ANNOTATOR")
    _add_member(server, project.id, reviewer, "PROJECT_REVIEWER")
    as_annotator, as_reviewer = Api(server.url, annotator_key), Api(server.url, reviewer_key)
    rid = images[0]
    start = as_annotator.projects.get_label_status(project.id, rid)
    assert (start["status"], start["allowed_next"], start["history"]) == (
        "unlabeled", ["prelabeled", "labeled", "skipped"], [])
    with pytest.raises(ValidationError, match=r"from 'unlabeled' to 'reviewed'; allowed from 'unlabeled': "
                                              r"prelabeled, labeled, skipped"):
        as_reviewer.projects.set_label_status(project.id, rid, "reviewed")
    labeled = as_annotator.projects.set_label_status(project.id, rid, "labeled")
    assert (labeled["status"], labeled["allowed_next"]) == ("labeled", ["reviewed", "rejected", "unlabeled"])
    with pytest.raises(httpx.HTTPStatusError) as exc:  # annotators may not review
        as_annotator.projects.set_label_status(project.id, rid, "reviewed")
    assert exc.value.response.status_code == 403
    assert as_reviewer.projects.set_label_status(project.id, rid, "reviewed")["allowed_next"] == ["rejected"]
    with pytest.raises(ValidationError, match="'verified' is not enabled"):
        as_reviewer.projects.set_label_status(project.id, rid, "verified")
    api.projects.patch(project.id, {"enable_label_status_verified": True})
    assert api.projects.get_label_status(project.id, rid)["allowed_next"] == ["verified", "rejected"]
    with pytest.raises(httpx.HTTPStatusError) as exc:
        as_reviewer.projects.set_label_status(project.id, rid, "verified", expected="labeled")
    assert exc.value.response.status_code == 409
    final = as_reviewer.projects.set_label_status(project.id, rid, "verified", expected="reviewed")
    assert [(h["from"], h["to"], h["by"]) for h in final["history"]] == [
        ("unlabeled", "labeled", annotator), ("labeled", "reviewed", reviewer), ("reviewed", "verified", reviewer)]
    other = api.projects.set_label_status(project.id, images[1], "skipped", label_set="model:x")
    assert other["label_set"] == "model:x"
    assert [r["resource_id"] for r in api.projects.get_label_statuses(project.id, status="verified")] == [rid]
    assert [r["resource_id"] for r in api.projects.get_label_statuses(project.id, status="unlabeled")] == images[1:]
    assert [r["resource_id"] for r in api.projects.get_label_statuses(project.id, "model:x", "skipped")] == \
        [images[1]]
    listed = api.projects._request("GET", f"/projects/{project.id}/resources",  # the resource listing filters too
                                   params={"label_status": "skipped", "label_set": "model:x"}).json()
    assert [r["id"] for r in listed] == [images[1]]
    with pytest.raises(ValidationError, match="Unknown label status 'done'"):
        api.projects.set_label_status(project.id, rid, "done")  # type: ignore[arg-type]
    events = api.annotations._request("GET", "/audit-events", params={"action": "set_label_status",
                                                           "entity_id": rid}).json()["data"]
    assert sorted(e["details"]["to_status"] for e in events) == ["labeled", "reviewed", "verified"]


def test_issues_thread_open_close_reopen_and_visibility(api, server, project, images):
    annotator, key = server.new_user()
    _add_member(server, project.id, annotator, "PROJECT_ANNOTATOR")
    as_annotator = Api(server.url, key)
    outsider_email, outsider_key = server.new_user()
    outsider = Api(server.url, outsider_key)
    issue = api.resources.add_issue(images[0], "Lesion on the left is missing", project=project.id,
                                    frame_index=0, point=[3, 4])
    assert (issue["status"], issue["point"], issue["frame_index"], issue["comments"]) == (
        "open", [3.0, 4.0], 0, [])
    as_annotator.resources.comment_issue(issue["id"], "Added it")
    with pytest.raises(httpx.HTTPStatusError) as exc:  # annotators may not close others' issues
        as_annotator.resources.update_issue(issue["id"], status="closed")
    assert exc.value.response.status_code == 403
    closed = api.resources.update_issue(issue["id"], status="closed", comment="fixed")
    assert (closed["status"], closed["closed_by"]) == ("closed", issue["created_by"])
    with pytest.raises(httpx.HTTPStatusError) as exc:
        api.resources.update_issue(issue["id"], status="closed")
    assert exc.value.response.status_code == 409 and "already closed" in exc.value.response.text
    reopened = api.resources.update_issue(issue["id"], status="open")
    assert reopened["closed_at"] is None
    assert [(c["text"], c["status"]) for c in reopened["comments"]] == [
        ("Added it", None), ("fixed", "closed"), ("", "open")]
    second = api.resources.add_issue(images[1], "Wrong grade", project=project.id, status="closed")
    assert [i["id"] for i in api.projects.get_issues(project.id)] == [second["id"], issue["id"]]
    assert [i["id"] for i in api.projects.get_issues(project.id, status="open")] == [issue["id"]]
    assert [i["id"] for i in api.projects.get_issues(project.id, resource=images[1])] == [second["id"]]
    # Whoever can read the resource can read its issues; the project's list is for its members.
    assert [i["id"] for i in outsider.resources.get_issues(images[0])] == [issue["id"]]
    assert outsider.resources.get_issue(issue["id"])["description"] == "Lesion on the left is missing"
    with pytest.raises(ItemNotFoundError):
        outsider.projects.get_issues(project.id)
    with pytest.raises(ItemNotFoundError):
        outsider.resources.add_issue(images[0], "x", project=project.id)
    with pytest.raises(ValidationError, match="frame_index 7 is out of range"):
        api.resources.add_issue(images[0], "x", frame_index=7)
    with pytest.raises(ValidationError, match="'point' must be"):
        api.resources.add_issue(images[0], "x", point=[1])
    with pytest.raises(httpx.HTTPStatusError) as exc:
        as_annotator.resources.delete_issue(issue["id"])
    assert exc.value.response.status_code == 403
    api.resources.delete_issue(issue["id"])
    with pytest.raises(ItemNotFoundError):
        api.resources.get_issue(issue["id"])
    assert outsider_email  # the outsider is a plain member of the organization


def test_workunits_recorded_from_api_calls_and_reported(api, server, project, images, tmp_path):
    annotator, key = server.new_user()
    _add_member(server, project.id, annotator, "PROJECT_ANNOTATOR")
    as_annotator = Api(server.url, key)
    wid = project.worklist_id
    as_annotator.projects.set_work_status(project.id, images[0], "opened")
    as_annotator.annotations.create(images[0], [category("grade", "1", annotation_worklist_id=wid),
                                                {"type": "label", "identifier": "artifact", "scope": "image",
                                                 "annotation_worklist_id": wid}])
    as_annotator.projects.report_workunit(project.id, images[1], 42.5, label="grade")
    with pytest.raises(ValidationError, match="'seconds' must be"):
        as_annotator.projects.report_workunit(project.id, images[1], -1)
    units = api.projects.get_workunits(project.id, direction="asc")
    assert [(u["user_email"], u["action"], u["label"], u["source"]) for u in units] == [
        (annotator, "status", None, "server"), (annotator, "annotate", "grade", "server"),
        (annotator, "annotate", "artifact", "server"), (annotator, "annotate", "grade", "client")]
    measured = units[1]["seconds"] + units[2]["seconds"]
    assert units[1]["seconds"] == units[2]["seconds"] and 0 <= measured <= 300
    assert units[3]["seconds"] == 42.5
    stats = api.projects.get_workunits_statistics(project.id)
    assert stats["units"] == 4 and stats["total_seconds"] == pytest.approx(measured + 42.5, abs=1e-3)
    by_label = {row["label"]: row["seconds"] for row in stats["by_label"]}
    assert by_label["grade"] == pytest.approx(units[1]["seconds"] + 42.5, abs=1e-3)
    assert [row["email"] for row in stats["by_user"]] == [annotator]
    assert api.annotationsets.get_workunits_statistics(wid)["units"] == 3  # the client unit named no worklist
    stat = api.annotationsets._request("GET", f"/annotationsets/{wid}/annotators-statistic").json()
    assert {r["email"]: r["time_spent_seconds"] for r in stat}[annotator] == pytest.approx(measured, abs=1e-3)
    out = tmp_path / "units.csv"
    api.projects.download_workunits(project.id, out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in rows] == ["status", "annotate", "annotate", "annotate"]
    # An annotator sees only their own units; the export needs export rights.
    other, other_key = server.new_user()
    _add_member(server, project.id, other, "PROJECT_ANNOTATOR")
    assert Api(server.url, other_key).projects.get_workunits(project.id) == []
    with pytest.raises(httpx.HTTPStatusError) as exc:
        as_annotator.projects.download_workunits(project.id, tmp_path / "no.csv")
    assert exc.value.response.status_code == 403


def test_datasets_take_a_label_set(api, server, project, images):
    from datamint.dataset import ImageDataset

    wid = project.worklist_id
    api.annotations.create(images[0], category("grade", "1", annotation_worklist_id=wid))
    api.annotations.create(images[0], category("grade", "2", annotation_worklist_id=wid, model_id="cls"))
    kw = {"api_key": server.admin_key, "server_url": server.url, "trusted_annotation_sources": None}

    def sets(dataset) -> list[str]:
        return sorted(a.get("label_set") for r in dataset.records for a in r.annotations)

    assert sets(ImageDataset(project.name, **kw)) == ["ground-truth", "model:cls"]
    assert sets(ImageDataset(project.name, label_sets="ground-truth", **kw)) == ["ground-truth"]
    assert sets(ImageDataset(project.name, label_sets=["model:cls"], **kw)) == ["model:cls"]


def test_clone_structure_resources_and_labels(api, server, project, images):
    import numpy as np

    wid = api.annotationsets.create("Round 2", images[:2], project=project, readers_per_item=2,
                                    annotations=[{"type": "category", "identifier": "grade", "values": ["1", "2"]}])
    api.projects.add_labelset(project, "second-opinion", "kept in clones")
    gt = api.annotations.create(images[0], category("grade", "1", annotation_worklist_id=project.worklist_id))
    mask = np.zeros((16, 24), np.uint8)
    mask[1:4, 2:6] = 1
    (seg,) = api.annotations.upload_segmentations(images[1], mask, {1: "lesion"}, worklist_id=project.worklist_id,
                                                  ai_model_name="seg")
    api.projects.set_label_status(project.id, images[0], "labeled")

    bare = api.projects.clone(project, unique("bare"))
    assert bare.id != project.id and api.projects.get_project_resources(bare) == []
    worklists = {w.name: w for w in api.projects.get_worklists(bare)}
    assert set(worklists) == {w.name for w in api.projects.get_worklists(project)}
    raw = api.annotationsets._request("GET", f"/annotationsets/{worklists['Round 2'].id}").json()
    assert (raw["readers_per_item"], [s["identifier"] for s in raw["annotations"]]) == (2, ["grade"])
    assert {s["name"]: s["annotation_count"] for s in api.projects.get_labelsets(bare)} == {
        "ground-truth": 0, "second-opinion": 0}
    assert api.annotations.get_list(images, project_id=bare.id) == []

    same = api.projects.clone(project, unique("res"), with_resources=True)
    assert sorted(r.id for r in api.projects.get_project_resources(same)) == sorted(images)
    round2 = next(w for w in api.projects.get_worklists(same) if w.name == "Round 2")
    assert sorted(round2.resource_ids) == sorted(images[:2])

    full = api.projects.clone(project, unique("full"), clone_labels=True)
    copied = api.annotations.get_list(images, project_id=full.id)
    assert sorted((a.label_set, a.identifier) for a in copied) == [("ground-truth", "grade"),
                                                                   ("model:seg", "lesion")]
    assert {a.id for a in copied}.isdisjoint({gt, seg})
    copy_seg = next(a for a in copied if a.identifier == "lesion")
    src = api.annotations._request("GET", f"/annotations/{images[1]}/annotations/{seg}/file").content
    dst = api.annotations._request("GET", f"/annotations/{images[1]}/annotations/{copy_seg.id}/file").content
    assert src == dst
    assert api.projects.get_label_status(full.id, images[0])["status"] == "labeled"
    only_gt = api.projects.clone(project, unique("gt"), clone_labels=True, label_sets=["ground-truth"])
    assert [a.label_set for a in api.annotations.get_list(images, project_id=only_gt.id)] == ["ground-truth"]
    assert wid  # the second worklist exists in the original too
    # Cloning needs to see the project; cloning its labels needs export rights there.
    annotator, key = server.new_user()
    _add_member(server, project.id, annotator, "PROJECT_ANNOTATOR")
    with pytest.raises(httpx.HTTPStatusError) as exc:
        Api(server.url, key).projects.clone(project.id, unique("no"), clone_labels=True)
    assert exc.value.response.status_code == 403
    outsider_email, outsider_key = server.new_user()
    with pytest.raises(ItemNotFoundError):
        Api(server.url, outsider_key).projects.clone(project.id, unique("no"))


def test_collaborators_are_the_project_members_with_segments_roles(api, server, project):
    email, _ = server.new_user()
    api.projects.add_collaborator(project, email, "reviewer")
    roles = {m.get("email"): m["roles"] for m in api.projects.get_collaborators(project)}
    assert roles[email] == ["PROJECT_REVIEWER"]
    api.projects.update_collaborator(project, email, "labeler")
    roles = {m.get("email"): m["roles"] for m in api.projects.get_collaborators(project)}
    assert roles[email] == ["PROJECT_ANNOTATOR"]
    api.projects.delete_collaborator(project, email)
    assert email not in {m.get("email") for m in api.projects.get_collaborators(project)}
    with pytest.raises(ValueError, match="role must be one of"):
        api.projects.add_collaborator(project, email, "owner")  # type: ignore[arg-type]

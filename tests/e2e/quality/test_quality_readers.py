"""Several readers per item, end to end: three readers label four synthetic CT volumes (one reader's
mask shifted by two voxels), cannot see each other's labels until an item is complete, and a
fourth reader is refused; then the agreement report (Dice, HD95, box IoU, Cohen's and Fleiss'
kappa) equals values computed independently here, the STAPLE consensus equals SimpleITK's on the
same masks, and the consensus is promoted into ground truth."""

from __future__ import annotations

import csv
import gzip
import io

import httpx
import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from agreement_reference import hd95_and_assd
from datamint import Api
from fixtures.races import Call, at_once

from conftest import unique

SHAPE = (24, 20, 10)  # x (width), y (height), z (slices)
SPACING = (0.8, 0.7, 2.5)  # mm
GRADES = {"r1": ["1", "2", "1", "2"], "r2": ["1", "2", "1", "1"], "r3": ["1", "2", "2", "2"]}


def _add_member(server, project_id: str, email: str, role: str = "PROJECT_ANNOTATOR") -> None:
    user_id = httpx.get(f"{server.url}/users/{email}", headers={"apikey": server.admin_key}).json()["id"]
    r = httpx.post(f"{server.url}/projects/{project_id}/members/{user_id}", json={"roles": [role]},
                   headers={"apikey": server.admin_key})
    assert r.status_code == 200, r.text


def _volumes(api, tmp_path) -> list[str]:
    ids = []
    for i in range(4):
        volume = np.zeros(SHAPE, np.int16)
        volume[0, 0, 0] = i + 1  # distinct files
        path = tmp_path / f"ct{i}.nii.gz"
        nibabel.Nifti1Image(volume, np.diag([*SPACING, 1.0])).to_filename(path)
        ids.append(api.resources.upload_resource(str(path)))
    return ids


def _liver() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[4:14, 5:13, 2:7] = 1  # 10 x 8 x 5 voxels
    return mask


def _square(x0: float) -> dict:
    points = [[x0, 0.0, 0.0], [x0 + 4, 0.0, 0.0], [x0 + 4, 4.0, 0.0], [x0, 4.0, 0.0]]
    return {"type": "square", "identifier": "nodule", "scope": "frame", "frame_index": 3,
            "geometry": {"points": points}}


@pytest.fixture
def study(api, server, tmp_path):
    resources = _volumes(api, tmp_path)
    project = api.projects.create(unique("readers"), "three readers", resources_ids=resources)
    readers = {}
    for name in ("r1", "r2", "r3", "r4"):
        email, key = server.new_user()
        _add_member(server, project.id, email)
        readers[name] = (email, Api(server.url, key))
    wid = api.annotationsets.create("Three readers", resources, project=project, readers_per_item=3,
                                    annotators=[readers[n][0] for n in ("r1", "r2", "r3")])
    return {"project": project, "resources": resources, "readers": readers, "wid": wid}


def _read(study, name: str, mask: np.ndarray, box_x0: float) -> None:
    wid, resources = study["wid"], study["resources"]
    client = study["readers"][name][1]
    client.annotations.upload_volume_segmentation(resources[0], mask, {1: "liver"}, worklist_id=wid)
    client.annotations.create(resources[0], {**_square(box_x0), "annotation_worklist_id": wid})
    for rid, grade in zip(resources, GRADES[name], strict=True):
        client.annotations.create(rid, {"type": "category", "identifier": "grade", "scope": "image", "value": grade,
                                        "annotation_worklist_id": wid})


def _finish(study, name: str) -> None:
    client = study["readers"][name][1]
    for rid in study["resources"]:
        client.annotationsets.update_annotation_status(study["wid"], rid, "annotated")


def test_three_readers_blind_until_complete_then_agreement_and_consensus(api, study, tmp_path):
    wid, resources, readers = study["wid"], study["resources"], study["readers"]
    email = {n: readers[n][0] for n in readers}
    base = _liver()
    shifted = np.roll(base, 2, axis=0)  # reader 3: two voxels along x
    _read(study, "r1", base, 0.0)
    _read(study, "r2", base, 0.0)
    # Blind: before the item is complete each reader sees only their own labels (and r1's are hidden).
    seen = readers["r2"][1].annotations.get_list(resources[0])
    assert {a.created_by for a in seen} == {email["r2"]} and len(seen) == 3
    assert {a.label_set for a in seen} == {f"reader:{email['r2']}"}
    hidden = next(a.id for a in api.annotations.get_list(resources[0]) if a.created_by == email["r1"])
    with pytest.raises(Exception, match="not found"):
        readers["r2"][1].annotations.get_by_id(hidden)
    _read(study, "r3", shifted, 2.0)
    # A fourth reader is refused: the item has its three readers.
    with pytest.raises(httpx.HTTPStatusError) as exc:
        readers["r4"][1].annotations.create(resources[0], {"type": "category", "identifier": "grade",
                                                           "value": "1", "annotation_worklist_id": wid})
    assert exc.value.response.status_code == 409 and "already has its 3 readers" in exc.value.response.text
    _finish(study, "r1")
    _finish(study, "r2")
    assert len(readers["r1"][1].annotations.get_list(resources[0])) == 3  # still blind: r3 is not done
    _finish(study, "r3")
    assert {a.created_by for a in readers["r1"][1].annotations.get_list(resources[0])} == \
        {email["r1"], email["r2"], email["r3"]}  # complete: everyone's labels are visible
    progress = api.annotationsets.get_readers(wid)["items"]
    assert all(progress[rid]["complete"] for rid in resources)
    assert sorted(r["email"] for r in progress[resources[0]]["readers"]) == sorted(email[n] for n in ("r1", "r2", "r3"))

    report = api.annotationsets.get_agreement(wid)
    assert report["items"] == 4 and sorted(report["readers"]) == sorted(email[n] for n in ("r1", "r2", "r3"))
    masks = {frozenset((row["reader_a"], row["reader_b"])): row for row in report["masks"]}
    same = masks[frozenset((email["r1"], email["r2"]))]
    assert (same["dice"], same["iou"], same["hd95_mm"], same["msd_mm"]) == (1.0, 1.0, 0.0, 0.0)
    off = masks[frozenset((email["r1"], email["r3"]))]
    expected_dice = 2 * int((base & shifted).sum()) / (int(base.sum()) + int(shifted.sum()))
    assert expected_dice == 0.8 and off["dice"] == pytest.approx(expected_dice, abs=1e-6)
    assert off["iou"] == pytest.approx(320 / 480, abs=1e-6)
    hd95, hausdorff, assd = hd95_and_assd(base.astype(bool), shifted.astype(bool), SPACING)
    assert off["hd95_mm"] == pytest.approx(hd95, abs=1e-6)
    assert off["hausdorff_mm"] == pytest.approx(hausdorff, abs=1e-6) and hausdorff == pytest.approx(1.6)
    assert off["msd_mm"] == pytest.approx(assd, abs=1e-6)
    boxes = {frozenset((row["reader_a"], row["reader_b"])): row["iou"] for row in report["boxes"]}
    assert boxes[frozenset((email["r1"], email["r2"]))] == 1.0
    assert boxes[frozenset((email["r1"], email["r3"]))] == pytest.approx(1 / 3, abs=1e-6)  # [0,4] vs [2,6]
    cohen = {frozenset((row["reader_a"], row["reader_b"])): row["kappa"] for row in report["classifications"]["cohen"]}
    assert cohen[frozenset((email["r1"], email["r2"]))] == pytest.approx(0.5, abs=1e-6)
    assert cohen[frozenset((email["r1"], email["r3"]))] == pytest.approx(0.5, abs=1e-6)
    assert cohen[frozenset((email["r2"], email["r3"]))] == pytest.approx(0.2, abs=1e-6)
    (fleiss,) = report["classifications"]["fleiss"]
    assert (fleiss["label"], fleiss["items"], fleiss["readers"]) == ("grade", 4, 3)
    assert fleiss["kappa"] == pytest.approx(1 / 3, abs=1e-6)
    liver = next(r for r in report["summary"]["by_label"] if r["kind"] == "mask" and r["label"] == "liver")
    assert liver["pairs"] == 3 and liver["mean_dice"] == pytest.approx((1.0 + 0.8 + 0.8) / 3, abs=1e-6)
    _statistics_carry_agreement_and_time(api, study, report, email)
    job = api.annotationsets.start_agreement(wid)  # the same report as a background job
    finished = api.jobs.wait(job["id"], timeout=120, progress_bar=False).raise_for_status()
    assert (finished.kind, finished.result["masks"], finished.result["classifications"]) == (
        "quality.agreement", report["masks"], report["classifications"])
    out = tmp_path / "agreement.csv"
    api.annotationsets.download_agreement(wid, out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3 * 5 + 3 + 3 + 1  # 3 mask pairs x 5 metrics, 3 box pairs, 3 Cohen, 1 Fleiss

    # Consensus: STAPLE equals SimpleITK's on the same three masks; then majority vote replaces it.
    made = api.annotationsets.create_consensus(wid, "staple")
    assert (len(made["created"]), made["replaced"], made["no_majority"]) == (5, 0, [])
    consensus = api.annotations.get_list(resources, label_set="consensus")
    (seg,) = [a for a in consensus if a.annotation_type == "segmentation"]
    data = api.annotations._request("GET", f"/annotations/{resources[0]}/annotations/{seg.id}/file").content
    got = np.asanyarray(nibabel.Nifti1Image.from_bytes(gzip.decompress(data)).dataobj) > 0
    images = [sitk.GetImageFromArray(m) for m in (base, base, shifted)]
    assert np.array_equal(got, sitk.GetArrayFromImage(sitk.STAPLE(images, 1.0)) >= 0.5)
    grades = {a.resource_id: a.value for a in consensus if a.annotation_type == "category"}
    assert grades == dict(zip(resources, ["1", "2", "1", "2"], strict=True))
    again = api.annotationsets.create_consensus(wid, "majority")
    assert (len(again["created"]), again["replaced"]) == (5, 5)
    (seg,) = [a for a in api.annotations.get_list(resources, label_set="consensus")
              if a.annotation_type == "segmentation"]
    data = api.annotations._request("GET", f"/annotations/{resources[0]}/annotations/{seg.id}/file").content
    assert np.array_equal(np.asanyarray(nibabel.Nifti1Image.from_bytes(gzip.decompress(data)).dataobj) > 0,
                          base.astype(bool))  # two of three readers drew exactly `base`
    promoted = api.projects.promote_labelset(study["project"], "consensus")
    assert len(promoted["promoted"]) == 5
    truth = api.annotations.get_list(resources, label_set="ground-truth")
    assert sorted(a.annotation_type for a in truth) == ["category"] * 4 + ["segmentation"]
    sets = {s["name"]: s["annotation_count"] for s in api.projects.get_labelsets(study["project"])}
    assert sets == {"ground-truth": 5, "consensus": 5, **{f"reader:{email[n]}": 6 for n in ("r1", "r2", "r3")}}
    # The agreement report and consensus are reviewers' tools.
    with pytest.raises(httpx.HTTPStatusError) as exc:
        readers["r1"][1].annotationsets.get_agreement(wid)
    assert exc.value.response.status_code == 403


def test_readers_cannot_write_into_other_sets_and_worklists_validate_readers(api, study):
    wid, resources, readers = study["wid"], study["resources"], study["readers"]
    client = readers["r1"][1]
    from datamint.exceptions import ValidationError

    with pytest.raises(ValidationError, match="several readers per item"):
        client.annotations.create(resources[1], {"type": "category", "identifier": "grade", "value": "1",
                                                 "annotation_worklist_id": wid, "label_set": "ground-truth"})
    with pytest.raises(ValidationError, match="readers_per_item must be an integer from 1 to 20"):
        api.annotationsets.create("Too many", resources, project=study["project"], readers_per_item=21)
    with pytest.raises(ValidationError, match="need a project"):
        api.annotationsets.create("No project", resources, readers_per_item=2)
    assert api.annotationsets._request("GET", f"/annotationsets/{wid}").json()["readers_per_item"] == 3


def test_sixteen_readers_racing_for_a_three_reader_item_leave_exactly_three(api, server, study):
    project, wid, rid = study["project"], study["wid"], study["resources"][0]
    keys = []
    for _ in range(16):
        email, key = server.new_user()
        _add_member(server, project.id, email)
        keys.append(key)
    responses = at_once(server.url, [Call(key, "POST", f"/annotationsets/{wid}/resources/{rid}/status",
                                          json={"status": "opened"}) for key in keys])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 3 + [409] * 13, codes
    assert all("already has its 3 readers" in r.text for r in responses if r.status_code == 409)
    readers = api.annotationsets.get_readers(wid)["items"][rid]["readers"]
    assert sorted(r["slot"] for r in readers) == [1, 2, 3]


def _statistics_carry_agreement_and_time(api, study, report: dict, email: dict[str, str]) -> None:
    """The worklist's statistics hold the agreement report's summary (the same numbers) and the
    time totals of its workunits, per user and per label; an annotator gets only their own time."""
    wid, project, readers = study["wid"], study["project"], study["readers"]
    for name, label, seconds in (("r1", "liver", 30.0), ("r2", "grade", 12.5), ("r1", "grade", 7.25)):
        readers[name][1].projects.report_workunit(project, study["resources"][0], seconds, label=label,
                                                  worklist_id=wid)
    stats = api.annotationsets.get_workunits_statistics(wid)
    summary = stats["agreement"]
    assert (summary["readers_per_item"], summary["items"]) == (3, 4)
    assert sorted(summary["readers"]) == sorted(email[n] for n in ("r1", "r2", "r3"))
    assert summary["by_label"] == report["summary"]["by_label"] and summary["by_pair"] == report["summary"]["by_pair"]
    by_label = {(r["kind"], r["label"], r.get("reader_a"), r.get("reader_b")): r for r in summary["by_label"]}
    liver = by_label[("mask", "liver", None, None)]
    assert liver["mean_dice"] == pytest.approx((1.0 + 0.8 + 0.8) / 3, abs=1e-6)
    assert liver["mean_iou"] == pytest.approx((1.0 + 2 * 320 / 480) / 3, abs=1e-6)
    assert by_label[("box", "nodule", None, None)]["mean_iou"] == pytest.approx((1.0 + 2 / 3) / 3, abs=1e-6)
    kappas = {frozenset((r["reader_a"], r["reader_b"])): r["cohen_kappa"] for r in summary["by_label"]
              if "cohen_kappa" in r}
    assert kappas == pytest.approx({frozenset((email["r1"], email["r2"])): 0.5,
                                    frozenset((email["r1"], email["r3"])): 0.5,
                                    frozenset((email["r2"], email["r3"])): 0.2}, abs=1e-6)
    assert next(r["fleiss_kappa"] for r in summary["by_label"] if "fleiss_kappa" in r) == pytest.approx(1 / 3)
    # Time: the totals equal the sums of the worklist's own units (API-measured and client-reported).
    units = [u for u in api.projects.get_workunits(project) if u["worklist_id"] == wid]
    assert {(u["user_email"], u["label"], u["seconds"]) for u in units if u["source"] == "client"} == {
        (email["r1"], "liver", 30.0), (email["r2"], "grade", 12.5), (email["r1"], "grade", 7.25)}
    per_user: dict[str, float] = {}
    per_label: dict[str | None, float] = {}
    for u in units:
        per_user[u["user_email"]] = per_user.get(u["user_email"], 0.0) + u["seconds"]
        per_label[u["label"]] = per_label.get(u["label"], 0.0) + u["seconds"]
    assert {r["email"]: r["seconds"] for r in stats["by_user"]} == pytest.approx(per_user, abs=2e-3)
    assert {r["label"]: r["seconds"] for r in stats["by_label"]} == pytest.approx(per_label, abs=2e-3)
    assert stats["units"] == len(units) and stats["total_seconds"] == pytest.approx(sum(per_user.values()), abs=2e-3)
    assert {r["email"] for r in stats["by_user"]} == {email[n] for n in ("r1", "r2", "r3")}
    r1_liver = next(r for r in stats["by_user_label"] if (r["email"], r["label"]) == (email["r1"], "liver"))
    assert r1_liver["seconds"] >= 30.0
    # An annotator: only their own time, and no agreement (a reviewers' tool).
    own = readers["r1"][1].annotationsets.get_workunits_statistics(wid)
    assert "agreement" not in own and {r["email"] for r in own["by_user"]} == {email["r1"]}
    assert own["by_user"][0]["seconds"] == pytest.approx(per_user[email["r1"]], abs=2e-3)


def test_a_reader_cannot_pass_labels_off_as_a_models_to_the_other_readers(api, study):
    """Model predictions are shown to every reader and take no reader's place; in a multi-reader
    worklist only who may run the project's models (``project.predict``) writes them. A reader's
    label sent as ``is_model`` was visible to the other blind readers before the item was complete
    (and took no slot)."""
    from datamint.exceptions import PermissionDeniedError

    wid, rid, readers = study["wid"], study["resources"][0], study["readers"]
    prediction = {"type": "category", "identifier": "grade", "scope": "image", "value": "2",
                  "annotation_worklist_id": wid, "is_model": True, "model_id": "my-model"}
    with pytest.raises(PermissionDeniedError, match="project.predict") as info:
        readers["r1"][1].annotations.create(rid, prediction)
    assert info.value.status_code == 403
    assert readers["r2"][1].annotations.get_list(rid) == []
    assert api.annotationsets.get_readers(wid)["items"] == {}
    made = api.annotations.create(rid, prediction)  # the organization's admin may (every project action)
    seen = readers["r2"][1].annotations.get_list(rid)
    assert [(a.id, a.is_model, a.label_set) for a in seen] == [(made, True, "model:my-model")]

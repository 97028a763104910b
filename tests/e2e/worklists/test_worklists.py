"""Worklists (annotation sets) over real HTTP: creation with a label schema, changes, the
segmentation label group with renames, resources, annotators and the project's own worklist."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from datamint.entities.annotation_worklist import AnnotationWorklist
from datamint.entities.annotations import CategoryAnnotationSpec
from datamint.exceptions import ItemNotFoundError, ValidationError

from conftest import unique


def test_project_creation_makes_its_worklist(api, images):
    project = api.projects.create(unique("proj"), "d", resources_ids=images[:2], segmentation_spec="multi_label")
    assert project.worklist_id and project.annotators == []
    worklist = api.projects.get_worklist(project)
    assert worklist["id"] == project.worklist_id and worklist["project_id"] == project.id
    assert sorted(worklist["resource_ids"]) == sorted(images[:2])
    assert worklist["segmentation_type"] == "multi_label"
    assert [w.id for w in api.projects.get_worklists(project)] == [project.worklist_id]
    api.projects.add_resources(images[2], project)
    assert len(api.annotationsets.get_by_id(project.worklist_id).resource_ids) == 3  # follows the project
    api.annotationsets.update(project.worklist_id, resource_ids=images[:1])  # and the project follows it
    assert [r.id for r in api.projects.get_project_resources(project)] == images[:1]
    api.annotationsets.update_resources(project.worklist_id, resource_ids_to_add=images[1:2],
                                        resource_ids_to_delete=images[:1])
    assert [r.id for r in api.projects.get_project_resources(project)] == images[1:2]


def test_create_get_update_with_specs_annotators_and_labels(api, server, images):
    email, _ = server.new_user()
    project = api.projects.create(unique("proj"), "d", resources_ids=images)
    wid = api.annotationsets.create(
        "Round 1", images[:2], description="first pass",
        annotations=[{"type": "category", "identifier": "grade", "scope": "image", "values": ["1", "2"]}],
        annotators=[email], frame_labels=["motion"], image_labels=["fracture"], project=project)
    worklist = api.annotationsets.get_by_id(wid)
    assert isinstance(worklist, AnnotationWorklist) and worklist.name == "Round 1"
    assert [a.email for a in worklist.annotators] == [email]
    specs = {s.identifier: s for s in api.annotationsets.get_annotations_specs(wid)}
    assert isinstance(specs["grade"], CategoryAnnotationSpec) and specs["grade"].values == ["1", "2"]
    assert (specs["motion"].type.value, specs["motion"].scope) == ("label", "frame")
    assert (specs["fracture"].type.value, specs["fracture"].scope) == ("label", "image")
    api.annotationsets.update(wid, name="Round 1b", status="in_progress", resource_ids=images[1:])
    again = api.annotationsets.get_by_id(wid)
    assert (again.name, again.status, sorted(again.resource_ids)) == ("Round 1b", "in_progress", sorted(images[1:]))
    assert {w.id for w in api.annotationsets.get_by_project(project)} == {project.worklist_id, wid}
    assert {a.email for a in api.projects.get_by_id(project.id).annotators} == {email}
    assert api.annotationworklists is api.annotationsets is api.worklist


def test_annotators_as_dicts_set_expertise_and_status(api, server, images):
    first, _ = server.new_user()
    second, _ = server.new_user()
    project = api.projects.create(unique("proj"), "d", resources_ids=images)
    wid = api.annotationsets.create("Round 2", images, project=project, annotators=[
        {"email": first, "expertise_level": "expert"}, {"email": second, "status": "frozen"}])
    annotators = {a.email: (a.expertise_level, a.status) for a in api.annotationsets.get_by_id(wid).annotators}
    assert annotators == {first: ("expert", "active"), second: (None, "frozen")}
    api.annotationsets.update(wid, annotators=[second, {"email": first, "expertise_level": "learner"}])
    annotators = {a.email: (a.expertise_level, a.status) for a in api.annotationsets.get_by_id(wid).annotators}
    assert annotators == {first: ("learner", "active"), second: (None, "active")}
    for bad in ({"email": first, "requires_review": True}, {"email": first, "expertise_level": "guru"}, {"x": 1}):
        with pytest.raises(ValidationError, match="annotators"):
            api.annotationsets.create("Round 3", images, project=project, annotators=[bad])
    assert "Round 3" not in {w.name for w in api.annotationsets.get_by_project(project)}  # nothing half-made

def test_labels_of_a_worklist_are_enforced(api, images):
    wid = api.annotationsets.create(
        "Strict", images[:1], annotations=[{"type": "category", "identifier": "grade", "values": ["1", "2"]}])
    api.annotations.add_category_annotation(images[0], "grade", "1", worklist_id=wid)
    with pytest.raises(ValidationError, match="not in the worklist's labels"):
        api.annotations.add_category_annotation(images[0], "other", "1", worklist_id=wid)
    with pytest.raises(ValidationError, match="not one of"):
        api.annotations.add_category_annotation(images[0], "grade", "9", worklist_id=wid)
    with pytest.raises(ValidationError, match="not part of worklist"):
        api.annotations.add_category_annotation(images[1], "grade", "1", worklist_id=wid)
    with pytest.raises(ValidationError, match="unknown type"):
        api.annotationsets.create("Bad", images[:1], annotations=[{"type": "blob", "identifier": "x"}])


def test_segmentation_group_renames_existing_annotations(api, images, tmp_path):
    wid = api.annotationsets.create("Segs", images[:1])
    api.annotationsets.update_segmentation_group(wid, [{"identifier": "liver", "color": [255, 0, 0], "index": 1},
                                                       {"identifier": "lesion", "index": 2}])
    group = api.annotationsets.get_segmentation_group(wid)
    assert group["groups"]["liver"] == {"color": [255, 0, 0, 255], "index": 1}
    assert group["groups"]["lesion"]["index"] == 2
    import numpy as np

    mask = np.zeros((16, 24), np.uint8)
    mask[1:3, 1:3] = 2
    (seg,) = api.annotations.upload_segmentations(images[0], mask, {2: "lesion"}, worklist_id=wid)
    with pytest.raises(ValidationError, match="not in the worklist's labels"):
        api.annotations.upload_segmentations(images[0], mask, {2: "spleen"}, worklist_id=wid)
    api.annotationsets.update_segmentation_group(wid, [{"identifier": "liver", "index": 1},
                                                       {"identifier": "tumour", "index": 2}],
                                                 segmentation_value_type="multi_label", renames=["lesion:tumour"])
    assert api.annotations.get_by_id(seg).identifier == "tumour"
    assert api.annotationsets.get_by_id(wid).segmentation_type == "multi_label"
    api.annotationsets.delete_segmentation_group(wid, "liver")
    assert list(api.annotationsets.get_segmentation_group(wid)["groups"]) == ["tumour"]
    yaml_file = tmp_path / "labels.yaml"
    yaml_file.write_text("segmentation_names:\n  - kidney\n  - spleen\n")
    loaded = api.annotationsets.upload_segmentation_group(wid, str(yaml_file))
    assert set(loaded["groups"]) == {"tumour", "kidney", "spleen"}
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("index,r,g,b,name\n1,0,255,0,bone\n")
    loaded = api.annotationsets.upload_segmentation_group(wid, str(csv_file), replace_existing=True)
    assert loaded["groups"] == {"bone": {"color": [0, 255, 0, 255], "index": 1}}
    with pytest.raises(ValidationError):
        api.annotationsets.upload_segmentation_group(wid, io_file(tmp_path, "labels.txt", "x"))


def io_file(folder, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def test_resources_annotators_and_resource_views(api, server, images):
    email, key = server.new_user()
    wid = api.annotationsets.create("Views", images[:1])
    result = api.annotationsets.update_resources(wid, resource_ids_to_add=images[1:], resource_ids_to_delete=images[:1])
    assert result["resource_count"] == 2
    assert api.annotationsets.set_annotator(wid, email, expertise_level="expert")["expertise_level"] == "expert"
    from datamint import Api

    with Api(server.url, key) as annotator:
        theirs = annotator.annotations.add_label_annotation(images[1], "x", worklist_id=wid)
    mine = api.annotations.add_label_annotation(images[1], "y", worklist_id=wid)
    ai = api.annotations.create(images[1], {"type": "segmentation", "identifier": "m", "scope": "image",
                                            "annotation_worklist_id": wid, "model_id": "net"})
    assert {a.id for a in api.annotationsets.get_annotations(wid, images[1])} == {mine, ai}
    assert {a.id for a in api.annotationsets.get_annotations(wid, images[1], all=True)} == {mine, ai, theirs}
    assert {a.id for a in api.annotationsets.get_annotations(wid, images[1], annotator=email)} == {theirs}
    assert [a.id for a in api.annotationsets.get_ai_segmentations(wid, images[1])] == [ai]
    assert [a.id for a in api.annotationsets.get_segmentations(wid, images[1], all=True)] == [ai]
    api.annotationsets.remove_annotator(wid, email)
    assert api.annotationsets.get_by_id(wid).annotators == []
    with pytest.raises(ItemNotFoundError):
        api.annotationsets.remove_annotator(wid, email)
    with pytest.raises(ItemNotFoundError):
        api.annotationsets.get_by_id("0b0c8a5e-1f4b-4a4e-9a7e-8f5d9b3e2c1a")


def test_upload_annotations_creates_and_updates_masks(api, images):
    import io

    import numpy as np
    from PIL import Image

    def png(value: int) -> bytes:
        buffer = io.BytesIO()
        mask = np.zeros((16, 24), np.uint8)
        mask[value, value] = 255
        Image.fromarray(mask).save(buffer, format="PNG")
        return buffer.getvalue()

    wid = api.annotationsets.create("Masks", images[:1])
    result = api.annotationsets.upload_annotations(wid, images[0], [
        {"identifier": "a", "frame_index": 0, "width": 24, "height": 16},
        {"identifier": "b", "frame_index": None, "width": 24, "height": 16}], images=[png(1), png(2)])
    assert len(result["created"]) == 2 and result["updated"] == []
    first = api.annotations.get_by_id(result["ids"][0])
    assert first.fetch_mask()[1, 1] and first.annotation_worklist_id == wid and first.frame_index == 0
    listed = {a.identifier: a for a in api.annotationsets.get_segmentations(wid, images[0])}
    assert listed["b"].fetch_mask()[2, 2] and listed["a"].resource.id == images[0]  # usable entities
    again = api.annotationsets.upload_annotations(wid, images[0], [
        {"id": first.id, "identifier": "a2", "frame_index": 0, "width": 24, "height": 16}], images=[png(3)])
    assert again["updated"] == [first.id]
    changed = api.annotations.get_by_id(first.id)
    assert changed.identifier == "a2" and changed.fetch_mask()[3, 3] and not changed.fetch_mask()[1, 1]
    with pytest.raises(ValidationError, match="does not match"):
        api.annotationsets.upload_annotations(wid, images[0], [{"identifier": "c", "frame_index": 0, "width": 5,
                                                                "height": 16}])


def test_project_and_worklist_progress_methods(api, server, images, tmp_path):
    import csv

    email, key = server.new_user()
    project = api.projects.create(unique("progress"), "d", resources_ids=images[:2])
    api.annotationsets.update(project.worklist_id, annotators=[email],
                              annotations=[{"type": "label", "identifier": "flag"}])
    specs = api.projects.get_annotations_specs(project)
    assert [(s.identifier, s.type.value) for s in specs] == [("flag", "label")]
    from datamint import Api

    with Api(server.url, key) as annotator:
        annotator.annotations.add_label_annotation(images[0], "flag", worklist_id=project.worklist_id)
        annotator.projects.set_work_status(project.id, images[0], "closed")
    api.annotations.create(images[1], {"type": "segmentation", "identifier": "flag2", "scope": "image",
                                       "model_id": "unet-v2"})
    assert api.projects.get_models(project) == [{"name": "unet-v2"}]
    wid = project.worklist_id
    assert [s["status"] for s in api.annotationsets.get_annotation_statuses(wid)] == ["closed"]
    assert api.annotationsets.get_annotator_status(wid, email)["closed"] == 1
    by_email = {s["email"]: s for s in api.annotationsets.get_annotators_statistics(wid)}
    assert by_email[email]["annotations"] == 1 and by_email[email]["closed"] == 1
    assert (by_email[email]["total_resources"], by_email[email]["not_started"]) == (2, 1)
    over_project = {s["email"]: s for s in api.projects.get_annotators_stats(project)}
    assert (over_project[email]["total_resources"], over_project[email]["not_started"]) == (2, 1)
    assert api.projects.get_annotations_stats(project)["resource_count"] == 2
    assert api.annotationsets.get_annotators_statistics(wid, email=email)[0]["email"] == email
    assert api.annotationsets.get_annotations_statistics(wid) == [{"identifier": "flag", "type": "label", "count": 1}]
    out = tmp_path / "wl.csv"
    api.annotationsets.download_annotations(wid, out, annotators=[email], progress_bar=False)
    rows = list(csv.DictReader(out.open()))
    assert [(r["identifier"], r["review_status"], r["annotator"]) for r in rows] == [("flag", "closed", email)]
    today = date.today()
    for window, expected in (({"to_date": today}, 1), ({"to_date": f" {today} "}, 1),
                             ({"from_date": today + timedelta(days=1)}, 0),
                             ({"to_date": today - timedelta(days=1)}, 0)):
        api.annotationsets.download_annotations(wid, out, progress_bar=False, **window)
        assert len(list(csv.DictReader(out.open()))) == expected, window
    api.projects.reset_annotator_status(project, images[0], email)
    assert api.projects.get_annotation_statuses(project) == []
    with pytest.raises(ItemNotFoundError):
        api.annotationsets.reset_annotator_status(wid, images[0], email)


def test_upload_annotations_without_masks_renames_and_creates(api, images):
    """Payload items without images (fewer images than items, here none): the items are created
    or changed without touching any mask (this was a 500: an empty batch of upload intents)."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    mask = np.zeros((16, 24), np.uint8)
    mask[4, 5] = 255
    Image.fromarray(mask).save(buffer, format="PNG")
    wid = api.annotationsets.create("Masks later", images[:1])
    first = api.annotationsets.upload_annotations(wid, images[0], [
        {"identifier": "a", "frame_index": 0, "width": 24, "height": 16}], images=[buffer.getvalue()])["ids"][0]
    result = api.annotationsets.upload_annotations(wid, images[0], [
        {"id": first, "identifier": "a2", "frame_index": 0, "width": 24, "height": 16},
        {"identifier": "b", "frame_index": 0, "width": 24, "height": 16}])
    assert result["updated"] == [first] and len(result["created"]) == 1
    assert result["ids"] == [first, result["created"][0]]
    renamed = api.annotations.get_by_id(first)
    kept = renamed.fetch_mask()
    assert renamed.identifier == "a2" and kept[4, 5] and int(kept.astype(bool).sum()) == 1
    created = api.annotations.get_by_id(result["created"][0])
    assert (created.identifier, created.type, created.annotation_worklist_id) == ("b", "segmentation", wid)
    assert created.file is None


def test_upload_annotations_changes_only_segmentations_of_its_own_worklist(api, images):
    """An ``id`` in the payload names a segmentation of the worklist the request is for: one of
    another worklist (whose labels would not be checked) is refused and stays as it was."""
    strict = api.annotationsets.create(
        "Strict masks", images[:1], annotations=[{"type": "segmentation", "identifier": "liver"}])
    loose = api.annotationsets.create("Loose masks", images[:1])
    theirs = api.annotationsets.upload_annotations(strict, images[0], [
        {"identifier": "liver", "frame_index": 0, "width": 24, "height": 16}])["ids"][0]
    with pytest.raises(ValidationError, match=f"{theirs} is not a segmentation of this resource in this worklist"):
        api.annotationsets.upload_annotations(loose, images[0], [
            {"id": theirs, "identifier": "anything", "frame_index": 0, "width": 24, "height": 16}])
    kept = api.annotations.get_by_id(theirs)
    assert (kept.identifier, kept.annotation_worklist_id) == ("liver", strict)

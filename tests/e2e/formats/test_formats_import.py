"""Import sessions as jobs: export → import into a new project gives the same annotations (labels,
frames, coordinates, masks voxel for voxel) for each format; each hint of the issue comes from a
file made to trigger it, and a failing file leaves nothing behind while the others import."""

from __future__ import annotations

import json

import pytest

from format_samples import annotated_project, annotations_of, assert_same_annotations


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    from datamint import Api

    api = Api(server.url, server.admin_key)
    yield annotated_project(api, server, tmp_path_factory.mktemp("formats-import"))
    api.close()


def _new_project(api, sample):
    import uuid

    project = api.projects.create(f"import-{uuid.uuid4().hex[:8]}", "import target",
                                  resources_ids=[sample.png, sample.ct, sample.nifti])
    return api.projects.get_by_id(project.id if hasattr(project, "id") else project)


def _exported(api, sample, tmp_path, fmt):
    job = api.projects.export(sample.project, format=fmt, wait=True, progress_bar=False, timeout=120)
    return job.download(tmp_path, progress_bar=False)


def _imported(api, server, sample, project, *paths, **options):
    with api.annotations.import_session(project, **options) as session:
        for path in paths:
            session.add_path(path)
    assert session.job.status == "completed", session.get_logs()
    return session, annotations_of(server, [sample.png, sample.ct, sample.nifti], project.worklist_id)


def test_datamint_round_trip_is_lossless(api, server, sample, tmp_path):
    archive = _exported(api, sample, tmp_path, "datamint")
    project = _new_project(api, sample)
    session, got = _imported(api, server, sample, project, archive)
    assert session.job.result["failed_files"] == 0 and session.job.result["created"] == len(sample.original)
    assert_same_annotations(got, sample.original)
    # a zip's member is its own unit: annotations name the member they came from
    assert {(a["source"], a["imported_from"]) for a in got} == {("imported", f"{archive.stem}/annotations.jsonl")}


def test_coco_round_trip_gives_back_boxes_polygons_and_frame_masks(api, server, sample, tmp_path):
    archive = _exported(api, sample, tmp_path, "coco")
    project = _new_project(api, sample)
    _, got = _imported(api, server, sample, project, archive)
    coco_kinds = [a for a in sample.original
                  if a["type"] in ("square", "region") or (a["type"] == "segmentation" and a["scope"] == "frame")]
    assert_same_annotations(got, coco_kinds)


def test_nifti_round_trip_gives_back_volume_and_frame_masks(api, server, sample, tmp_path):
    archive = _exported(api, sample, tmp_path, "nifti")
    project = _new_project(api, sample)
    _, got = _imported(api, server, sample, project, archive)
    assert_same_annotations(got, [a for a in sample.original if a["type"] == "segmentation"])


def _coco(image, annotations, categories=("liver",)):
    return json.dumps({"images": [image], "annotations": annotations,
                       "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)]}).encode()


def test_each_hint_names_file_and_item_and_a_failing_file_leaves_nothing(api, server, sample):
    project = _new_project(api, sample)
    ct = {"id": 1, "file_name": "ct.dcm", "width": 20, "height": 12, "datamint_resource_id": sample.ct,
          "frame_index": 12}
    png = {"id": 1, "file_name": "image.png", "width": 24, "height": 16, "datamint_resource_id": sample.png}
    box = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "segmentation": []}
    session = api.annotations.import_session(project)
    session.add_bytes(_coco(ct, [box]), "frames.json")
    small = {"size": [8, 8], "counts": "0"}
    session.add_bytes(_coco(png, [box, {**box, "id": 8, "segmentation": small}]), "sizes.json")
    session.add_bytes(_coco(png, [box]), "good.json")
    job = session.commit()
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    lines = [line["line"] for line in job.logs() if line["level"] == "error"]
    assert lines == [
        "At frames.json: annotation 7: frame 12 outside a 5-frame series\n\nHint: frames are numbered 0..4",
        "At sizes.json: annotation 8: mask size 8x8 does not match the image 24x16\n\n"
        "Hint: the RLE's size is [height, width] of its image",
    ]
    files = {f["name"]: f for f in session.refresh()["files"]}
    assert {n: f["status"] for n, f in files.items()} == {"frames.json": "failed", "good.json": "imported",
                                                          "sizes.json": "failed"}
    got = annotations_of(server, [sample.png, sample.ct, sample.nifti], project.worklist_id)
    assert [(a["imported_from"], a["type"], a["identifier"]) for a in got] == [("good.json", "square", "liver")]
    assert job.result["created"] == 1 and job.result["failed_files"] == 2


def test_a_bad_member_of_a_zip_fails_alone(api, server, sample):
    import io
    import zipfile

    project = _new_project(api, sample)
    ct = {"id": 1, "file_name": "ct.dcm", "width": 20, "height": 12, "datamint_resource_id": sample.ct,
          "frame_index": 12}
    png = {"id": 1, "file_name": "image.png", "width": 24, "height": 16, "datamint_resource_id": sample.png}
    box = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "segmentation": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("frames.json", _coco(ct, [box]))
        archive.writestr("good.json", _coco(png, [box]))
        archive.writestr("more/good.txt", "not yolo at all\n")
        archive.writestr("more/other.json", _coco(png, [{**box, "id": 9, "bbox": [2, 2, 4, 4]}]))
    session = api.annotations.import_session(project)
    session.add_bytes(buffer.getvalue(), "batch.zip")
    job = session.commit()
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    lines = [line["line"] for line in job.logs()]
    errors = [line["line"] for line in job.logs() if line["level"] == "error"]
    assert errors == [
        "At batch/frames.json: annotation 7: frame 12 outside a 5-frame series\n\nHint: frames are numbered 0..4",
        "At batch/more/good.txt:1: not numbers: 'not yolo at all'\n\nHint: a line is 'class cx cy w h' or "
        "'class x1 y1 ...'",
    ]
    assert "batch/good.json: 1 annotation(s) imported" in lines
    assert "batch/more/other.json: 1 annotation(s) imported" in lines
    files = {f["name"]: f for f in session.refresh()["files"]}
    assert {n: f["status"] for n, f in files.items()} == {
        "batch.zip": "failed", "batch/frames.json": "failed", "batch/good.json": "imported",
        "batch/more/good.txt": "failed", "batch/more/other.json": "imported"}
    assert files["batch.zip"]["message"] == ("2 of 4 member(s) imported (2 annotation(s)); failed: "
                                             "batch/frames.json, batch/more/good.txt")
    got = annotations_of(server, [sample.png, sample.ct, sample.nifti], project.worklist_id)
    assert sorted((a["imported_from"], a["type"], a["identifier"]) for a in got) == [
        ("batch/good.json", "square", "liver"), ("batch/more/other.json", "square", "liver")]
    assert job.result["created"] == 2 and job.result["failed_files"] == 2
    assert [f["name"] for f in job.result["files"]] == ["batch/frames.json", "batch/good.json",
                                                        "batch/more/good.txt", "batch/more/other.json"]


def test_labels_outside_the_worklist_are_named_and_label_map_fixes_them(api, server, sample):
    project = _new_project(api, sample)
    import httpx

    headers = {"apikey": server.admin_key}
    worklist = httpx.get(f"{server.url}/annotationsets/{project.worklist_id}", headers=headers, timeout=30).json()
    spec = [{"identifier": "lesion", "type": "square", "scope": "frame"}]
    response = httpx.patch(f"{server.url}/annotationsets/{worklist['id']}", json={"annotations": spec},
                           headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    png = {"id": 1, "file_name": "image.png", "width": 24, "height": 16, "datamint_resource_id": sample.png}
    data = _coco(png, [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "segmentation": []}])
    session = api.annotations.import_session(project)
    session.add_bytes(data, "liver.json")
    preview = session.preview(timeout=120)
    assert preview["unknown_labels"] == {"liver": 1} and preview["created"] == 0
    assert preview["files"][0]["problems"] == [
        "At liver.json: annotation 3: category 'liver' not in the worklist's labels (lesion)\n\n"
        "Hint: map it to one of them with label_map={'liver': '...'}, or ask a manager to add it"]
    job = session.commit(label_map={"liver": "lesion"})
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    got = annotations_of(server, [sample.png], project.worklist_id)
    assert [(a["identifier"], a["type"]) for a in got] == [("lesion", "square")]


def test_skip_on_conflict_leaves_identical_annotations_alone(api, server, sample, tmp_path):
    archive = _exported(api, sample, tmp_path, "datamint")
    project = _new_project(api, sample)
    _imported(api, server, sample, project, archive)
    session, got = _imported(api, server, sample, project, archive, on_conflict="skip")
    assert session.job.result["created"] == 0
    assert session.job.result["files"][0]["skipped"] == len(sample.original)
    assert len(got) == len(sample.original)


def test_nnunet_layout_holds_images_on_the_label_grid_and_round_trips(api, server, sample, tmp_path):
    import gzip
    import zipfile

    import nibabel
    import numpy as np

    job = api.projects.export(sample.project, format="nifti", options={"nnunet": True}, wait=True,
                              progress_bar=False, timeout=120)
    path = job.download(tmp_path, progress_bar=False)
    archive = zipfile.ZipFile(path)
    dataset = json.loads(archive.read("dataset.json"))
    assert dataset["numTraining"] == 3 and dataset["file_ending"] == ".nii.gz"
    assert dataset["labels"] == {"background": 0, "cyst": 1, "dot": 2, "lesion": 3, "liver": 4, "organ": 5,
                                 "spleen": 6}
    images = sorted(n for n in archive.namelist() if n.startswith("imagesTr/"))
    labels = sorted(n for n in archive.namelist() if n.startswith("labelsTr/"))
    assert [n.removeprefix("imagesTr/").removesuffix("_0000.nii.gz") for n in images] == \
        [n.removeprefix("labelsTr/").removesuffix(".nii.gz") for n in labels]
    for image_name, label_name in zip(images, labels, strict=True):
        image = nibabel.Nifti1Image.from_bytes(gzip.decompress(archive.read(image_name)))
        label = nibabel.Nifti1Image.from_bytes(gzip.decompress(archive.read(label_name)))
        assert image.shape == label.shape and np.allclose(image.affine, label.affine)
    project = _new_project(api, sample)
    _, got = _imported(api, server, sample, project, path)
    assert_same_annotations(got, [a for a in sample.original if a["type"] == "segmentation"])


def test_files_from_other_tools_find_their_image_by_file_name(api, server, sample):
    project = _new_project(api, sample)
    coco = {"images": [{"id": 4, "file_name": "image.png", "width": 24, "height": 16}],
            "annotations": [{"id": 1, "image_id": 4, "category_id": 2, "segmentation": [[1, 1, 10, 1, 10, 8]],
                             "bbox": [1, 1, 9, 7], "area": 31.5, "iscrowd": 0}],
            "categories": [{"id": 2, "name": "organ", "supercategory": ""}]}
    voc = ("<annotation><filename>image.png</filename><size><width>24</width><height>16</height><depth>1</depth>"
           "</size><object><name>lesion</name><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>16</xmax><ymax>10</ymax>"
           "</bndbox></object></annotation>")
    with api.annotations.import_session(project) as session:
        session.add_bytes(json.dumps(coco).encode(), "tool/instances.json")
        session.add_bytes(b"names: [lesion, organ]\n", "yolo/data.yaml")
        session.add_bytes(b"0 0.5 0.5 0.25 0.5\n", "yolo/labels/image.txt")
        session.add_bytes(b"filename,xmin,ymin,width,height,label\nimage.png,2,3,13,6,lesion\n", "boxes.csv")
        session.add_bytes(voc.encode(), "voc/image.xml")
    assert session.job.result["failed_files"] == 0, session.get_logs()
    got = annotations_of(server, [sample.png], project.worklist_id)
    found = sorted((a["imported_from"], a["type"], a["identifier"], a["scope"],
                    [p[:2] for p in a["geometry"]["points"]]) for a in got)
    assert found == [
        ("boxes.csv", "square", "lesion", "image", [[2, 3], [15, 3], [2, 9], [15, 9]]),
        ("tool/instances.json", "region", "organ", "image", [[1, 1], [10, 1], [10, 8]]),
        ("voc/image.xml", "square", "lesion", "image", [[2, 3], [15, 3], [2, 9], [15, 9]]),
        ("yolo/labels/image.txt", "square", "lesion", "image", [[9, 4], [15, 4], [9, 12], [15, 12]]),
    ]


def test_predictions_are_attributed_to_their_model_and_author(api, server, sample, tmp_path):
    archive = _exported(api, sample, tmp_path, "coco")
    project = _new_project(api, sample)
    _, got = _imported(api, server, sample, project, archive, model_name="unet-v3", author="rad@example.org")
    assert got and {(a["source"], a["model_id"], a["is_model"], a["import_author"], a["imported_from"])
                    for a in got} == {("model_pipeline", "unet-v3", True, "rad@example.org",
                                       f"{archive.stem}/annotations.json")}


def test_replace_removes_only_annotations_the_importer_may_change(api, server, sample):
    """``on_conflict='replace'`` soft-deleted every annotation of the labels imported, whoever drew
    it: an annotator (who may delete only their own) removed a colleague's work by importing one
    box. The file now fails naming why, and nothing of it is written; a reviewer still replaces."""
    import httpx

    from datamint import Api

    project = _new_project(api, sample)
    png = {"id": 1, "file_name": "image.png", "width": 24, "height": 16, "datamint_resource_id": sample.png}
    first = _coco(png, [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "segmentation": []}])
    with api.annotations.import_session(project) as session:  # the admin's box
        session.add_bytes(first, "admin.json")
    admin_box = annotations_of(server, [sample.png], project.worklist_id)
    assert [(a["identifier"], a["type"]) for a in admin_box] == [("liver", "square")]
    email, key = server.new_user()
    user_id = httpx.get(f"{server.url}/users/{email}", headers={"apikey": server.admin_key}, timeout=30).json()["id"]
    added = httpx.post(f"{server.url}/projects/{project.id}/members/{user_id}", json={"roles": ["PROJECT_ANNOTATOR"]},
                       headers={"apikey": server.admin_key}, timeout=30)
    assert added.status_code == 200, added.text
    theirs = _coco(png, [{"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, 2, 2], "segmentation": []}])
    annotator = Api(server.url, key)
    try:
        session = annotator.annotations.import_session(project.id)
        session.add_bytes(theirs, "mine.json")
        job = session.commit(on_conflict="replace")
        job.wait(timeout=120, progress_bar=False)
    finally:
        annotator.close()
    assert job.result["failed_files"] == 1 and job.result["created"] == 0
    assert job.result["files"][0]["problems"] == [
        "At mine.json: on_conflict='replace' would remove 1 annotation(s) you may not change (only their authors, "
        "reviewers and managers may)\n\nHint: import with on_conflict='keep' or 'skip', or ask a reviewer to "
        "replace them"]
    after = annotations_of(server, [sample.png], project.worklist_id)
    assert [a["id"] for a in after] == [admin_box[0]["id"]]
    with api.annotations.import_session(project, on_conflict="replace") as session:  # the admin may
        session.add_bytes(theirs, "admin2.json")
    replaced = annotations_of(server, [sample.png], project.worklist_id)
    assert len(replaced) == 1 and replaced[0]["id"] != admin_box[0]["id"]
    assert replaced[0]["geometry"] != admin_box[0]["geometry"]


def test_a_mask_larger_than_the_decoded_size_limits_is_refused_before_it_is_drawn(api, server, sample):
    """A COCO RLE and a YOLO-seg traced mask take their size from the file; they were decoded (or
    filled) at that size before the size was compared with the image's: a 60000 x 60000 RLE is a
    3.6 GB array in the worker. The size is now checked against the decoded-size limits first."""
    project = _new_project(api, sample)
    png = {"id": 1, "file_name": "image.png", "width": 8000, "height": 8000, "datamint_resource_id": sample.png}
    rle = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [8000, 8000], "counts": [64000000]}}
    session = api.annotations.import_session(project)
    session.add_bytes(_coco(png, [rle]), "big.json")
    session.add_bytes(b"0 0.1 0.1 0.9 0.1 0.5 0.9\n", "labels/image.txt")
    session.add_bytes(json.dumps({"file": "labels/image.txt", "resource_id": sample.png, "frame_index": 0,
                                  "width": 8000, "height": 8000,
                                  "masks": [{"label": "liver", "scope": "frame", "lines": [1, 1]}]}).encode(),
                      "yolo_masks.jsonl")
    job = session.commit()
    job.wait(timeout=120, progress_bar=False)
    problems = {f["name"]: f["problems"] for f in job.result["files"]}
    over = ("a frame of the mask (8000 x 8000) is 64,000,000 pixels, over the server's limit of 33,554,432 "
            "pixels")
    assert problems["big.json"][0].startswith(f"At big.json: annotation 1: {over}"), problems
    assert problems["labels/image.txt"][0].startswith(f"At labels/image.txt:1-1: {over}"), problems
    assert job.result["created"] == 0
    assert annotations_of(server, [sample.png], project.worklist_id) == []

"""The 2-D formats (YOLO, Pascal VOC, CSV box tables, PNG masks): exact file contents for known
annotations, and export → import into a new project gives the same annotations back."""

from __future__ import annotations

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import yaml
from PIL import Image

from format_samples import PNG_H, PNG_W, annotated_project, annotations_of, assert_same_annotations

LABELS = ["cyst", "dot", "lesion", "liver", "organ", "spleen"]


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    from datamint import Api

    api = Api(server.url, server.admin_key)
    yield annotated_project(api, server, tmp_path_factory.mktemp("formats-flat"))
    api.close()


def _export(api, sample, tmp_path, fmt, **kwargs):
    job = api.projects.export(sample.project, format=fmt, wait=True, progress_bar=False, timeout=120, **kwargs)
    folder = tmp_path / fmt
    folder.mkdir(exist_ok=True)
    return job.download(folder, progress_bar=False)


def _round_trip(api, server, sample, path):
    project = api.projects.create(f"flat-{uuid.uuid4().hex[:8]}", "flat formats",
                                  resources_ids=[sample.png, sample.ct, sample.nifti])
    project = api.projects.get_by_id(project.id)
    with api.annotations.import_session(project) as session:
        session.add_path(path)
    assert session.job.result["failed_files"] == 0, session.get_logs()
    return annotations_of(server, [sample.png, sample.ct, sample.nifti], project.worklist_id)


def _of(sample, *kinds, scope=None):
    return [a for a in sample.original if a["type"] in kinds and (scope is None or a["scope"] == scope)]


def _png_stem(archive, sample):
    return [n for n in archive.namelist() if sample.png[:8] in n][0].rsplit("/", 1)[-1].rsplit(".", 1)[0]


def test_yolo_detection_lines_and_data_yaml(api, server, sample, tmp_path):
    path = _export(api, sample, tmp_path, "yolo")
    archive = zipfile.ZipFile(path)
    data = yaml.safe_load(archive.read("data.yaml"))
    assert data["names"] == dict(enumerate(LABELS)) and data["nc"] == 6
    stem = _png_stem(archive, sample)
    assert archive.read(f"labels/{stem}.txt").decode() == "2 0.354167 0.375000 0.541667 0.375000\n"
    assert f"labels/{stem.split('_')[0]}" not in archive.namelist()
    ct_files = [n for n in archive.namelist() if sample.ct[:8] in n]
    assert len(ct_files) == 1 and ct_files[0].endswith("_frame0003.txt")
    assert_same_annotations(_round_trip(api, server, sample, path), _of(sample, "square"), decimals=3)


def test_yolo_segmentation_polygons_round_trip(api, server, sample, tmp_path):
    path = _export(api, sample, tmp_path, "yolo", options={"task": "segment"})
    archive = zipfile.ZipFile(path)
    lines = archive.read(f"labels/{_png_stem(archive, sample)}.txt").decode().splitlines()
    assert "4 0.166667 0.125000 0.770833 0.187500 0.500000 0.828125" in lines
    # the 2-D masks are traced into polygons and filled back: the sample's masks come back voxel-exact
    assert_same_annotations(_round_trip(api, server, sample, path),
                            _of(sample, "region") + _of(sample, "segmentation", scope="frame"), decimals=3)


def test_yolo_segmentation_traces_a_mask_with_a_hole_and_two_components(api, server, tmp_path):
    from scipy import ndimage

    from format_samples import unique_png

    image = unique_png(tmp_path)
    png = api.resources.upload_resource(str(image))
    project = api.projects.create(f"yolo-seg-{uuid.uuid4().hex[:8]}", "yolo masks", resources_ids=[png])
    mask = np.zeros((PNG_H, PNG_W), np.uint8)
    mask[1:12, 1:12] = 1
    mask[4:8, 4:9] = 0  # a hole
    mask[9:15, 15:22] = 1  # a second component
    api.annotations.upload_segmentations(png, mask, "organ")
    job = api.projects.export(project, format="yolo", options={"task": "segment"}, wait=True, progress_bar=False,
                              timeout=120)
    (tmp_path / "out").mkdir()
    path = job.download(tmp_path / "out", progress_bar=False)
    archive = zipfile.ZipFile(path)
    label_files = [n for n in archive.namelist() if n.startswith("labels/")]
    lines = archive.read(label_files[0]).decode().splitlines()
    assert len(label_files) == 1 and len(lines) == 2 and all(line.startswith("0 ") for line in lines)
    manifest = [json.loads(line) for line in archive.read("yolo_masks.jsonl").decode().splitlines()]
    assert manifest == [{"file": label_files[0], "resource_id": png, "frame_index": 0, "width": PNG_W,
                         "height": PNG_H, "masks": [{"label": "organ", "scope": "frame", "lines": [1, 2]}]}]
    target = api.projects.create(f"yolo-seg-in-{uuid.uuid4().hex[:8]}", "yolo masks in", resources_ids=[png])
    target = api.projects.get_by_id(target.id)
    with api.annotations.import_session(target) as session:
        session.add_path(path)
    assert session.job.result["failed_files"] == 0, session.get_logs()
    got = annotations_of(server, [png], target.worklist_id)
    assert session.job.result["created"] == 1, session.job.result["files"]
    assert [(a["type"], a["identifier"]) for a in got] == [("segmentation", "organ")]
    back, want = got[0]["mask"].astype(bool), mask.astype(bool)
    assert (back & want).sum() / (back | want).sum() >= 0.95
    assert ndimage.label(back)[1] == 2 and ndimage.label(~back)[1] == 2  # two components, one hole
    # every differing pixel is within one pixel of the original border
    border = want ^ ndimage.binary_erosion(want)
    assert not (back ^ want)[~ndimage.binary_dilation(border)].any()


def test_voc_xml_is_one_based_and_round_trips_exactly(api, server, sample, tmp_path):
    path = _export(api, sample, tmp_path, "voc")
    archive = zipfile.ZipFile(path)
    root = ET.fromstring(archive.read(f"Annotations/{_png_stem(archive, sample)}.xml"))
    assert (root.findtext("size/width"), root.findtext("size/height")) == (str(PNG_W), str(PNG_H))
    (obj,) = root.findall("object")
    assert obj.findtext("name") == "lesion"
    assert [obj.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] == ["3", "4", "16", "10"]
    assert len(archive.read("ImageSets/Main/trainval.txt").decode().split()) == 2
    assert_same_annotations(_round_trip(api, server, sample, path), _of(sample, "square"))


@pytest.mark.parametrize("fmt, header, png_row", [
    ("csv_fourcorner", "filename,xmin,ymin,xmax,ymax,label", ["2", "3", "15", "9", "lesion"]),
    ("csv_widthheight", "filename,xmin,ymin,width,height,label", ["2", "3", "13", "6", "lesion"]),
])
def test_csv_layouts_of_seed_003(api, server, sample, tmp_path, fmt, header, png_row):
    path = _export(api, sample, tmp_path, fmt)
    rows = list(csv.reader(io.StringIO(zipfile.ZipFile(path).read("annotations.csv").decode())))
    assert ",".join(rows[0]).startswith(header) and rows[0][-2:] == ["resource_id", "frame_index"]
    png = [r for r in rows[1:] if r[6] == sample.png]
    assert [r[1:6] for r in png] == [png_row] and png[0][0] == "image.png"
    assert_same_annotations(_round_trip(api, server, sample, path), _of(sample, "square"))


def test_png_masks_semantic_and_instances(api, server, sample, tmp_path):
    path = _export(api, sample, tmp_path, "png_masks", options={"instances": True})
    archive = zipfile.ZipFile(path)
    (png_name,) = [n for n in archive.namelist() if n.startswith("semantic/") and sample.png[:8] in n]
    semantic = np.asarray(Image.open(io.BytesIO(archive.read(png_name))))
    assert np.array_equal(semantic, sample.png_mask * 5)  # 'organ' is class 5 of labels.json
    expected = _of(sample, "segmentation", scope="frame")
    assert len([n for n in archive.namelist() if n.startswith("instances/")]) == len(expected)
    # The semantic masks alone (instances removed) and the instances alone both give the masks back.
    semantic_only = tmp_path / "semantic.zip"
    with zipfile.ZipFile(semantic_only, "w") as out:
        for name in archive.namelist():
            if not name.startswith("instances"):
                out.writestr(name, archive.read(name))
    assert_same_annotations(_round_trip(api, server, sample, semantic_only), expected)
    instances_only = tmp_path / "instances.zip"
    with zipfile.ZipFile(instances_only, "w") as out:
        for name in archive.namelist():
            if name.startswith("instances"):
                out.writestr(name, archive.read(name))
    assert_same_annotations(_round_trip(api, server, sample, instances_only), expected)

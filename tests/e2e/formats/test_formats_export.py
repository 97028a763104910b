"""Exports as jobs: each format's archive read back by the field's own readers (pycocotools for
COCO, nibabel for NIfTI label maps) and compared with the exact values the annotations were made
from; the job's progress, its archive download by token, and bad requests."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import nibabel
import numpy as np
import pytest

from fixtures.projects import COLS, FRAMES, NIFTI_AFFINE, ROWS
from format_samples import PNG_H, PNG_W, annotated_project


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    from datamint import Api

    api = Api(server.url, server.admin_key)
    yield annotated_project(api, server, tmp_path_factory.mktemp("formats"))
    api.close()


def _export(api, sample, tmp_path, fmt, **kwargs) -> zipfile.ZipFile:
    tmp_path.mkdir(parents=True, exist_ok=True)
    job = api.projects.export(sample.project, format=fmt, **kwargs)
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    assert job.kind == "formats.export" and job.result["format"] == fmt
    path = job.download(tmp_path, progress_bar=False)
    assert path.name == job.result["filename"] and path.stat().st_size == job.result["size"]
    return zipfile.ZipFile(path)


def test_coco_is_read_by_pycocotools_with_exact_masks_boxes_and_polygons(api, sample, tmp_path):
    from pycocotools.coco import COCO

    archive = _export(api, sample, tmp_path, "coco")
    target = tmp_path / "annotations.json"
    target.write_bytes(archive.read("annotations.json"))
    coco = COCO(str(target))
    names = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    assert sorted(names) == ["cyst", "dot", "lesion", "liver", "organ", "spleen"]
    images = {(i["datamint_resource_id"], i["frame_index"]): i for i in coco.loadImgs(coco.getImgIds())}
    png_image = images[(sample.png, 0)]
    assert (png_image["width"], png_image["height"]) == (PNG_W, PNG_H)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[png_image["id"]]))
    masks = [a for a in anns if isinstance(a["segmentation"], dict)]
    assert len(masks) == 1 and np.array_equal(coco.annToMask(masks[0]), sample.png_mask)
    boxes = [a for a in anns if a["segmentation"] == []]
    assert [b["bbox"] for b in boxes] == [[2.0, 3.0, 13.0, 6.0]] and boxes[0]["category_id"] == names["lesion"]
    polygons = [a for a in anns if isinstance(a["segmentation"], list) and a["segmentation"]]
    assert polygons[0]["segmentation"] == [[4.0, 2.0, 18.5, 3.0, 12.0, 13.25]]
    # The CT: one image per annotated frame; its masks are exactly the uploaded frame labels.
    ct_frames = sorted(k for (rid, k) in images if rid == sample.ct)
    assert ct_frames == [k for k in range(FRAMES) if sample.ct_frames[:, :, k].any()]
    for k in ct_frames:
        image = images[(sample.ct, k)]
        assert (image["width"], image["height"]) == (COLS, ROWS)
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
            if isinstance(a["segmentation"], dict):
                value = {names["lesion"]: 1, names["cyst"]: 2}[a["category_id"]]
                assert np.array_equal(coco.annToMask(a), sample.ct_frames[:, :, k] == value)
            else:
                assert k == 3 and np.allclose(a["bbox"], [2, 3, 13, 6], atol=1e-6)
    # Not COCO instances: the point, and the NIfTI's volume masks; the log says so.
    job = api.jobs.get_list(kind="formats.export", project=sample.project.id)[0]
    lines = [line["line"] for line in job.logs()]
    assert "1 annotation(s) not exported: point (not a COCO instance)" in lines
    assert "2 annotation(s) not exported: volume segmentation (COCO is 2-D: use nifti or dicom-seg)" in lines


def test_nifti_label_maps_are_read_by_nibabel_in_the_resources_geometry(api, sample, tmp_path):
    archive = _export(api, sample, tmp_path, "nifti")
    names = json.loads(archive.read("labels.json"))["labels"]
    assert names == {"background": 0, "cyst": 1, "dot": 2, "lesion": 3, "liver": 4, "organ": 5, "spleen": 6}
    files = {json.loads(line)["resource_id"]: json.loads(line)["file"]
             for line in archive.read("resources.jsonl").decode().splitlines()}
    assert set(files) == {sample.png, sample.ct, sample.nifti}

    def load(rid):
        return nibabel.Nifti1Image.from_bytes(__import__("gzip").decompress(archive.read(files[rid])))

    nifti = load(sample.nifti)
    assert np.allclose(nifti.affine, NIFTI_AFFINE)
    expected = np.where(sample.nifti_volume == 1, 4, np.where(sample.nifti_volume == 2, 6, 0))
    assert np.array_equal(np.asanyarray(nifti.dataobj), expected)
    ct = load(sample.ct)
    frames = sample.ct_frames.transpose(1, 0, 2)  # (columns, rows, frames)
    assert np.array_equal(np.asanyarray(ct.dataobj), np.where(frames == 1, 3, np.where(frames == 2, 1, 0)))
    # The CT's affine maps voxel (column, row, frame) to RAS: LPS origin (-16, -8, 0), 0.75/0.5/2.5 mm.
    assert np.allclose(ct.affine, [[-0.75, 0, 0, 16], [0, -0.5, 0, 8], [0, 0, 2.5, 0], [0, 0, 0, 1]])
    png = load(sample.png)
    assert np.array_equal(np.asanyarray(png.dataobj)[:, :, 0], (sample.png_mask * 5).T)


def test_split_by_patient_and_download_by_token(api, server, sample, tmp_path):
    job = api.projects.export(sample.project, format="datamint", split_ratios={"train": 0.67, "val": 0.33}, seed=3)
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    assert job.progress["total"] == 3 and job.progress["done"] == 3
    response = httpx.get(server.url + job.result["download_url"], headers={"apikey": server.admin_key}, timeout=30)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    records = [json.loads(line) for line in archive.read("annotations.jsonl").decode().splitlines()]
    assert {r["split"] for r in records} <= {"train", "val"} and sorted(job.result["splits"]) == ["train", "val"]
    by_resource = {r["resource_id"]: r["split"] for r in records}
    assert len(by_resource) == 3 and sorted(by_resource.values()).count("train") == 2
    assert httpx.get(f"{server.url}/exports/download/not-a-token", headers={"apikey": server.admin_key},
                     timeout=30).status_code == 404
    assert httpx.get(server.url + job.result["download_url"], timeout=30).status_code == 401


def test_bad_export_requests_are_refused_at_once(api, server, sample):
    url = f"{server.url}/projects/{sample.project.id}/exports"
    headers = {"apikey": server.admin_key}
    bad = httpx.post(url, json={"format": "bmp"}, headers=headers, timeout=30)
    assert bad.status_code == 422 and "Unknown export format 'bmp'" in bad.json()["message"]
    ratios = httpx.post(url, json={"format": "coco", "split": {"ratios": {"train": 0.5, "val": 0.2}}},
                        headers=headers, timeout=30)
    assert ratios.status_code == 422 and "sum to 1" in ratios.json()["message"]
    option = httpx.post(url, json={"format": "yolo", "options": {"task": "pose"}}, headers=headers, timeout=30)
    assert option.status_code == 422
    assert option.json()["message"] == "Option 'task' is one of detect, segment, got 'pose'"
    unknown = httpx.post(url, json={"format": "coco", "options": {"nnunet": True}}, headers=headers, timeout=30)
    assert unknown.status_code == 422 and "Unknown option 'nnunet' for format 'coco'" in unknown.json()["message"]
    missing = httpx.post(f"{server.url}/projects/00000000-0000-4000-8000-000000000000/exports",
                         json={"format": "coco"}, headers=headers, timeout=30)
    assert missing.status_code == 404


def test_a_dataset_version_exports_its_frozen_annotations(api, server, sample, tmp_path):
    from format_samples import post_annotations

    version = api.datasets.create_version(sample.project.dataset_id, f"frozen-{sample.project.id[:6]}",
                                          progress_bar=False)
    after = {"type": "point", "identifier": "after", "geometry": {"points": [[1, 1, 0]]}}
    post_annotations(server, sample.png, [after])
    live = _export(api, sample, tmp_path / "live", "datamint")
    frozen = _export(api, sample, tmp_path / "frozen", "datamint", version=version.number)

    def ids(archive: zipfile.ZipFile) -> list[str]:
        return sorted(json.loads(line)["id"] for line in archive.read("annotations.jsonl").splitlines())

    assert ids(frozen) == sorted(a["id"] for a in sample.original)
    assert len(ids(live)) == len(sample.original) + 1
    nifti = _export(api, sample, tmp_path / "frozen-nifti", "nifti", version="latest")
    assert json.loads(nifti.read("labels.json"))["labels"] == {
        "background": 0, "cyst": 1, "dot": 2, "lesion": 3, "liver": 4, "organ": 5, "spleen": 6}
    files = {json.loads(line)["resource_id"]: json.loads(line)["file"]
             for line in nifti.read("resources.jsonl").decode().splitlines()}
    data = nibabel.Nifti1Image.from_bytes(__import__("gzip").decompress(nifti.read(files[sample.nifti])))
    expected = np.where(sample.nifti_volume == 1, 4, np.where(sample.nifti_volume == 2, 6, 0))
    assert np.array_equal(np.asanyarray(data.dataobj), expected)


def test_filters_narrow_the_export(api, sample, tmp_path):
    archive = _export(api, sample, tmp_path / "filtered", "datamint", labels=["lesion", "organ"],
                      resources=[sample.png], annotators=["admin@datamint.local", "nobody@example.org"])
    records = [json.loads(line) for line in archive.read("annotations.jsonl").splitlines()]
    expected = sorted(a["id"] for a in sample.original
                      if a["identifier"] in ("lesion", "organ") and a["resource_id"] == sample.png)
    assert sorted(r["id"] for r in records) == expected and len(expected) == 3
    none = _export(api, sample, tmp_path / "nobody", "datamint", annotators=["nobody@example.org"])
    assert none.read("annotations.jsonl") == b""


def test_project_splits_filter_and_split_folders(api, sample, tmp_path):
    api.projects.assign_splits([sample.ct, sample.nifti], "holdout", project=sample.project)
    archive = _export(api, sample, tmp_path / "holdout", "nifti", splits=["holdout"],
                      split_ratios={"a": 0.5, "b": 0.5}, seed=7)
    files = sorted(n for n in archive.namelist() if "/labels/" in n)
    assert sorted(n.split("/")[0] for n in files) == ["a", "b"]  # two patients, one per part
    assert not any(sample.png[:8] in n for n in archive.namelist())


def test_a_cancelled_export_keeps_no_archive(api, server, tmp_path):
    """Cancelled right after it is submitted (queued, or writing its 3,000 boxes), the export ends
    ``cancelled``: no archive blob under its job, no ``export_archives`` row, no download."""
    from sqlalchemy import text

    from format_samples import unique_png

    png = api.resources.upload_resource(str(unique_png(tmp_path)))
    project = api.projects.create(f"cancel-{png[:8]}", "a cancelled export", resources_ids=[png])
    boxes = [{"type": "square", "identifier": "lesion", "scope": "image",
              "geometry": {"points": [[x, y, 0], [x + 3, y, 0], [x, y + 3, 0], [x + 3, y + 3, 0]]}}
             for x, y in ((i % 20, i % 12) for i in range(3000))]
    for start in range(0, len(boxes), 1000):
        response = httpx.post(f"{server.url}/annotations/{png}/annotations", json=boxes[start:start + 1000],
                              headers={"apikey": server.admin_key}, timeout=60)
        assert response.status_code == 201, response.text[:300]
    job = api.projects.export(project, format="coco")
    api.jobs.cancel(job)
    final = api.jobs.wait(job.id, timeout=120, progress_bar=False)
    assert final.status == "cancelled"
    store = server.app.state.blob_store
    assert [k for k in store.list("") if f"/exports/{job.id}/" in k] == []
    with server.app.state.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM export_archives WHERE job_id = :j"), {"j": job.id}).scalar() == 0
    response = httpx.get(f"{server.url}/exports/{job.id}/download", headers={"apikey": server.admin_key}, timeout=30)
    assert response.status_code == 404, response.text

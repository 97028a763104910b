"""The proof of dataset versions: a CT series, a NIfTI volume and PNG images with masks, boxes and
labels are frozen; then an annotation's mask is replaced and another annotation is deleted. The
old version still yields the old masks (per-kind datasets and the legacy Dataset), the live
dataset and ``latest`` after a new version yield the new ones, and the legacy Dataset downloads
only what changed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import datamint
from datamint import Api
from datamint.dataset import ImageDataset, VolumeDataset
from fixtures.projects import build_sample


@pytest.fixture(scope="module")
def edited(server, tmp_path_factory):
    """The sample frozen as version 1, edited, then frozen as version 2 (``latest``)."""
    api = Api(server.url, server.admin_key)
    sample = build_sample(api, tmp_path_factory.mktemp("proof"))
    root = tmp_path_factory.mktemp("proof-root")
    first = api.datasets.create_version(sample.dataset_id, "before-edit")
    legacy_v1 = datamint.Dataset(root, sample.project.name, version="before-edit", api_key=server.admin_key,
                                 server_url=server.url)
    blobs_v1 = {p: p.stat().st_mtime_ns for p in (root / sample.project.name / "blobs").rglob("*") if p.is_file()}

    new_mask = np.zeros_like(sample.png1_mask)
    new_mask[10:14, 1:20] = True
    buf = io.BytesIO()
    Image.fromarray(new_mask.astype(np.uint8) * 255).save(buf, format="PNG")
    (png_annotation,) = sample.annotation_ids["png1"]
    api.annotations.upload_annotation_file(sample.png1, png_annotation, io.BytesIO(buf.getvalue()))
    tumor = next(a for a in api.annotations.get_list(resource=sample.nifti) if a.identifier == "tumor")
    api.annotations.delete(tumor.id)
    live = {"png": ImageDataset(sample.project.name, api_key=server.admin_key, server_url=server.url,
                                return_as_semantic_segmentation=True)}
    second = api.datasets.create_version(sample.dataset_id, "after-edit")
    yield {"api": api, "sample": sample, "root": root, "first": first, "second": second, "new_mask": new_mask,
           "legacy_v1": legacy_v1, "blobs_v1": blobs_v1, "live": live}
    api.close()


def _png_mask(dataset, resource_id):
    item = next(dataset[i] for i in range(len(dataset)) if dataset.records[i].id == resource_id)
    return item["masks"].numpy() == dataset.segmentation_labels.index("lesion")


def _nifti_classes(dataset, resource_id):
    item = next(dataset[i] for i in range(len(dataset)) if dataset.records[i].id == resource_id)
    return sorted({name for names in item["mask_labels"].values() for name in names})


def test_old_version_still_yields_the_old_masks(server, edited):
    s, kw = edited["sample"], {"api_key": server.admin_key, "server_url": server.url}
    old_png = ImageDataset(s.project.name, version=edited["first"].number, return_as_semantic_segmentation=True,
                           **kw)
    assert np.array_equal(_png_mask(old_png, s.png1), s.png1_mask)
    old_volumes = VolumeDataset(s.project.name, version="before-edit", **kw)
    assert _nifti_classes(old_volumes, s.nifti) == ["liver", "tumor"]


def test_live_and_latest_yield_the_new_masks(server, edited):
    s, kw = edited["sample"], {"api_key": server.admin_key, "server_url": server.url}
    assert np.array_equal(_png_mask(edited["live"]["png"], s.png1), edited["new_mask"])
    latest = ImageDataset(s.project.name, version="latest", return_as_semantic_segmentation=True, **kw)
    assert np.array_equal(_png_mask(latest, s.png1), edited["new_mask"])
    assert _nifti_classes(VolumeDataset(s.project.name, version="latest", **kw), s.nifti) == ["liver"]


def test_manifest_of_a_version_never_changes(edited):
    api, s = edited["api"], edited["sample"]
    before = api.datasets.get_manifest(s.dataset_id, "before-edit")
    after = api.datasets.get_manifest(s.dataset_id, "after-edit")
    assert len(before["annotations"]) == len(after["annotations"]) + 1
    (png_before,) = [a for a in before["annotations"] if a["resource_id"] == s.png1 and a["mask"]]
    (png_after,) = [a for a in after["annotations"] if a["resource_id"] == s.png1 and a["mask"]]
    assert png_before["id"] == png_after["id"] and png_before["mask"]["sha256"] != png_after["mask"]["sha256"]
    assert {r["sha256"] for r in before["resources"]} == {r["sha256"] for r in after["resources"]}


def test_legacy_dataset_versions_and_incremental_download(server, edited):
    s, root = edited["sample"], edited["root"]
    old = edited["legacy_v1"]
    masks = old.get_masks(next(i for i, r in enumerate(old.records) if r.id == s.png1))
    assert np.array_equal(masks["lesion"][0], s.png1_mask)
    latest = datamint.Dataset(root, s.project.name, api_key=server.admin_key, server_url=server.url)
    assert latest.version == edited["second"].number
    masks = latest.get_masks(next(i for i, r in enumerate(latest.records) if r.id == s.png1))
    assert np.array_equal(masks["lesion"][0], edited["new_mask"])
    files = {p: p.stat().st_mtime_ns for p in (root / s.project.name / "blobs").rglob("*") if p.is_file()}
    assert len(set(files) - set(edited["blobs_v1"])) == 1  # only the replaced mask was downloaded
    assert all(files[p] == t for p, t in edited["blobs_v1"].items())  # nothing was rewritten
    offline = datamint.Dataset(root, s.project.name, version="before-edit", download=False,
                               server_url="http://127.0.0.1:9")
    masks = offline.get_masks(next(i for i, r in enumerate(offline.records) if r.id == s.png1))
    assert np.array_equal(masks["lesion"][0], s.png1_mask)

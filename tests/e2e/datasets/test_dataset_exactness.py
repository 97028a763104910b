"""Exactness: every image, mask and box a dataset returns equals what was uploaded, voxel for voxel,
in the image's orientation — for the live project (entity cache) and for a frozen version."""

from __future__ import annotations

import nibabel
import numpy as np
import pydicom
import pytest
import torch

from datamint import Api
from datamint.dataset import ImageDataset, SlicedVolumeDataset, VolumeDataset
from fixtures.projects import FRAMES, NIFTI_SHAPE, build_sample

CT_BOX, CT_BOX_FRAME = (2.0, 3.0, 15.0, 9.0), 3
NIFTI_BOX, NIFTI_BOX_FRAME = (1.0, 2.0, 9.0, 7.0), 4


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    api = Api(server.url, server.admin_key)
    built = build_sample(api, tmp_path_factory.mktemp("exact"))
    api.annotations.add_box_annotation(CT_BOX[:2], CT_BOX[2:], built.ct, "lesion", frame_index=CT_BOX_FRAME)
    api.annotations.add_box_annotation(NIFTI_BOX[:2], NIFTI_BOX[2:], built.nifti, "lesion",
                                       frame_index=NIFTI_BOX_FRAME)
    api.datasets.create_version(built.dataset_id)
    built.originals = {rid: api.resources.download_resource_file(rid, auto_convert=False)  # type: ignore[attr-defined]
                       for rid in (built.ct, built.nifti)}
    yield built
    api.close()


@pytest.fixture(params=[None, "latest"], ids=["live", "version"])
def version(request):
    return request.param


def _item(dataset, resource_id):
    return next(dataset[i] for i in range(len(dataset)) if dataset.records[i].id == resource_id)


def _kw(server, version):
    return {"api_key": server.admin_key, "server_url": server.url, "version": version}


def test_volumes_images_masks_and_boxes_are_exact(server, sample, version):
    dataset = VolumeDataset(sample.project.name, return_boxes=True, **_kw(server, version))
    import io

    ct = _item(dataset, sample.ct)
    original = pydicom.dcmread(io.BytesIO(sample.originals[sample.ct]))
    pixels = original.pixel_array  # (frames, rows, cols), stored values
    slope, intercept = float(original.RescaleSlope), float(original.RescaleIntercept)
    assert (slope, intercept) == (1.0, -1024.0)
    assert ct["image"].dtype == torch.float32  # Hounsfield units, as the official client gives them
    assert np.array_equal(ct["image"][0].numpy(), pixels * slope + intercept)
    (author,) = ct["masks"]
    by_name = dict(zip(ct["mask_labels"][author], ct["masks"][author].numpy(), strict=True))
    expected = sample.ct_labels.transpose(2, 0, 1)  # uploaded (rows, cols, frames) → (frames, rows, cols)
    assert np.array_equal(by_name["liver"], expected == 1) and np.array_equal(by_name["tumor"], expected == 2)
    assert np.allclose(ct["boxes"].numpy(), [CT_BOX], atol=1e-4) and ct["box_frames"].tolist() == [CT_BOX_FRAME]
    assert [dataset.box_label_names[i] for i in ct["box_labels"].tolist()] == ["lesion"]

    nifti = _item(dataset, sample.nifti)
    data = np.asanyarray(nibabel.Nifti1Image.from_bytes(
        __import__("gzip").decompress(sample.originals[sample.nifti])).dataobj)
    assert nifti["image"].shape == (1, NIFTI_SHAPE[2], NIFTI_SHAPE[1], NIFTI_SHAPE[0])
    assert np.array_equal(nifti["image"][0].numpy(), data.transpose(2, 1, 0))  # image[z, y, x] = data[x, y, z]
    by_name = dict(zip(nifti["mask_labels"][author], nifti["masks"][author].numpy(), strict=True))
    expected = sample.nifti_labels.transpose(2, 1, 0)
    assert np.array_equal(by_name["liver"], expected == 1) and np.array_equal(by_name["tumor"], expected == 2)
    assert np.allclose(nifti["boxes"].numpy(), [NIFTI_BOX], atol=1e-4)
    assert nifti["box_frames"].tolist() == [NIFTI_BOX_FRAME]


def test_semantic_maps_equal_the_uploaded_label_volumes(server, sample, version):
    dataset = VolumeDataset(sample.project.name, return_as_semantic_segmentation=True, **_kw(server, version))
    assert dataset.segmentation_labels == ["background", "liver", "tumor", "lesion"]
    assert np.array_equal(_item(dataset, sample.ct)["masks"].numpy(), sample.ct_labels.transpose(2, 0, 1))
    assert np.array_equal(_item(dataset, sample.nifti)["masks"].numpy(), sample.nifti_labels.transpose(2, 1, 0))


def test_png_masks_boxes_labels_and_categories(server, sample, version):
    dataset = ImageDataset(sample.project.name, return_boxes=True, **_kw(server, version))
    assert [r.id for r in dataset.records] == [sample.png1, sample.png2]
    first, second = _item(dataset, sample.png1), _item(dataset, sample.png2)
    (author,) = first["masks"]
    assert first["mask_labels"][author] == ["lesion"]
    assert np.array_equal(first["masks"][author][0].numpy(), sample.png1_mask)
    for item, rid in ((first, sample.png1), (second, sample.png2)):
        assert np.allclose(item["boxes"].numpy(), sample.boxes[rid])
    assert dataset.image_label_names == ["fracture"]
    assert first["image_labels"].tolist() == [1.0] and second["image_labels"].tolist() == [0.0]
    assert dataset.image_category_names == {"quality": ["good", "poor"]}
    assert first["image_categories"].tolist() == [-1] and second["image_categories"].tolist() == [1]
    assert second["masks"] == {}


def test_sliced_volumes_give_each_frame_with_its_masks(server, sample, version):
    dataset = SlicedVolumeDataset(sample.project.name, return_as_semantic_segmentation=True, return_boxes=True,
                                  **_kw(server, version))
    assert len(dataset) == FRAMES + NIFTI_SHAPE[2]
    for index in range(FRAMES):
        item = dataset[index]
        assert item["metainfo"]["id"] == sample.ct and item["metainfo"]["frame_index"] == index
        assert np.array_equal(item["masks"].numpy(), sample.ct_labels[:, :, index])
        assert len(item["boxes"]) == (1 if index == CT_BOX_FRAME else 0)

"""Bad annotation input gets a clear 4xx, creates nothing and leaves no blob behind."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from datamint.exceptions import ItemNotFoundError, ValidationError
from fixtures.projects import COLS, FRAMES, ROWS, png_path, write_ct


@pytest.fixture
def raw(server):
    """A plain HTTP client authenticated as the admin."""
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}) as client:
        yield client


@pytest.fixture
def ct(api, tmp_path):
    return api.resources.upload_resources([str(p) for p in write_ct(tmp_path / "ct")])[0]


@pytest.fixture
def image(api, tmp_path):
    return api.resources.upload_resource(str(png_path(tmp_path)))


def _mask_blobs(server) -> list[str]:
    store = server.app.state.blob_store
    return [key for key in store.list("") if "/annotations/" in key]


def _count(api, rid) -> int:
    return len(api.annotations.get_list(resource=rid))


@pytest.mark.parametrize(("item", "message"), [
    ({"type": "square", "identifier": "b", "geometry": {"points": [[0, 0, 0], [1, 1, 0]]}}, "exactly 4 point"),
    ({"type": "line", "identifier": "l", "geometry": {"points": [[0, "x", 0], [1, 1, 0]]}}, "non-numeric"),
    ({"type": "point", "identifier": "p"}, "needs geometry"),
    ({"type": "category", "identifier": "c", "geometry": {"points": [[0, 0]]}, "value": "x"}, "takes no geometry"),
    ({"type": "category", "identifier": "c"}, "non-empty string 'value'"),
    ({"type": "integer", "identifier": "n", "value": 1.5}, "must be an integer"),
    ({"type": "label", "identifier": "f", "frame_index": FRAMES}, f"valid indexes are 0..{FRAMES - 1}"),
    ({"type": "label", "identifier": "f", "frame_range": [1, FRAMES + 2]}, "out of range"),
    ({"type": "label", "identifier": "f", "scope": "frame"}, "needs 'frame_index'"),
    ({"type": "wiggle", "identifier": "w"}, "unknown type"),
    ({"type": "label"}, "'identifier'"),
])
def test_invalid_items_are_refused_and_nothing_is_created(api, ct, item, message):
    valid = {"type": "label", "identifier": "ok"}
    with pytest.raises(ValidationError, match=message) as info:
        api.annotations.create(ct, [valid, item])
    assert info.value.status_code == 422 and "annotation 1" in str(info.value)
    assert _count(api, ct) == 0


def test_malformed_bodies(raw, image):
    assert raw.post(f"/annotations/{image}/annotations", json={"type": "label"}).status_code == 422
    assert raw.post(f"/annotations/{image}/annotations", json=[]).status_code == 422
    response = raw.post(f"/annotations/{image}/annotations", content=b"[{",
                        headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["message"].startswith("Malformed JSON")
    assert raw.post("/annotations/search", json={"offset": "x"}).status_code == 422
    assert raw.post("/annotations/search", json={"limit": "99999"}).status_code == 422
    assert raw.post(f"/annotations/{image}/annotations", json=[{"type": "label", "identifier": "x",
                                                                 "annotation_worklist_id": "nope"}]).status_code == 422


def test_frame_mask_of_the_wrong_size_names_both_sizes(api, server, ct):
    before = _mask_blobs(server)
    with pytest.raises(ValidationError) as info:
        api.annotations.upload_segmentations(ct, np.ones((ROWS + 1, COLS), np.uint8), "x")
    assert f"{COLS}x{ROWS + 1}" in str(info.value) and f"{COLS}x{ROWS}" in str(info.value)
    assert _mask_blobs(server) == before


def test_volume_mask_of_the_wrong_size_names_both_sizes_and_stores_nothing(api, server, ct):
    before = _mask_blobs(server)
    with pytest.raises(ValidationError) as info:
        api.annotations.upload_volume_segmentation(ct, np.ones((COLS, ROWS, FRAMES + 1), np.uint8), {1: "x"})
    assert f"{COLS}x{ROWS}x{FRAMES + 1}" in str(info.value) and f"{COLS}x{ROWS}x{FRAMES}" in str(info.value)
    assert _count(api, ct) == 0 and _mask_blobs(server) == before


def test_volume_labels_need_names_and_masks_need_a_segmentation(api, server, ct, image):
    volume = np.zeros((COLS, ROWS, FRAMES), np.uint8)
    volume[0, 0, 0], volume[1, 1, 1] = 1, 3
    with pytest.raises(ValidationError, match=r"Labels \[3\]"):
        api.annotations.upload_volume_segmentation(ct, volume, {1: "liver"})
    with pytest.raises(ValidationError, match="not a volume"):
        api.annotations.upload_volume_segmentation(image, volume, {1: "x"})
    label = api.annotations.create(image, {"type": "label", "identifier": "l"})
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(buffer, format="PNG")
    with pytest.raises(ValidationError, match="only segmentations"):
        api.annotations.upload_annotation_file(image, label, io.BytesIO(buffer.getvalue()))
    seg = api.annotations.create(image, {"type": "segmentation", "identifier": "s", "scope": "image"})
    with pytest.raises(Exception) as info:
        api.annotations.upload_annotation_file(image, seg, io.BytesIO(b"not a png"), content_type="image/png")
    assert info.value.status_code == 415
    assert _count(api, ct) == 0


def test_other_organizations_resources_and_annotations_are_invisible(api, server, image):
    from datamint import Api

    mine = api.annotations.create_image_classification(image, "q", "a")
    with Api(server.url, server.new_org()) as outsider:
        with pytest.raises(ItemNotFoundError):
            outsider.annotations.create_image_classification(image, "q", "b")
        with pytest.raises(ItemNotFoundError):
            outsider.annotations.get_by_id(mine)
        with pytest.raises(ItemNotFoundError):
            outsider.annotations.approve(mine)
        assert outsider.annotations.get_list(resource=image) == []
        with pytest.raises(ItemNotFoundError):
            outsider.annotations.download_file(api.annotations.get_by_id(mine))
    assert _count(api, image) == 1


def test_a_deleted_resource_cannot_be_annotated(api, image):
    api.resources.delete(image)
    with pytest.raises(ValidationError, match="deleted"):
        api.annotations.create_image_classification(image, "q", "a")


def test_a_volume_with_more_labels_than_one_upload_takes_is_refused_before_its_masks(api, server, raw, tmp_path):
    """10,001 labels: refused from the label count (one annotation each, at most 10,000), before
    a binary mask is made for any of them (each is a pass over the volume and a compressed copy),
    and nothing is stored."""
    import gzip

    import nibabel

    shape = (24, 24, 20)  # 11,520 voxels: room for 10,001 distinct labels
    path = tmp_path / "volume.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), str(path))
    volume = api.resources.upload_resource(str(path))
    labelled = np.zeros(shape, np.int32)
    labelled.reshape(-1)[:10_001] = np.arange(1, 10_002)
    before = _mask_blobs(server)
    body = gzip.compress(nibabel.Nifti1Image(labelled, np.eye(4)).to_bytes())
    answer = raw.post(f"/annotations/{volume}/segmentations/file", files={"file": ("l.nii.gz", body)}, timeout=120)
    assert answer.status_code == 422
    assert answer.json()["message"] == ("The segmentation volume holds 10001 labels; one upload takes at most 10000 "
                                        "(one segmentation each): upload the labels in parts")
    assert _count(api, volume) == 0 and _mask_blobs(server) == before

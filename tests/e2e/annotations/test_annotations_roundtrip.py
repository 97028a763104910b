"""Round trips through the real server: masks (2-D frames, 3-D volumes) come back voxel for voxel,
and geometry drawn in pixels comes back in patient space and converts back to the same pixels."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.projects import (
    COLS,
    FRAMES,
    NIFTI_AFFINE,
    NIFTI_SHAPE,
    ROWS,
    ct_pixel_to_patient,
    labels,
    png_path,
    write_ct,
    write_nifti,
)


@pytest.fixture(scope="module")
def samples(server, tmp_path_factory):
    """One CT series (assembled into a multi-frame DICOM), one NIfTI and one PNG, uploaded once."""
    from datamint import Api

    folder = tmp_path_factory.mktemp("annotation-samples")
    api = Api(server.url, server.admin_key)
    ct_ids = api.resources.upload_resources([str(p) for p in write_ct(folder / "ct")])
    nifti = api.resources.upload_resource(str(write_nifti(folder / "vol.nii.gz")))
    png = api.resources.upload_resource(str(png_path(folder)))
    yield {"ct": ct_ids[0], "nifti": nifti, "png": png, "folder": folder}
    api.close()


def test_ct_series_is_one_multiframe_resource(api, samples):
    ct = api.resources.get_by_id(samples["ct"])
    assert (ct.metadata["width"], ct.metadata["height"], ct.metadata["frame_count"]) == (COLS, ROWS, FRAMES)


def test_frame_masks_round_trip_voxel_for_voxel(api, samples):
    seg = labels((ROWS, COLS, FRAMES))
    ids = api.annotations.upload_segmentations(samples["ct"], seg, {1: "liver", 2: "tumor"})
    annotations = {a.id: a for a in api.annotations.get_list(resource=samples["ct"], annotation_type="segmentation")}
    assert set(ids) <= set(annotations)
    seen = set()
    for annotation_id in ids:
        annotation = annotations[annotation_id]
        value = {"liver": 1, "tumor": 2}[annotation.identifier]
        mask = annotation.fetch_mask()
        assert mask.shape == (ROWS, COLS)
        assert np.array_equal(mask, seg[:, :, annotation.frame_index] == value)
        seen.add((annotation.frame_index, value))
    assert seen == {(k, v) for k in range(FRAMES) for v in (1, 2) if np.any(seg[:, :, k] == v)}


def test_volume_masks_round_trip_on_dicom_and_nifti(api, samples):
    ct_volume = labels((COLS, ROWS, FRAMES), seed=5)
    ct_ids = api.annotations.upload_volume_segmentation(samples["ct"], ct_volume, {1: "liver", 2: "tumor"})
    nifti_path = samples["folder"] / "seg.nii.gz"
    import nibabel

    nifti_volume = labels(NIFTI_SHAPE, seed=9)
    nibabel.save(nibabel.Nifti1Image(nifti_volume, np.eye(4)), str(nifti_path))
    nifti_ids = api.annotations.upload_volume_segmentation(samples["nifti"], str(nifti_path), {1: "a", 2: "b"})
    for ids, volume, affine in ((ct_ids, ct_volume, None), (nifti_ids, nifti_volume, NIFTI_AFFINE)):
        assert len(ids) == 2
        for annotation_id, value in zip(ids, (1, 2), strict=True):
            annotation = api.annotations.get_by_id(annotation_id)
            assert type(annotation).__name__ == "VolumeSegmentation" and annotation.scope == "image"
            image = annotation.fetch_file_data(use_cache=True)
            assert np.array_equal(np.asanyarray(image.dataobj) != 0, volume == value)
            if affine is not None:
                assert np.allclose(image.affine, affine)
            assert annotation.is_cached()


def test_box_in_pixels_comes_back_in_patient_space_and_converts_back(api, samples):
    k = 3
    box_id = api.annotations.add_box_annotation((2, 3), (15, 9), samples["ct"], "lesion", frame_index=k)
    box = api.annotations.get_by_id(box_id)
    assert type(box).__name__ == "BoxAnnotation" and box.frame_index == k
    corners = [ct_pixel_to_patient(2, 3, k), ct_pixel_to_patient(15, 3, k), ct_pixel_to_patient(2, 9, k),
               ct_pixel_to_patient(15, 9, k)]
    assert np.allclose(box.points, corners)
    assert np.allclose(box.geometry["viewPlaneNormal"], [0, 0, 1])
    assert np.allclose(box.pixel_points(), [(2, 3, k), (15, 3, k), (2, 9, k), (15, 9, k)], atol=1e-9)


def test_nifti_line_round_trips_through_the_affine(api, samples):
    line_id = api.annotations.add_line_annotation((1, 2), (9, 7), samples["nifti"], "axis", frame_index=4)
    line = api.annotations.get_by_id(line_id)
    world = NIFTI_AFFINE @ np.array([1, 2, 4, 1.0])
    assert np.allclose(line.points[0], [-world[0], -world[1], world[2]])  # Datamint's LPS convention
    assert np.allclose(line.pixel_points(), [(1, 2, 4), (9, 7, 4)], atol=1e-9)


def test_png_points_stay_in_pixels(api, samples):
    point_id = api.annotations.add_point_annotation((7, 8), samples["png"], "dot", value={"k": 1})
    point = api.annotations.get_by_id(point_id)
    assert point.points == [(7.0, 8.0, 0.0)] and point.text_value == '{"k": 1}'
    assert point.pixel_points() == [(7.0, 8.0, 0.0)]


def test_author_email_is_credited_by_every_upload_path(api, samples):
    volume = np.zeros((COLS, ROWS, FRAMES), np.uint8)
    volume[0, 0, 0] = 1
    (vol,) = api.annotations.upload_volume_segmentation(samples["ct"], volume, {1: "credited"},
                                                        author_email="radiologist@example.org", ai_model_name="vnet")
    frame = np.zeros((ROWS, COLS), np.uint8)
    frame[1, 1] = 1
    (seg,) = api.annotations.upload_segmentations(samples["ct"], frame, "credited", author_email="resident@example.org")
    box = api.annotations.add_box_annotation((1, 1), (3, 3), samples["png"], "credited",
                                             author_email="tech@example.org")
    assert [api.annotations.get_by_id(i).import_author for i in (vol, seg, box)] == [
        "radiologist@example.org", "resident@example.org", "tech@example.org"]
    by_model = api.annotations.get_by_id(vol)
    assert (by_model.model_id, by_model.is_model, by_model.source) == ("vnet", True, "model_pipeline")

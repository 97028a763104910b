"""``api.annotations`` over real HTTP: creation in every form, the helpers' wire items, listing
filters, changes, files, frame ranges and the resource-side hooks."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta

import httpx
import numpy as np
import pytest
from PIL import Image

from datamint.api.dto import CreateAnnotationDto
from datamint.entities.annotations import (
    BoxAnnotation,
    CategoryAnnotation,
    ImageClassification,
    LabelAnnotation,
    NumericAnnotation,
    RegionAnnotation,
    TextAnnotation,
)
from datamint.exceptions import ItemNotFoundError, ValidationError
from fixtures.projects import png_path

from conftest import unique


@pytest.fixture
def image(api, tmp_path):
    """A fresh 24×16 PNG resource (so each test sees only its own annotations)."""
    return api.resources.upload_resource(str(png_path(tmp_path)))


@pytest.fixture
def video(api, videos):
    """A 6-frame video resource."""
    return api.resources.upload_resource(str(videos["avi"]))


def test_create_accepts_dto_entity_dict_and_lists_in_order(api, image):
    dto = CreateAnnotationDto("category", "tumour", "image", value="benign")
    entity = ImageClassification(identifier="grade", scope="image", annotation_type="category", text_value="2",
                                 model_id="model-123", imported_from="pacs")
    one = api.annotations.create(image, dto)
    assert isinstance(one, str)
    ids = api.annotations.create(image, [entity, {"type": "text", "identifier": "note", "value": "hello"}, dto])
    assert len(ids) == 3 and len(set(ids)) == 3
    listed = api.annotations.get_list(resource=image)
    assert [a.id for a in listed] == [one, *ids]
    classification = listed[1]
    assert isinstance(classification, CategoryAnnotation)
    assert (classification.text_value, classification.model_id, classification.is_model,
            classification.imported_from) == ("2", "model-123", True, "pacs")
    assert isinstance(listed[2], TextAnnotation) and listed[2].value == "hello"


def test_value_helpers_send_the_wire_items(api, video):
    category = api.annotations.add_category_annotation(video, "phase", "arterial", frame_range=(2, 5))
    label = api.annotations.add_label_annotation(video, "Fracture", frame_index=1)
    text = api.annotations.add_text_annotation(video, "note", "motion")
    number = api.annotations.create_numeric_annotation(video, "age", 42, units="years")
    ratio = api.annotations.create_numeric_annotation(video, "ratio", 4.5, frame_index=0)
    classification = api.annotations.create_image_classification(video, "quality", "good")
    got = {a.id: a for a in api.annotations.get_list(resource=video)}
    assert got[category].frame_range == [2, 4] and got[category].frame_index == 2  # half-open → inclusive
    assert got[category].scope == "frame" and got[category].source == "imported"
    assert isinstance(got[label], LabelAnnotation) and (got[label].frame_index, got[label].value) == (1, None)
    assert got[text].scope == "image" and got[text].text_value == "motion"
    assert isinstance(got[number], NumericAnnotation) and got[number].annotation_type == "integer"
    assert (got[number].value, got[number].units) == (42, "years")
    assert got[ratio].annotation_type == "float" and got[ratio].value == 4.5
    assert got[classification].scope == "image" and got[classification].value == "good"
    with pytest.raises(ValueError, match="half-open"):
        api.annotations.add_category_annotation(video, "phase", "x", frame_range=(3, 3))


def test_geometry_helpers_store_pixel_points_on_images(api, image):
    box = api.annotations.add_box_annotation((1, 2), (5, 6), image, "Box1")
    region = api.annotations.add_polyline_annotation([(0, 0), (3, 3), (6, 0)], image, "tri", closed=True)
    line = api.annotations.add_line_annotation([0, 0], (10, 12), image, "Line1")
    got = {a.id: a for a in api.annotations.get_list(resource=image)}
    assert isinstance(got[box], BoxAnnotation)
    assert got[box].geometry["points"] == [[1, 2, 0], [5, 2, 0], [1, 6, 0], [5, 6, 0]]
    assert got[box].corners == ((1.0, 2.0, 0.0), (5.0, 6.0, 0.0))
    assert isinstance(got[region], RegionAnnotation) and got[region].closed
    assert got[line].geometry["points"] == [[0, 0, 0], [10, 12, 0]]


def test_get_list_filters(api, image, tmp_path, server):
    (tmp_path / "other").mkdir()
    other = api.resources.upload_resource(str(png_path(tmp_path / "other")))
    email, key = server.new_user()
    from datamint import Api

    with Api(server.url, key) as theirs:
        mine = api.annotations.create_image_classification(image, "q", "a")
        seg = api.annotations.create(image, {"type": "segmentation", "identifier": "s", "scope": "image"})
        their = theirs.annotations.create_image_classification(image, "q", "b")
        elsewhere = api.annotations.create_image_classification(other, "q", "c")
    api.annotations.approve(mine)
    ids = lambda items: {a.id for a in items}  # noqa: E731
    assert ids(api.annotations.get_list(resource=image)) == {mine, seg, their}
    assert ids(api.annotations.get_list(resource=image, annotation_type="segmentation")) == {seg}
    assert ids(api.annotations.get_list(resource=image, annotator_email=email)) == {their}
    assert ids(api.annotations.get_list(resource=image, status="published")) == {mine}
    assert ids(api.annotations.get_list(resource=[image, other], source="imported")) == {mine, their, elsewhere}
    assert ids(api.annotations.get_list(resource=image, date_from=date.today() + timedelta(days=1))) == set()
    assert ids(api.annotations.get_list(resource=image, date_to=date.today())) == {mine, seg, their}
    assert len(api.annotations.get_list(resource=[image, other], limit=2)) == 2
    grouped = api.annotations.get_list(resource=[other, image], group_by_resource=True)
    assert [ids(g) for g in grouped] == [{elsewhere}, {mine, seg, their}]
    assert api.annotations.get_by_id(mine).approved_by == "admin@datamint.local"


def test_patch_approve_and_delete(api, image):
    a, b, c = api.annotations.create(image, [{"type": "label", "identifier": n} for n in ("a", "b", "c")])
    api.annotations.patch(a, identifier="renamed")
    assert api.annotations.get_by_id(a).identifier == "renamed"
    api.annotations.approve(b)
    assert api.annotations.get_by_id(b).status == "published"
    api.annotations.delete_batch([a, api.annotations.get_by_id(b)])
    api.annotations.delete(c)
    assert api.annotations.get_list(resource=image) == []
    assert {x.id for x in api.annotations.get_deleted(resource=image)} == {a, b, c}
    assert api.annotations.get_by_id(c).deleted is True
    with pytest.raises(ItemNotFoundError):
        api.annotations.get_by_id("0b0c8a5e-1f4b-4a4e-9a7e-8f5d9b3e2c1a")
    with pytest.raises(ValueError):
        api.annotations.get_by_id("not-a-uuid")


def test_files_upload_download_and_bulk_report(api, server, image, tmp_path):
    seg, label = api.annotations.create(image, [{"type": "segmentation", "identifier": "s", "scope": "image"},
                                                {"type": "label", "identifier": "l"}])
    mask = np.zeros((16, 24), np.uint8)
    mask[2:5, 3:9] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    path = tmp_path / "mask.png"
    path.write_bytes(buffer.getvalue())
    api.annotations.upload_annotation_file(image, seg, str(path))
    assert api.annotations.download_file(seg) == buffer.getvalue()
    raw = httpx.get(f"{server.url}/annotations/{image}/annotations/{seg}/file", headers={"apikey": server.admin_key})
    assert raw.headers["content-type"] == "image/png"
    assert raw.headers["content-disposition"].startswith('attachment; filename="s.png"')
    first = api.annotations.get_by_id(seg).associated_file
    mask[0, 0] = 255
    buffer2 = io.BytesIO()
    Image.fromarray(mask).save(buffer2, format="PNG")
    asyncio.run(api.annotations.upload_annotation_file_async(image, seg, io.BytesIO(buffer2.getvalue())))
    fetched = api.annotations.get_by_id(seg)
    assert fetched.associated_file != first  # a new version: caches see the change
    assert np.array_equal(fetched.fetch_mask(), mask != 0)
    report = api.annotations.download_multiple_files([seg, label], str(tmp_path / "out"))
    assert report[0]["success"] and (tmp_path / "out" / f"{seg}.png").read_bytes() == buffer2.getvalue()
    assert not report[1]["success"] and "not found" in report[1]["error"].lower()
    assert api.annotations.bulk_download_file([seg], [str(tmp_path / "one.png")])[0]["success"]


def test_segmentation_naming_rgb_transpose_and_empty_frames(api, image):
    rgb = np.zeros((3, 16, 24, 2), np.uint8)
    rgb[0, 1:4, 1:4, 0] = 255        # red on frame 0
    rgb[1, 5:9, 5:9, 0] = 255        # green on frame 0
    ids = api.annotations.upload_segmentations(image, rgb[..., :1], {(255, 0, 0): "red", "default": "other"})
    names = sorted(api.annotations.get_by_id(i).identifier for i in ids)
    assert names == ["other", "red"]
    tall = np.zeros((24, 16), np.uint8)
    tall[0, 5] = 1
    (tid,) = api.annotations.upload_segmentations(image, tall, "t", transpose_segmentation=True, worklist_id=None,
                                                  ai_model_name="unet-v1")
    transposed = api.annotations.get_by_id(tid)
    assert transposed.fetch_mask()[5, 0] and transposed.model_id == "unet-v1" and transposed.is_model
    assert api.annotations.upload_segmentations(image, np.zeros((16, 24), np.uint8), "none") == []
    kept = api.annotations.upload_segmentations(image, np.zeros((16, 24), np.uint8), "none",
                                                discard_empty_segmentations=False)
    assert len(kept) == 1 and not api.annotations.get_by_id(kept[0]).fetch_mask().any()
    assert api.annotations.standardize_segmentation_names("x") == {"default": "x"}
    with pytest.raises(ValueError, match="upload_volume_segmentation"):
        api.annotations.upload_segmentations(image, "seg.nii.gz")
    with pytest.raises(FileNotFoundError):
        api.annotations.upload_segmentations(image, "missing.png")


def test_frame_ranges_replace_and_read_back(api, video):
    result = api.annotations.set_frame_ranges(video, "phase", "category",
                                              [{"value": "arterial", "frame_ranges": [(0, 2), (4, 6)]},
                                               {"value": "venous", "frame_ranges": [(2, 4)]}])
    assert len(result["created"]) == 3 and result["deleted"] == []
    records = {r["value"]: r["frame_ranges"] for r in api.annotations.get_frame_ranges(video)}
    assert records == {"arterial": [{"start": 0, "end": 2}, {"start": 4, "end": 6}],
                       "venous": [{"start": 2, "end": 4}]}
    again = api.annotations.set_frame_ranges(video, "phase", "category", [{"value": "late", "frame_ranges": [(0, 6)]}])
    assert set(again["deleted"]) == set(result["created"])
    assert [(r["value"], r["frame_ranges"]) for r in api.annotations.get_frame_ranges(video)] == [
        ("late", [{"start": 0, "end": 6}])]


def test_resource_hooks_and_upload_with_segmentations(api, tmp_path):
    seg = np.zeros((16, 24), np.uint8)
    seg[3:6, 3:6] = 1
    seg_path = tmp_path / "seg.png"
    Image.fromarray(seg).save(seg_path)
    rid = api.resources.upload_resource(str(png_path(tmp_path)), segmentation_files={"files": [str(seg_path)],
                                                                                     "names": {1: "lesion"}})
    resource = api.resources.get_by_id(rid)
    annotations = resource.fetch_annotations()
    assert [a.identifier for a in annotations] == ["lesion"]
    assert api.resources.get_annotations(rid, annotation_type="segmentation")[0].id == annotations[0].id
    assert annotations[0].resource.id == rid
    bare = api.resources.upload_resource(str(png_path(tmp_path)), tags=[unique("bare")])
    assert bare in {r.id for r in api.resources.get_not_annotated(status="")}
    assert rid not in {r.id for r in api.resources.get_not_annotated(status="")}


def test_server_errors_surface_as_validation_errors(api, image):
    with pytest.raises(ValidationError, match="exactly 4 point"):
        api.annotations.create(image, {"type": "square", "identifier": "b", "geometry": {"points": [[1, 2, 0]]}})


def test_legacy_apihandler_upload_segmentation(server, tmp_path):
    import nibabel

    from datamint.apihandler import APIHandler
    from fixtures.projects import NIFTI_SHAPE, write_nifti

    handler = APIHandler(server.url, server.admin_key)
    volume = handler.upload_resources(str(write_nifti(tmp_path / "v.nii.gz")))
    labels = np.zeros(NIFTI_SHAPE, np.uint8)
    labels[2:5, 1:4, 0:2] = 1
    nibabel.save(nibabel.Nifti1Image(labels, np.eye(4)), str(tmp_path / "seg.nii.gz"))
    (vid,) = handler.upload_segmentation(volume, str(tmp_path / "seg.nii.gz"), "SegmentationName")
    image = handler.upload_resources(str(png_path(tmp_path)))
    mask = np.zeros((16, 24), np.uint8)
    mask[1:3, 1:3] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    (fid,) = handler.upload_segmentation(image, str(tmp_path / "mask.png"), "lesion")
    assert handler.api.annotations.get_by_id(vid).identifier == "SegmentationName"
    assert handler.api.annotations.get_by_id(fid).fetch_mask()[1, 1]


def test_frame_ranges_replace_in_a_worklist_named_in_any_case(api, video):
    wid = api.annotationsets.create("Phases", [video])
    first = api.annotations.set_frame_ranges(video, "phase", "category",
                                             [{"value": "arterial", "frame_ranges": [(0, 6)]}], worklist_id=wid)
    again = api.annotations.set_frame_ranges(video, "phase", "category",
                                             [{"value": "venous", "frame_ranges": [(0, 6)]}], worklist_id=wid.upper())
    assert again["deleted"] == first["created"]
    records = api.annotations.get_frame_ranges(video, worklist_id=wid)
    assert [(r["value"], r["annotation_worklist_id"]) for r in records] == [("venous", wid)]


def test_frame_ranges_of_a_worklist_need_its_annotate_right_even_to_clear_them(api, server, videos):
    """An annotator removed from a project can no longer change its worklist: clearing their frame
    ranges there (an empty ``values``) is 404 like any other change, and their records stay."""
    from datamint import Api
    from fixtures.projects import add_member

    video = api.resources.upload_resource(str(videos["avi"]))
    project = api.projects.create(unique("Phases"), "phases", resources_ids=[video])
    wid = project.worklist_id
    email, key = server.new_user()
    add_member(server, project.id, email, "PROJECT_ANNOTATOR")
    with Api(server.url, key) as annotator:
        created = annotator.annotations.set_frame_ranges(
            video, "phase", "category", [{"value": "arterial", "frame_ranges": [(0, 6)]}], worklist_id=wid)["created"]
        assert httpx.delete(f"{server.url}/projects/{project.id}/members/{email}",
                            headers={"apikey": server.admin_key}).status_code == 204
        with pytest.raises(ItemNotFoundError):
            annotator.annotations.set_frame_ranges(video, "phase", "category", [], worklist_id=wid)
    records = api.annotations.get_frame_ranges(video, worklist_id=wid)
    assert [(r["value"], r["created_by"], r["annotation_ids"]) for r in records] == [("arterial", email, created)]

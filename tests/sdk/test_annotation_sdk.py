"""Unit tests of the SDK's annotation pieces that need no server: DTOs, entity dispatch, mask
splitting and naming, geometry conversion."""

from __future__ import annotations

import numpy as np
import pytest

from datamint.api.dto import CreateAnnotationDto
from datamint.entities.annotation_worklist import AnnotationWorklist
from datamint.entities.annotations import (
    Annotation,
    AnnotationSpec,
    CategoryAnnotationSpec,
    ImageSegmentation,
    LineAnnotation,
    NumericAnnotation,
    VolumeSegmentation,
    annotation_from_dict,
)
from datamint.imaging import segmentation_masks as masks
from datamint.imaging.resource_geometry import ResourceGeometry


def test_dto_drops_none_and_model_id_implies_is_model():
    dto = CreateAnnotationDto("category", "c", "frame", value="x", frame_range=(2, 4), model_id="m")
    assert dto.to_dict() == {"value": "x", "type": "category", "identifier": "c", "scope": "frame",
                             "frame_range": [2, 4], "is_model": True, "model_id": "m"}
    with pytest.raises(ValueError):
        CreateAnnotationDto("label", "l", "image", model_id="m", is_model=False)
    with pytest.raises(ValueError):
        CreateAnnotationDto("blob", "l", "image")


def test_server_names_and_dispatch_by_type():
    line = annotation_from_dict({"id": "1", "resource_id": "r", "name": "Line1", "type": "line", "index": 2,
                                 "geometry": {"points": [[0, 0, 2], [10, 30, 2]]}})
    assert isinstance(line, LineAnnotation)
    assert (line.identifier, line.scope, line.frame_index, line.points[1]) == ("Line1", "frame", 2, (10, 30, 2))
    number = annotation_from_dict({"id": "2", "type": "integer", "identifier": "age", "value": 42})
    assert isinstance(number, NumericAnnotation) and (number.numeric_value, number.text_value) == (42, None)
    assert isinstance(annotation_from_dict({"type": "segmentation", "identifier": "s", "class_map": {"1": "s"}}),
                      VolumeSegmentation)
    seg = annotation_from_dict({"type": "segmentation", "identifier": "s", "scope": "image", "index": 3})
    assert isinstance(seg, ImageSegmentation) and seg.frame_index is None
    with pytest.raises(ValueError, match="Invalid annotation_type"):
        Annotation(identifier="x", annotation_type="wiggle")


def test_entity_to_create_dict_round_trips_the_wire_item():
    item = annotation_from_dict({"type": "float", "identifier": "r", "value": 1.5, "units": "mm",
                                 "frame_index": 0}).to_create_dict()
    assert item == {"type": "float", "identifier": "r", "scope": "frame", "frame_index": 0, "units": "mm",
                    "confiability": 1.0, "value": 1.5}


def test_specs_and_worklist_entities():
    spec = AnnotationSpec.create(type="category", identifier="g", scope="image", required=True, values=["a"])
    assert isinstance(spec, CategoryAnnotationSpec) and spec.values == ["a"]
    assert AnnotationSpec.create(type="segmentation", identifier="s", scope="frame", required=False,
                                 color=[1, 2, 3]).color == (1, 2, 3, 255)
    worklist = AnnotationWorklist(worklist_id="w", worklist_name="n", annotators=[{"email": "a@b.c"}],
                                  annotations=[{"type": "label", "identifier": "x", "scope": "image",
                                                "required": False}])
    assert (worklist.id, worklist.name, worklist.annotators[0].status) == ("w", "n", "active")


def test_frames_of_every_input_shape(tmp_path):
    assert [f.shape for f in masks.load_frames(np.zeros((4, 5)))] == [(4, 5)]
    assert [f.shape for f in masks.load_frames(np.zeros((4, 5, 3)))] == [(4, 5)] * 3
    assert [f.shape for f in masks.load_frames(np.zeros((3, 4, 5, 2)))] == [(4, 5, 3)] * 2
    assert [f.shape for f in masks.load_frames(np.zeros((4, 5)), transpose=True)] == [(5, 4)]
    with pytest.raises(ValueError, match="Unsupported segmentation shape"):
        masks.load_frames(np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match="upload_volume_segmentation"):
        masks.load_frames("x.nii")
    with pytest.raises(FileNotFoundError):
        masks.load_frames(str(tmp_path / "none.png"))


def test_labels_are_named_merged_and_split():
    frame = np.array([[0, 1, 2], [2, 3, 0]], np.uint8)
    named = dict(masks.split_frame(frame, masks.standardize_names({1: "liver", 2: "tumor"})))
    assert set(named) == {"liver", "tumor", "seg_3_3_3"}
    assert named["tumor"].tolist() == [[False, False, True], [True, False, False]]
    merged = dict(masks.split_frame(frame, masks.standardize_names("lesion")))
    assert list(merged) == ["lesion"] and merged["lesion"].sum() == 4
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 1] = (7, 7, 7)
    names = dict(masks.split_frame(rgb, masks.standardize_names({(255, 0, 0): "red", 7: "gray"})))
    assert set(names) == {"red", "gray"} and names["gray"][1, 1]
    assert masks.standardize_names(None) == {"default": "default"}
    with pytest.raises(ValueError):
        masks.standardize_names(3)  # type: ignore[arg-type]


def test_png_masks_are_binary():
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(masks.png_bytes(np.array([[0, 5], [1, 0]]))))
    assert image.mode == "L" and np.asarray(image).tolist() == [[0, 255], [255, 0]]


@pytest.mark.parametrize("plane", [None, "sagittal", "coronal"])
def test_nifti_geometry_round_trips_and_flips_to_lps(plane):
    affine = np.array([[0.0, -1.5, 0, 30], [1.2, 0, 0, -20], [0, 0, 3, 5], [0, 0, 0, 1]])
    geometry = ResourceGeometry.from_affine(affine)
    x, y, z = geometry.to_patient(3, 4, 2, plane)
    i, j, k = geometry.to_pixel(x, y, z)
    expected = {None: (3, 4, 2), "sagittal": (2, 3, 4), "coronal": (3, 2, 4)}[plane]
    assert np.allclose((i, j, k), expected)
    world = affine @ np.array([*expected, 1.0])
    assert np.allclose((x, y, z), (-world[0], -world[1], world[2]))


def test_pixel_geometry_keeps_pixels():
    geometry = ResourceGeometry("pixels")
    assert geometry.convert([(1, 2), (3, 4, 9)], None) == [[1, 2, 0], [3, 4, 9]]
    assert geometry.convert([(1, 2)], 5) == [[1, 2, 5]]
    assert geometry.view_vectors() is None
    with pytest.raises(ValueError):
        geometry.convert([(1,)], None)

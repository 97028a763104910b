"""Unit tests of the annotation and worklist rules that need no database."""

from __future__ import annotations

import pytest

from datamint.server.annotations import validation
from datamint.server.errors import ValidationFailedError
from datamint.server.worklists import specs

SHAPE = validation.ResourceShape(width=20, height=10, frame_count=4, mimetype="application/dicom")


def test_items_infer_scope_and_keep_ranges_inclusive():
    item = validation.check_item({"type": "category", "identifier": "c", "value": "a", "frame_range": [1, 3]}, 0, SHAPE)
    assert (item.scope, item.frame_index, item.frame_end, item.text_value) == ("frame", 1, 3, "a")
    image = validation.check_item({"type": "label", "name": "l", "scope": "image", "frame_index": 2}, 0, SHAPE)
    assert (image.scope, image.frame_index, image.identifier) == ("image", None, "l")
    point = validation.check_item({"type": "point", "identifier": "p", "value": {"k": 1},
                                   "geometry": {"points": [[1, 2]], "viewUp": [0, 1, 0]}}, 0, SHAPE)
    assert point.text_value == '{"k": 1}' and point.geometry == {"points": [[1, 2]], "viewUp": [0, 1, 0]}
    assert validation.check_item({"type": "integer", "identifier": "n", "value": "7"}, 0, SHAPE).numeric_value == 7
    assert validation.check_item({"type": "text", "identifier": "t", "model_id": "m"}, 0, SHAPE).is_model



def test_frame_scope_without_index_is_frame_0_on_a_single_frame_resource():
    png = validation.ResourceShape(width=20, height=10, frame_count=1, mimetype="image/png")
    line = {"type": "line", "identifier": "x", "scope": "frame",
            "geometry": {"points": [[1, 2, 0], [5, 6, 0]], "viewUp": [0, 1, 0]}}
    item = validation.check_item(line, 0, png)
    assert (item.scope, item.frame_index, item.frame_end) == ("frame", 0, None)
    with pytest.raises(ValidationFailedError, match="needs 'frame_index'.*has 4 frames"):
        validation.check_item(line, 0, SHAPE)

@pytest.mark.parametrize("item", [
    {"type": "float", "identifier": "f", "value": "nan"},
    {"type": "label", "identifier": "l", "frame_range": [3, 1]},
    {"type": "label", "identifier": "l", "confiability": 2},
    {"type": "label", "identifier": "l", "class_map": {"1": "x"}},
    {"type": "region", "identifier": "r", "geometry": {"points": [[0, 0], [1, 1]]}},
    {"type": "line", "identifier": "l", "geometry": {"points": [[0, 0], [1, 1]], "closed": "yes"}},
    "not an object",
])
def test_bad_items(item):
    with pytest.raises(ValidationFailedError):
        validation.check_item(item, 0, SHAPE)


def test_worklist_labels_allow_declared_identifiers_only():
    declared = [{"type": "category", "identifier": "grade", "values": ["1", "2"]}]
    definitions = [{"identifier": "liver", "index": 1}]
    ok = validation.check_item({"type": "segmentation", "identifier": "liver"}, 0, SHAPE)
    validation.check_against_specs(ok, declared, definitions, "a")
    validation.check_against_specs(ok, [], [], "a")  # an empty schema allows everything
    for bad in ({"type": "label", "identifier": "grade"}, {"type": "category", "identifier": "grade", "value": "3"},
                {"type": "segmentation", "identifier": "spleen"}):
        with pytest.raises(ValidationFailedError):
            validation.check_against_specs(validation.check_item(bad, 0, SHAPE), declared, definitions, "a")


def test_segmentation_definitions_get_indexes_and_colours():
    data = specs.clean_segmentation_data({"definitions": [{"identifier": "a", "index": 3}, {"name": "b"}]})
    assert [(d["identifier"], d["index"]) for d in data["definitions"]] == [("a", 3), ("b", 4)]
    assert all(len(d["color"]) == 4 for d in data["definitions"])
    with pytest.raises(ValidationFailedError):
        specs.clean_segmentation_data({"definitions": [{"identifier": "a"}, {"identifier": "a"}]})
    with pytest.raises(ValidationFailedError):
        specs.clean_segmentation_data({"segmentationValueType": "many"})
    assert specs.groups_of(data)["groups"]["b"]["index"] == 4


def test_group_files_in_every_format():
    assert specs.parse_group_file("x.yaml", b"class_names: {1: liver, 2: tumor}") == [
        {"identifier": "liver", "index": 1}, {"identifier": "tumor", "index": 2}]
    assert specs.parse_group_file("x.json", b'["a", {"identifier": "b", "index": 5}]') == [
        {"identifier": "a", "index": 1}, {"identifier": "b", "index": 5}]
    assert specs.parse_group_file("x.csv", b"1,255,0,0,liver\n") == [
        {"identifier": "liver", "index": 1, "color": [255, 0, 0]}]
    for name, data in (("x.csv", b"1,2,3\n"), ("x.json", b"{"), ("x.txt", b"a"), ("x.yaml", b"\xff")):
        with pytest.raises(ValidationFailedError):
            specs.parse_group_file(name, data)
    with pytest.raises(ValidationFailedError, match="larger than 10 MB"):
        specs.parse_group_file("x.yaml", b"#" * (specs.MAX_GROUP_FILE + 1))


def test_renames_and_specs():
    assert specs.parse_renames(["a:b", {"old": "c", "new": "d"}]) == [("a", "b"), ("c", "d")]
    with pytest.raises(ValidationFailedError):
        specs.parse_renames(["ab"])
    cleaned = specs.clean_specs([{"type": "category", "identifier": "g", "values": ["a", "a"]}])
    assert cleaned == [{"type": "category", "identifier": "g", "scope": "image", "required": False, "values": ["a"]}]
    with pytest.raises(ValidationFailedError):
        specs.clean_specs([{"type": "label", "identifier": "x"}, {"type": "label", "identifier": "x"}])

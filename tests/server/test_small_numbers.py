"""Numbers read from uploaded label files: ``str.isdigit()`` takes ``'²'`` and 5,000-digit texts,
which ``int()`` refuses, so label definitions and label maps with such keys answered 500."""

from __future__ import annotations

import json

import pytest

from datamint.server.common.values import small_number
from datamint.server.errors import ValidationFailedError
from datamint.server.formats.readers import FileSet, _labels_of
from datamint.server.worklists.specs import parse_group_file


@pytest.mark.parametrize(("text", "number"), [
    ("12", 12), ("0", 0), ("٣", 3),  # any script's decimal digits, as int() reads them
    ("²", None), ("①", None), ("", None), ("-1", None), ("1.5", None), (" 7", None), ("9" * 10, None),
    ("9" * 5000, None),
])
def test_small_number(text: str, number: int | None) -> None:
    assert small_number(text) == number


def test_json_label_names_with_keys_int_refuses_are_left_out() -> None:
    document = {"segmentation_names": {"²": "liver", "9" * 5000: "huge", "2": "spleen"}}
    assert parse_group_file("labels.json", json.dumps(document).encode()) == [{"identifier": "spleen", "index": 2}]


def test_csv_label_rows_with_digits_int_refuses_are_refused_by_line() -> None:
    rows = "index,r,g,b,name\n1,255,0,0,liver\n2,0,²,0,spleen\n"
    with pytest.raises(ValidationFailedError, match="line 3: expected index,r,g,b,name"):
        parse_group_file("labels.csv", rows.encode())
    with pytest.raises(ValidationFailedError, match="line 2: the first column must be the label index"):
        parse_group_file("labels.csv", "index,r,g,b,name\n²,1,2,3,liver\n".encode())
    assert parse_group_file("labels.csv", b"index,r,g,b,name\n1,255,0,0,liver\n") == [
        {"identifier": "liver", "index": 1, "color": [255, 0, 0]}]


def test_an_imported_label_maps_names_with_keys_int_refuses_are_left_out() -> None:
    files = {"masks/case1.nii.gz": b"", "masks/labels.json": json.dumps(
        {"labels": {"²": "liver", "9" * 5000: "huge", "3": "kidney", "spleen": 2}}).encode()}
    assert _labels_of("masks/case1.nii.gz", FileSet(sorted(files), files.__getitem__)) == {3: "kidney", 2: "spleen"}

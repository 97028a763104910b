"""``plain_value`` (imaging.dicom_raw): an element's value read from its raw bytes must be what
pydicom reads (``ds.get``) under ``jsonable``, ``str`` (single text values) and ``int``: on every
element of pydicom's test files, and on raw values with the padding, separators, numbers and
character sets where pydicom's rules differ by VR (those are left to pydicom)."""

from __future__ import annotations

import itertools
import random
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pydicom
import pydicom.charset
import pytest
from pydicom.data import get_testdata_files
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from datamint.imaging.dicom_raw import PlainValues, _padded, plain_value
from datamint.imaging.metadata import jsonable


def _read(ds: Dataset, keyword: str, reader: Any) -> Any:
    try:
        return reader(ds, keyword)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return ("error", type(exc).__name__)


def _assert_same(ours: Any, theirs: Any, where: str) -> None:
    assert jsonable(ours) == jsonable(theirs), where
    assert type(jsonable(ours)) is type(jsonable(theirs)), where
    if isinstance(ours, str) and not isinstance(theirs, (tuple, list, MultiValue)):
        assert str(ours) == str(theirs), where


def _sources() -> list[str]:
    return sorted(p for p in get_testdata_files() if not p.endswith((".py", ".json", ".txt", ".gz", ".zip")))


def _sample_elements() -> Iterator[tuple[str, Dataset, Dataset, int, str]]:
    """Every element of pydicom's test files: (file, a data set read from it, another read of it,
    the element's tag and keyword); warnings ignored, files pydicom cannot read left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in _sources():
            try:
                ours, theirs = (pydicom.dcmread(path, force=True, stop_before_pixels=True) for _ in range(2))
            except Exception:  # noqa: BLE001, S112 - files pydicom cannot read are not compared
                continue
            for tag in list(ours.keys()):
                keyword = keyword_for_tag(tag)
                if keyword:
                    yield path, ours, theirs, tag, keyword


def test_every_element_of_pydicom_test_files_reads_as_pydicom_reads_it() -> None:
    compared = read_raw = 0
    for path, ours, theirs, tag, keyword in _sample_elements():
        mine = _read(ours, keyword, plain_value)
        _assert_same(mine, _read(theirs, keyword, Dataset.get), f"{path} {keyword}")
        compared += 1
        read_raw += isinstance(ours.get_item(tag), RawDataElement)  # not converted by pydicom
    assert compared > 5000
    assert read_raw > compared // 2  # most elements take the raw path


_ELEMENTS = {"PatientName": "PN", "PatientID": "LO", "Modality": "CS", "StudyDescription": "LO",
             "AccessionNumber": "SH", "StudyInstanceUID": "UI", "StudyDate": "DA", "StudyTime": "TM",
             "InstanceNumber": "IS", "SliceThickness": "DS", "ImagePositionPatient": "DS", "ImageComments": "LT",
             "RetrieveAETitle": "AE", "ImageType": "CS", "AcquisitionDateTime": "DT", "PatientAge": "AS",
             "DerivationDescription": "ST", "Rows": "US", "RescaleSlope": "DS"}
_TEXTS = ["A", " A", "A ", "A\\B", "A \\B", "A\\ B", "A\\\\B", "\\A", "A\\", " ", "A\0", "\0A", "1.0", " 1", "+1",
          "-0", "1e3", "1.5", "NaN", "inf", "1_0", "01", "A\tB", "A\t", "\tA", "Ä", "A=B", "A^B^^", "é\\ü",
          "1.2.3\0", "1\\2\\3", "1.5\\-2.25", "٣", "0x10", "", "A\\\\"]


def _dataset(text: str, charset: str | None, implicit: bool) -> Dataset:
    """A data set as dcmread leaves it (raw elements) with ``text`` as the value of every element."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    values: dict[int, tuple[str, bytes]] = {}
    if charset is not None:
        values[0x00080005] = ("CS", charset.encode())
    encoding = "utf-8" if charset == "ISO_IR 192" else "latin-1"
    for keyword, vr in _ELEMENTS.items():
        raw = text.encode(encoding, "replace") if vr != "US" else text.encode(encoding, "replace")[:2].ljust(2, b"\0")
        values[tag_for_keyword(keyword)] = (vr, raw if vr != "US" or text else b"")
    for tag, (vr, raw) in sorted(values.items()):
        ds._dict[Tag(tag)] = RawDataElement(Tag(tag), None if implicit else vr, len(raw), raw, 0, implicit, True)
    ds.set_original_encoding(implicit, True, pydicom.charset.convert_encodings(charset or ""))
    return ds


@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO_IR 192", "ISO_IR 144"])
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_raw_values_read_as_pydicom_reads_them(charset: str | None, implicit: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text in _TEXTS:
            for keyword in _ELEMENTS:
                ours, theirs = _dataset(text, charset, implicit), _dataset(text, charset, implicit)
                mine, pydicoms = _read(ours, keyword, plain_value), _read(theirs, keyword, Dataset.get)
                _assert_same(mine, pydicoms, f"{keyword}={text!r}")
                if isinstance(pydicoms, int) and not isinstance(pydicoms, bool):
                    assert int(mine) == int(pydicoms)


def test_an_absent_element_is_none() -> None:
    ds = _dataset("A", None, False)
    assert plain_value(ds, "SeriesDescription") is None
    assert plain_value(ds, "PatientName") == "A" and isinstance(plain_value(ds, "PatientName"), str)


def test_plain_values_reads_each_element_as_plain_value_does() -> None:
    """``PlainValues`` (each element read once, for the upload's checks, metadata and index) gives
    :func:`plain_value`'s value for every element of pydicom's test files, asked for twice."""
    compared = 0
    read = None
    for path, ours, theirs, _tag, keyword in _sample_elements():
        if read is None or read.dataset is not ours:  # one PlainValues per data set, asked for all its elements
            read = PlainValues(ours)
        expected = _read(theirs, keyword, plain_value)
        for _ in range(2):
            _assert_same(_read(read, keyword, PlainValues.__call__), expected, f"{path} {keyword}")
        absent = next(kw for kw in ("SeriesDescription", "FrameTime", "LossyImageCompression") if kw not in ours)
        assert read(absent) is None
        compared += 1
    assert compared > 5000


#: The regular expression ``_padded`` replaced (2 µs a value): white space or NUL at either end of
#: a value, or of any of the values of a multi-valued text.
_PADDED = re.compile(rb"(?:^|\\)[ \t\n\r\x0b\x0c\0]|[ \t\n\r\x0b\x0c\0](?:\\|$)")


def test_padding_is_found_as_the_regular_expression_found_it() -> None:
    pieces = [b"", b"A", b"1.5", b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c", b"\0", b"\\", b"\\\\", b"x y"]
    values = {a + b + c for a, b, c in itertools.product(pieces, repeat=3)}
    values |= {b"".join(random.Random(seed).choices(pieces, k=6)) for seed in range(5000)}
    for value in values:
        assert _padded(value) == bool(_PADDED.search(value)), value

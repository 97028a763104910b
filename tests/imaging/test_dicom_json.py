"""The DICOM JSON of stored headers (imaging.dicom_header): written from the raw bytes for the
common elements, it must be what pydicom's ``Dataset.to_json_dict`` writes, element for element."""

from __future__ import annotations

import io
import json
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.uid import generate_uid

from datamint.imaging.dicom_header import URI_BASE, _json_dict, header_to_json, index_entry
from datamint.imaging.dicom_raw import raw_json, text_encoding
from fixtures.files import make_ct_slice, to_bytes

THRESHOLD = 64 << 10


def _bulk(element) -> str:  # type: ignore[no-untyped-def]
    return f"bulk/{element.tag:08X}"


def _pydicom_json(source) -> str | None:  # type: ignore[no-untyped-def]
    try:
        body = pydicom.dcmread(source, force=True).to_json_dict(bulk_data_threshold=THRESHOLD,
                                                                bulk_data_element_handler=_bulk)
    except Exception:  # noqa: BLE001 - files pydicom cannot write as JSON are not compared
        return None
    return json.dumps(body, sort_keys=True)


def _sources() -> list[str]:
    return sorted(p for p in get_testdata_files() if not p.endswith((".py", ".json", ".txt", ".gz", ".zip")))


def _comparable() -> dict[str, str]:
    """pydicom's own JSON of each of its test files it can write as DICOM JSON (the others are not compared)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {p: body for p in _sources() if (body := _pydicom_json(p)) is not None}


COMPARABLE = _comparable()


@pytest.mark.parametrize("path", sorted(COMPARABLE), ids=lambda p: p.rsplit("/", 1)[-1])
def test_same_json_as_pydicom_on_its_test_files(path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = json.dumps(_json_dict(pydicom.dcmread(path, force=True), _bulk), sort_keys=True)
    assert ours == COMPARABLE[path]


def test_pydicom_test_files_are_compared() -> None:
    assert len(COMPARABLE) >= 50


def _ct(**values) -> bytes:  # type: ignore[no-untyped-def]
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return to_bytes(ds)


@pytest.mark.parametrize("values", [
    {},
    {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "Müller^Jörg", "StudyDescription": "Tête  "},
    {"SpecificCharacterSet": "ISO_IR 100", "PatientName": "Müller^Jörg=Mu^Jo", "InstitutionName": "Hôpital"},
    {"SpecificCharacterSet": ["", "ISO 2022 IR 87"], "PatientName": "Yamada^Tarou"},
    {"ImageType": ["ORIGINAL", "", "AXIAL"], "WindowCenter": ["40", "400"], "WindowWidth": "350.5 "},
    {"OtherPatientIDs": "A\\B", "AccessionNumber": "", "ReferringPhysicianName": ""},
])
def test_same_json_as_pydicom_on_header_bytes(values) -> None:  # type: ignore[no-untyped-def]
    raw = _ct(**values)
    entry = index_entry(pydicom.dcmread(io.BytesIO(raw)), raw)
    assert entry is not None and entry.header is not None
    expected = _pydicom_json(io.BytesIO(entry.header))
    ours = json.dumps(_json_dict(pydicom.dcmread(io.BytesIO(entry.header), force=True), _bulk), sort_keys=True)
    assert ours == expected
    # the stored header parsed without its file meta group: the same text as from the whole data set
    syntax = entry.instance["transfer_syntax_uid"]
    assert header_to_json(entry.header, "i", transfer_syntax=syntax) == header_to_json(
        pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True), "i", transfer_syntax=syntax)


def test_a_ct_header_is_written_without_pydicom() -> None:
    """Every element of a plain CT header takes the raw path (none is left to pydicom)."""
    raw = _ct()
    ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
    encoding = text_encoding(ds)
    assert encoding == "latin_1"
    elements = [ds.get_item(tag) for tag in ds.keys()]
    assert len(elements) > 20 and all(isinstance(e, RawDataElement) for e in elements)
    for element in elements:
        raw_json(element, encoding, lambda tag: "bulk")  # raises NotPlainError when left to pydicom
    text = header_to_json(ds, "studies/1/series/2/instances/3", transfer_syntax=ds.file_meta.TransferSyntaxUID)
    body = json.loads(text.replace(URI_BASE, "http://server/dicomweb/"))
    assert body["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]}

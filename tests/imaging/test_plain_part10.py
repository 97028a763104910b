"""The upload's own parse of a plain Part-10 header (``dicom_io._parse_plain_part10``: file meta
group with its group length, Implicit or Explicit VR Little Endian) gives what
``dcmread(stop_before_pixels=True)`` gives: the same elements (raw, at the same positions), file
meta, encodings, preamble and end position, on every file pydicom ships and copies of them cut
short; any other file is left to dcmread (``None``)."""

from __future__ import annotations

import io
import warnings
from typing import Any

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from datamint.imaging.dicom_io import HEADER_READ, _parse_plain_part10
from fixtures.files import PYDICOM_FILES, make_ct_slice, to_bytes

SAMPLES = sorted(p.name for p in PYDICOM_FILES.glob("*.dcm"))


def _state(read: Any, head: bytes) -> Any:
    """What a parse of ``head`` leaves: the data set's parts and where it stopped, or the error."""
    fh = io.BytesIO(head)
    try:
        ds = read(fh, head)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return ("error", type(exc).__name__)
    if ds is None:
        return None
    return (type(ds).__name__, list(ds.items()), ds.file_meta == pydicom.dcmread(io.BytesIO(head), force=True,
                                                                                  stop_before_pixels=True).file_meta
            if ds.file_meta else None, sorted(ds.file_meta.keys()), ds.original_encoding,
            ds.original_character_set, ds.preamble, fh.tell())


def _dcmread(fh: io.BytesIO, head: bytes) -> Any:
    return pydicom.dcmread(fh, stop_before_pixels=True)


def _compare(head: bytes) -> bool:
    """Whether the plain parse took ``head``; asserts it read it as dcmread does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _state(_parse_plain_part10, head)
        if ours is None:
            return False
        assert ours == _state(_dcmread, head)
    return True


def test_pydicom_samples_parse_as_dcmread_parses_them() -> None:
    taken = 0
    for name in SAMPLES:
        data = (PYDICOM_FILES / name).read_bytes()
        taken += _compare(data[:HEADER_READ])
    assert taken >= 20  # the plain little-endian ones (the others are compressed, big-endian, deflated...)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "liver_1frame.dcm"])
def test_cut_copies_parse_or_fail_as_dcmread(name: str) -> None:
    data = (PYDICOM_FILES / name).read_bytes()[:HEADER_READ]
    for cut in range(130, min(len(data), 3000), 7):
        _compare(data[:cut])


def test_other_files_are_left_to_dcmread() -> None:
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    plain = to_bytes(ds)
    assert _compare(plain)
    no_length = plain[:132] + plain[144:]  # meta group without its group length element: not plain
    assert _parse_plain_part10(io.BytesIO(no_length), no_length) is None
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"  # big endian
    big = to_bytes(ds)
    assert _parse_plain_part10(io.BytesIO(big), big) is None
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert _parse_plain_part10(io.BytesIO(plain[:200]), plain[:200]) is None  # nothing after the meta group

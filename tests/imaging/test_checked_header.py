"""``read_checked_header`` (the upload check, one header parse) decides like ``read_dicom(check=True)``.

Every DICOM file pydicom ships, and cut or damaged copies of a few, is given to both: either both
accept it with the same metadata and DICOM index entry, or both refuse it with the same kind of
error. Native little-endian files are judged from the Pixel Data element's header; the others
(compressed, big-endian, deflated, with elements after the pixel data) are read whole.
"""

from __future__ import annotations

import io

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from datamint.imaging._sources import read_start
from datamint.imaging.dicom_header import index_entry
from datamint.imaging.dicom_io import HEADER_READ, read_checked_header, read_dicom
from datamint.imaging.errors import ImagingError
from datamint.imaging.metadata import dicom_metadata
from fixtures.files import PYDICOM_FILES, make_ct_slice, to_bytes

SAMPLES = sorted(p.name for p in PYDICOM_FILES.glob("*.dcm"))


def _outcome(read, data: bytes):  # type: ignore[no-untyped-def]
    try:
        return read(data)
    except ImagingError as exc:
        return type(exc).__name__


def _full(data: bytes):  # type: ignore[no-untyped-def]
    ds = read_dicom(io.BytesIO(data), check=True)
    return dicom_metadata(ds), index_entry(ds, io.BytesIO(data))


def _once(data: bytes):  # type: ignore[no-untyped-def]
    checked = read_checked_header(io.BytesIO(data))
    return dicom_metadata(checked.dataset), index_entry(checked.dataset, io.BytesIO(data), checked.pixel_offset)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_pydicom_sample_is_judged_alike(name: str) -> None:
    data = (PYDICOM_FILES / name).read_bytes()
    assert _outcome(_once, data) == _outcome(_full, data)


@pytest.mark.parametrize("cut", [1, 7, 100, 2000, 2100])
def test_cut_copies_are_refused_alike(cut: int) -> None:
    data = to_bytes(make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid()))
    short = data[:-cut]
    assert _outcome(_once, short) == _outcome(_full, short) == "CorruptFileError"


def test_a_native_slice_is_read_once_with_its_header_bytes() -> None:
    data = to_bytes(make_ct_slice(3, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid()))
    checked = read_checked_header(io.BytesIO(data))
    assert "PixelData" not in checked.dataset and checked.pixel_offset is not None
    assert data[checked.pixel_offset:checked.pixel_offset + 4] == b"\xe0\x7f\x10\x00"
    assert _once(data) == _full(data)
    assert _once(data)[1].header == data[:checked.pixel_offset]


def test_short_pixel_data_is_refused_from_the_element_header() -> None:
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    ds.PixelData = ds.PixelData[:100]
    data = to_bytes(ds)
    with pytest.raises(ImagingError, match="Pixel Data is 100 bytes"):
        read_checked_header(io.BytesIO(data))
    assert _outcome(_full, data) == "CorruptFileError"


def _slice_with_pixels_at(offset: int, syntax: str) -> bytes:
    """A CT slice (of ``syntax``) whose Pixel Data element starts at byte ``offset`` (an even number
    past its plain header): ImageComments grown to push it there."""
    ds = make_ct_slice(1, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    ds.file_meta.TransferSyntaxUID = syntax
    ds.ImageComments = "x" * 2
    start = to_bytes(ds).find(b"\xe0\x7f\x10\x00")
    ds.ImageComments = "x" * (2 + offset - start)
    data = to_bytes(ds)
    assert data.find(b"\xe0\x7f\x10\x00") == offset
    return data


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("shift", [-400, -14, -12, -10, -8, -6, -4, -2, 0, 2, 100])
def test_a_header_ending_near_the_first_read_is_judged_alike(syntax: str, shift: int) -> None:
    """The header is parsed from the file's first ``HEADER_READ`` bytes when it ends within them
    (the Pixel Data element's own header included), else from the file: the same answer either way,
    the header bytes of the DICOM index taken from the bytes read only when they hold them."""
    offset = HEADER_READ + shift
    data = _slice_with_pixels_at(offset, syntax)
    checked = read_checked_header(io.BytesIO(data))
    assert checked.pixel_offset == offset
    element_header = 8 if syntax == ImplicitVRLittleEndian else 12
    assert (checked.header_source is not None) == (offset + element_header <= HEADER_READ)
    if checked.header_source is not None:
        assert checked.header_source[:offset] == data[:offset]
    assert _once(data) == _full(data)
    assert _once(data)[1].header == data[:offset]
    short = data[:-1]  # the pixel data one byte short: refused alike, from either read
    assert _outcome(_once, short) == _outcome(_full, short) == "CorruptFileError"


def test_the_header_read_from_memory_is_the_one_read_from_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A path, a reader, and bytes give the same check (the in-memory parse names the file as pydicom would)."""
    data = _slice_with_pixels_at(3000, ExplicitVRLittleEndian)
    path = tmp_path / "slice.dcm"
    path.write_bytes(data)
    from_path = read_checked_header(str(path))
    assert from_path.dataset.filename == str(path)
    assert dicom_metadata(from_path.dataset) == _full(data)[0]
    with open(path, "rb") as reader:
        assert index_entry(from_path.dataset, reader, from_path.pixel_offset) == _full(data)[1]


def test_read_start_gives_the_head_and_the_whole_length_of_every_kind_of_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 300  # 76,800 bytes
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert read_start(str(path), HEADER_READ) == (data[:HEADER_READ], len(data))
    assert read_start(path, 10 ** 6) == (data, len(data))  # a file shorter than the read
    assert read_start(data, 100) == (data[:100], len(data))
    reader = io.BytesIO(b"xx" + data)
    reader.seek(2)
    assert read_start(reader, 5) == (data[:5], len(data))  # from the reader's position, to its end
    assert reader.tell() == 2  # and left there


@pytest.mark.parametrize("name", SAMPLES)
def test_a_start_read_already_is_judged_alike(name: str) -> None:
    """``analyse``'s way: the start and the length read first, the file opened again only when needed."""
    path = str(PYDICOM_FILES / name)

    def started(_data: bytes):  # type: ignore[no-untyped-def]
        checked = read_checked_header(path, *read_start(path, HEADER_READ))
        return (dicom_metadata(checked.dataset),
                index_entry(checked.dataset, checked.header_source or path, checked.pixel_offset))

    data = (PYDICOM_FILES / name).read_bytes()
    assert _outcome(started, data) == _outcome(_full, data)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_a_header_within_the_start_read_is_checked_without_the_file(tmp_path, syntax: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "slice.dcm"
    path.write_bytes(_slice_with_pixels_at(3000, syntax))
    head, size = read_start(str(path), HEADER_READ)
    path.unlink()  # not opened again: the check works from what was read
    checked = read_checked_header(str(path), head, size)
    assert checked.pixel_offset == 3000 and checked.header_source == head
    short = read_start(_slice_with_pixels_at(3000, syntax)[:-1], HEADER_READ)  # the length still decides
    with pytest.raises(ImagingError, match="announces 2048 bytes but the file ends after 2047"):
        read_checked_header(str(path), *short)
    far = tmp_path / "far.dcm"  # the header ends past the start read: the file is read on from it
    far.write_bytes(_slice_with_pixels_at(HEADER_READ + 100, syntax))
    from_start = read_checked_header(str(far), *read_start(str(far), HEADER_READ))
    assert from_start.pixel_offset == HEADER_READ + 100 and from_start.header_source is None
    assert dicom_metadata(from_start.dataset) == dicom_metadata(read_checked_header(str(far)).dataset)

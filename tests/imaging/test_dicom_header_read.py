"""``read_dicom_header`` (the upload's header read, parsed from one read of the file's start)
returns what ``read_dicom(stop_before_pixels=True, check=False)`` returns, or raises what it raises.

Every DICOM file pydicom ships, and copies cut short, or with a header longer than one read,
are given to both, as paths, file objects and bytes; and to ``read_dicom_header`` with the start
its caller read already (the upload sniffs the type from it). The readers open a path once.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from datamint.imaging._sources import read_head
from datamint.imaging.dicom_io import HEADER_READ, read_checked_header, read_dicom, read_dicom_header
from datamint.imaging.errors import ImagingError
from fixtures.files import PYDICOM_FILES, make_ct_slice, to_bytes

SAMPLES = sorted(p.name for p in PYDICOM_FILES.glob("*.dcm"))


def _outcome(read, src):  # type: ignore[no-untyped-def]
    try:
        ds = read(src)
        return (ds.filename, ds.original_encoding, ds.preamble, str(ds.file_meta),
                [(elem.tag, elem.VR, repr(elem.value)) for elem in ds.iterall()])
    except ImagingError as exc:
        return type(exc).__name__, str(exc)


def _alike(src_of) -> None:  # type: ignore[no-untyped-def]
    new = _outcome(read_dicom_header, src_of())
    assert new == _outcome(lambda s: read_dicom(s, stop_before_pixels=True, check=False), src_of())


def _slice(private_bytes: int = 0) -> bytes:
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    if private_bytes:
        ds.add_new(0x00091010, "OB", b"x" * private_bytes)
    return to_bytes(ds)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_pydicom_sample_is_read_alike(name: str) -> None:
    path = PYDICOM_FILES / name
    _alike(lambda: str(path))
    _alike(lambda: path.open("rb"))
    _alike(lambda: path.read_bytes())


@pytest.mark.parametrize("private_bytes", [0, HEADER_READ - 600, HEADER_READ, 3 * HEADER_READ])
def test_headers_longer_than_one_read_are_read_alike(tmp_path: Path, private_bytes: int) -> None:
    data = _slice(private_bytes)
    path = tmp_path / "slice.dcm"
    path.write_bytes(data)
    _alike(lambda: str(path))
    ds = read_dicom_header(str(path))
    assert ds.filename == str(path) and ds.Modality == "CT" and "PixelData" not in ds
    assert (len(ds[0x00091010].value) if private_bytes else 0) == private_bytes


@pytest.mark.parametrize("cut", [0, 10, 132, 300, 700, HEADER_READ - 1, HEADER_READ, HEADER_READ + 5])
def test_cut_copies_are_read_alike(cut: int) -> None:
    data = _slice(HEADER_READ)[:cut]
    _alike(lambda: io.BytesIO(data))
    _alike(lambda: data)


def test_a_file_object_is_read_from_its_position_and_left_there() -> None:
    data = _slice()
    fh = io.BytesIO(b"junk" + data)
    fh.seek(4)
    assert read_dicom_header(fh).Modality == "CT"
    assert fh.tell() == 4


def test_a_header_within_one_read_is_parsed_from_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from datamint.imaging import dicom_io

    calls: list[object] = []
    full = dicom_io.read_dicom
    monkeypatch.setattr(dicom_io, "read_dicom", lambda src, **kw: calls.append(src) or full(src, **kw))
    short, long = tmp_path / "short.dcm", tmp_path / "long.dcm"
    short.write_bytes(_slice())
    long.write_bytes(_slice(HEADER_READ))
    assert read_dicom_header(str(short)).Modality == "CT"
    assert calls == []
    assert read_dicom_header(str(long)).Modality == "CT"
    assert calls == [str(long)]


def _every_testdata_file_and_cut_copies(folder: Path) -> list[Path]:
    from pydicom.data import get_testdata_files

    paths = [p for p in map(Path, get_testdata_files()) if p.is_file()]
    for name in ("CT_small.dcm", "MR_small.dcm", "image_dfl.dcm", "rtplan.dcm"):
        data = (PYDICOM_FILES / name).read_bytes()
        for size in (1, 131, 132, 700, 8192, len(data) - 3):
            paths.append(folder / f"{size}_{name}")
            paths[-1].write_bytes(data[:size])
    long = folder / "long_header.dcm"
    long.write_bytes(_slice(2 * HEADER_READ))
    return [*paths, long]


@pytest.mark.parametrize("kind", ["path", "file", "bytes"])
def test_a_start_read_already_gives_the_same_header(tmp_path: Path, kind: str) -> None:
    for path in _every_testdata_file_and_cut_copies(tmp_path):
        def src_of(path: Path = path):  # type: ignore[no-untyped-def]
            return {"path": lambda: str(path), "file": lambda: io.BytesIO(path.read_bytes()),
                    "bytes": path.read_bytes}[kind]()

        src = src_of()
        head = read_head(src, HEADER_READ)
        shared = _outcome(lambda s, head=head: read_dicom_header(s, head), src)
        assert shared == _outcome(read_dicom_header, src_of()), path
        if kind == "file":
            assert src.tell() == 0


def test_the_readers_open_a_path_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    path = tmp_path / "slice.dcm"
    path.write_bytes(_slice())
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file) == str(path):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    for read in (read_dicom, lambda p: read_dicom(p, stop_before_pixels=True), read_checked_header,
                 read_dicom_header):
        opened.clear()
        read(str(path))
        assert opened == [str(path)], read

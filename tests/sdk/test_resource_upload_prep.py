"""Client-side upload preparation (no server): inputs, file names, reports, series planning, cache."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest

from datamint.api._upload import prepare as up
from datamint.entities.cache_manager import CacheManager, version_hash
from datamint.entities.resource import resource_from_dict
from datamint.entities.resources import DICOMResource, ImageResource, NiftiResource, VideoResource, VolumeResource
from fixtures.files import png_file, pydicom_file, write_ct_series


@pytest.mark.parametrize(("path", "rule", "expected"), [
    ("path/to/dicom.dcm", None, "dicom.dcm"),
    ("path/to/dicom.dcm", "all", "path_to_dicom.dcm"),
    ("path/to/dicom.dcm", 1, "to_dicom.dcm"),
    ("path/to/dicom.dcm", [1], "to_dicom.dcm"),
    ("path/to/dicom.dcm", [2], "path_dicom.dcm"),
    ("path/to/dicom.dcm", [2, 1], "path_to_dicom.dcm"),
    ("path/to/dicom.dcm", [3], "dicom.dcm"),
    ("/abs/a/b/c.png", "all", "abs_a_b_c.png"),
    ("/abs/a/b/c.png", [1, 3], "abs_b_c.png"),
    ("c.png", [1], "c.png"),
])
def test_mung_filename(path, rule, expected):
    assert up.mung(path, rule) == expected


def test_collect_inputs_accepts_mixed_inputs_and_folders(tmp_path):
    png = png_file(tmp_path / "a.png")
    buffer = io.BytesIO(png.read_bytes())
    dataset = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    inputs = up.collect_inputs([str(png), buffer, dataset], None)
    assert [i.name for i in inputs] == ["a.png", "file_1", "CT_small.dcm"]
    assert inputs[0].path == str(png) and inputs[1].path is None
    (tmp_path / "b.png").write_bytes(png.read_bytes())
    assert [i.name for i in up.collect_inputs(str(tmp_path), None)] == ["a.png", "b.png"]
    with pytest.raises(ValueError, match="upload_resource"):
        up.collect_inputs(str(png), None)
    with pytest.raises(ValueError, match="upload_resource"):
        up.collect_inputs(dataset, None)
    with pytest.raises(ValueError, match="one entry per file"):
        up.collect_inputs([str(png)], [{}, {}])
    with pytest.raises(FileNotFoundError):
        up.collect_inputs([str(tmp_path / "missing.dcm")], None)


def test_reports_are_dropped_and_series_planned(tmp_path, caplog):
    series = write_ct_series(tmp_path / "s", slices=3)
    other = write_ct_series(tmp_path / "t", slices=2, prefix="other")
    files = [*map(str, series), pydicom_file("test-SR.dcm"), str(png_file(tmp_path / "x.png")),
             pydicom_file("rtdose.dcm"), *map(str, other)]
    inputs = up.collect_inputs(files, None)
    up.read_headers(inputs)
    assert [i.is_dicom for i in inputs] == [True, True, True, True, False, True, True, True]
    assert {i.sniffed for i in inputs} == {"application/dicom", "image/png"}
    with caplog.at_level("WARNING", logger="datamint.upload"):
        kept = up.drop_reports(inputs)
    assert [i.index for i in kept] == [0, 1, 2, 4, 5, 6, 7]
    assert "Skipped 1 DICOM report(s)" in caplog.text and "test-SR.dcm" in caplog.text
    units = up.plan_units(kept, assemble=True)
    assert [[i.index for i in u.inputs] for u in units] == [[0, 1, 2], [4], [5], [6, 7]]
    assert [u.assemble for u in units] == [True, False, False, True]
    assert all(not u.assemble for u in up.plan_units(kept, assemble=False))


def test_prepared_files_carry_tags_metadata_and_modality(tmp_path):
    meta = tmp_path / "m.json"
    meta.write_text(json.dumps({"MODALITY": "XA", "k": 1}))
    inputs = up.collect_inputs([str(png_file(tmp_path / "p.png"))], [str(meta)])
    up.read_headers(inputs)
    prepared = up.prepare_unit(up.UploadUnit(inputs), up.UploadOptions(tags=["a"]))
    try:
        assert (prepared.filename, prepared.mimetype, prepared.modality) == ("p.png", "image/png", "XA")
        assert json.loads(prepared.metadata_json) == {"MODALITY": "XA", "k": 1} and prepared.tags == ["a"]
    finally:
        prepared.close()
    renamed = tmp_path / "p.bin"  # the type comes from the content sniffed by read_headers, not the name
    renamed.write_bytes((tmp_path / "p.png").read_bytes())
    inputs = up.collect_inputs([str(renamed)], None)
    up.read_headers(inputs)
    prepared = up.prepare_unit(up.UploadUnit(inputs), up.UploadOptions())
    prepared.close()
    assert (inputs[0].sniffed, prepared.mimetype) == ("image/png", "image/png")
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        up.load_metadata(str(bad))


def test_laterality_tags_are_the_same_with_and_without_anonymization(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    anatomy, group = Dataset(), Dataset()
    anatomy.FrameLaterality = "R"
    group.FrameAnatomySequence = Sequence([anatomy])
    ds.SharedFunctionalGroupsSequence = Sequence([group])
    path = tmp_path / "side.dcm"
    ds.save_as(path)
    for anonymize in (False, True):
        inputs = up.collect_inputs([str(path)], None)
        up.read_headers(inputs)
        prepared = up.prepare_unit(up.UploadUnit(inputs), up.UploadOptions(tags=["t"], anonymize=anonymize))
        prepared.close()
        assert prepared.tags == ["t", "right"], anonymize


class _CountingReads(io.BytesIO):
    """A file object that counts the reads made of it."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def test_each_input_start_is_read_once_for_its_type_and_header(tmp_path):
    ct = _CountingReads((pydicom_file("CT_small.dcm")).read_bytes())
    png = _CountingReads(png_file(tmp_path / "p.png").read_bytes())
    text = _CountingReads(b"plain text, no known type\n")
    inputs = up.collect_inputs([ct, png, text], None)
    up.read_headers(inputs)
    assert [i.sniffed for i in inputs] == ["application/dicom", "image/png", None]
    assert inputs[0].header.Modality == "CT" and "PixelData" not in inputs[0].header
    assert (ct.reads, png.reads, text.reads) == (1, 1, 1)
    assert [f.tell() for f in (ct, png, text)] == [0, 0, 0]
    up.read_headers(inputs)  # read already, even the content of no known type
    assert (ct.reads, png.reads, text.reads) == (1, 1, 1)


@pytest.mark.parametrize("kind", ["path", "file"])
def test_the_shared_start_gives_the_type_and_header_of_separate_reads(tmp_path, kind):
    """On every pydicom test file and cut copies of a few, read_headers (one read of each start) gives
    the type and header that sniffing the first HEAD_SIZE bytes and read_dicom_header(src) give."""
    from pydicom.data import get_testdata_files

    from datamint.imaging import HEAD_SIZE, sniff_mimetype
    from datamint.imaging._sources import read_head
    from datamint.imaging.dicom_io import read_dicom_header

    paths = [p for p in map(Path, get_testdata_files()) if p.is_file()]
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "image_dfl.dcm", "rtplan.dcm"):
        data = Path(pydicom_file(name)).read_bytes()
        for size in (1, 131, 132, 700, HEAD_SIZE, len(data) - 3):
            paths.append(cut / f"{size}_{name}")
            paths[-1].write_bytes(data[:size])
    for path in paths:
        source = str(path) if kind == "path" else io.BytesIO(path.read_bytes())
        item = up.collect_inputs([source], None)[0]
        up.read_headers([item])
        expected = sniff_mimetype(read_head(source, HEAD_SIZE))
        assert item.sniffed == expected, path
        if expected == "application/dicom":
            try:
                header = read_dicom_header(source)
            except ValueError:
                header = None
            assert (None if header is None else _elements(header)) == (
                None if item.header is None else _elements(item.header)), path
            assert item.header is None or item.header.filename == header.filename
        else:
            assert item.header is None


def _elements(ds: pydicom.Dataset) -> list[tuple[int, str, str]]:
    return [(int(e.tag), e.VR, repr(e.value)) for e in ds.iterall()] + [
        (0, "meta", str(getattr(ds, "file_meta", None))), (1, "encoding", repr(ds.original_encoding))]


def test_resource_dispatch_by_storage_mimetype_and_suffix():
    base = {"id": "1", "location": "x", "status": "inbox", "created_at": "t", "created_by": "u",
            "resource_uri": "/r", "upload_channel": "", "customer_id": "c", "published": False, "deleted": False}
    cases = [({"storage": "DicomResource", "mimetype": "x", "filename": "a"}, DICOMResource),
             ({"storage": "Other", "mimetype": "application/nifti", "filename": "a"}, NiftiResource),
             ({"storage": "Other", "mimetype": "application/octet-stream", "filename": "a.nii.gz"}, NiftiResource),
             ({"storage": "VolumeResource", "mimetype": "x", "filename": "a"}, VolumeResource),
             ({"storage": "x", "mimetype": "video/mp4", "filename": "a"}, VideoResource),
             ({"storage": "x", "mimetype": "image/png", "filename": "a"}, ImageResource)]
    for extra, klass in cases:
        assert type(resource_from_dict({**base, **extra})) is klass
    plain = resource_from_dict({**base, "storage": "FileResource", "mimetype": "application/pdf", "filename": "a.pdf"})
    assert type(plain).__name__ == "Resource" and plain.get_depth() == 1
    volume = resource_from_dict({**base, "storage": "DicomResource", "mimetype": "application/dicom", "filename": "a"})
    for read in (lambda: volume.get_slice("oblique", 0), lambda: next(volume.iter_slices("oblique"))):
        with pytest.raises(ValueError, match="Unknown axis 'oblique'"):  # before any download (no API here)
            read()


def test_cache_manager_validates_versions(tmp_path):
    cache = CacheManager("resources", "image_data", root=tmp_path)
    v1, v2 = version_hash({"size": 1}), version_hash({"size": 2})
    assert v1 == version_hash({"size": 1}) and v1 != v2
    path = cache.save("abc", v1, b"data", ".bin", {"mimetype": "x"})
    assert cache.get_path("abc", v1) == path and cache.load("abc", v1) == b"data"
    assert cache.get_path("abc", v2) is None and cache.load("abc", v2) is None
    cache.save("abc", v2, b"new", ".dcm")
    assert cache.load("abc", v2) == b"new" and not path.exists()
    cache.invalidate("abc")
    assert cache.get_path("abc", v2) is None
    with pytest.raises(ValueError):
        cache.entity_dir("../escape")

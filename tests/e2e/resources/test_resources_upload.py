"""Uploading resources through the SDK to the real server, on every backend, with real files."""

from __future__ import annotations

import io
import json

import httpx
import pydicom
import pytest

from datamint import Api
from datamint.entities.resources import DICOMResource, ImageResource, NiftiResource, VideoResource
from datamint.exceptions import DatamintException, ItemNotFoundError, ValidationError
from fixtures.files import jpeg_file, nibabel_file, png_file, pydicom_file, video_file, write_ct_series

from conftest import start_server, unique


def _blobs(server, customer_id: str) -> set[str]:
    root = server.data_dir / "blobs" / customer_id / "resources"
    return {p.parent.name for p in root.rglob("original")} if root.exists() else set()


def _intents(server) -> int:
    from sqlalchemy import func, select

    from datamint.server.resources.models import UploadIntent

    with server.database.transaction() as session:
        return session.scalar(select(func.count()).select_from(UploadIntent))


@pytest.fixture
def org_api(server):
    """The SDK as admin of a fresh organization (so listings and blob counts are the test's own)."""
    client = Api(server.url, server.new_org())
    yield client
    client.close()


def test_real_files_of_every_kind_get_their_metadata(org_api, tmp_path):
    files = {
        "ct": pydicom_file("CT_small.dcm"),
        "j2k": pydicom_file("JPEG2000.dcm"),
        "rle": pydicom_file("MR_small_RLE.dcm"),
        "jpegls": pydicom_file("MR_small_jpeg_ls_lossless.dcm"),
        "multiframe": pydicom_file("rtdose.dcm"),
        "rtstruct": pydicom_file("rtstruct.dcm"),
        "nifti4d": nibabel_file("example4d.nii.gz"),
        "png": str(png_file(tmp_path / "photo.png")),
        "jpeg": str(jpeg_file(tmp_path / "photo.jpg")),
        "video": str(video_file(tmp_path / "clip.mp4")),
    }
    ids = org_api.resources.upload_resources(list(files.values()), assemble_dicoms=False, channel="kinds")
    assert all(isinstance(i, str) for i in ids)
    got = {key: org_api.resources.get_by_id(rid) for key, rid in zip(files, ids, strict=True)}

    ct = got["ct"]
    assert isinstance(ct, DICOMResource) and ct.storage == "DicomResource" and ct.mimetype == "application/dicom"
    assert (ct.metadata["width"], ct.metadata["height"], ct.metadata["frame_count"]) == (128, 128, 1)
    source = pydicom.dcmread(files["ct"], stop_before_pixels=True)
    assert ct.study_uid == source.StudyInstanceUID and ct.series_uid == source.SeriesInstanceUID
    assert ct.instance_uid == source.SOPInstanceUID and ct.patient_id == source.PatientID
    assert ct.modality == "CT" and ct.upload_channel == "kinds" and ct.size == len(open(files["ct"], "rb").read())
    assert ct.resource_uri == f"/resources/{ct.id}/file" and ct.status == "inbox" and ct.published is False
    assert got["j2k"].metadata["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.91"
    assert got["rle"].metadata["TransferSyntaxUID"] == "1.2.840.10008.1.2.5"
    assert got["multiframe"].metadata["frame_count"] == 15 and got["multiframe"].get_depth() == 15
    assert got["rtstruct"].modality == "RTSTRUCT"

    nifti = got["nifti4d"]
    assert isinstance(nifti, NiftiResource) and nifti.mimetype == "application/nifti"
    assert nifti.metadata["dims"][:5] == [4, 128, 96, 24, 2] and len(nifti.metadata["affine"]) == 4
    assert nifti.metadata["frame_count"] == 24 and nifti.metadata["time_points"] == 2

    assert isinstance(got["png"], ImageResource) and got["png"].mimetype == "image/png"
    assert (got["png"].width, got["png"].height) == (24, 16)
    assert got["jpeg"].mimetype == "image/jpeg" and got["jpeg"].get_dimensions() == (20, 12)
    video = got["video"]
    assert isinstance(video, VideoResource) and video.mimetype == "video/mp4"
    assert video.frame_count == 6 and video.metadata["streams"][0]["codec_type"] == "video"
    assert (video.width, video.height) == (48, 32)


def test_server_trusts_content_over_declared_type_and_name(org_api, tmp_path):
    png = png_file(tmp_path / "scan.jpg")
    rid = org_api.resources.upload_resource(str(png), mimetype="image/jpeg")
    assert org_api.resources.get_by_id(rid).mimetype == "image/png"
    data = open(pydicom_file("CT_small.dcm"), "rb").read()
    nameless = io.BytesIO(data)
    nameless.name = "export_0001"
    rid = org_api.resources.upload_resource(nameless, mimetype="application/octet-stream")
    resource = org_api.resources.get_by_id(rid)
    assert resource.mimetype == "application/dicom" and resource.filename == "export_0001"


def test_bad_files_fail_in_place_and_leave_nothing_behind(server, org_api, tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("this is not a DICOM file, just text\n")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    customer = org_api.users.get_list()[0].customer_id
    before = _blobs(server, customer)
    results = org_api.resources.upload_resources(
        [str(text), str(empty), pydicom_file("MR_truncated.dcm"), pydicom_file("CT_small.dcm")],
        on_error="skip", assemble_dicoms=False)
    assert isinstance(results[3], str)
    errors = results[:3]
    assert all(isinstance(e, DatamintException) for e in errors), errors
    assert errors[0].status_code == 415 and "notes.dcm" in str(errors[0]) and "not a DICOM" in str(errors[0])
    assert errors[1].status_code == 422 and "empty" in str(errors[1])
    assert errors[2].status_code == 422 and "truncated" in str(errors[2])
    assert _blobs(server, customer) - before == {results[3]}
    assert _intents(server) == 0
    assert [r.id for r in org_api.resources.get_list()] == [results[3]]
    with pytest.raises(ValidationError):
        org_api.resources.upload_resource(str(text))


def test_path_tricks_in_filenames_are_refused(server, org_api):
    data = open(pydicom_file("CT_small.dcm"), "rb").read()
    with httpx.Client(base_url=server.url, headers={"apikey": org_api.config.api_key}) as http:
        for name in ("../../etc/passwd.dcm", "a/b.dcm", "..", "..\\x.dcm", "x" * 300 + ".dcm"):
            response = http.post("/resources", files={"resource": (name, data, "application/dicom")})
            assert response.status_code == 422, name
            assert "filename" in response.json()["message"]
        response = http.post("/resources", files={"resource": ("x.dcm", data, "application/dicom")},
                             data={"metadata": "[1, 2"})
        assert response.status_code == 422 and "metadata" in response.json()["message"]
        assert org_api.resources.get_list() == []
        # A Windows full path is cut to its base name by the multipart parser itself.
        response = http.post("/resources", files={"resource": ("C:\\scans\\y.dcm", data, "application/dicom")})
        assert response.status_code == 201 and response.json()["filename"] == "y.dcm"


def test_body_above_max_upload_is_413(server, request, tmp_path):
    gen = start_server(server.backend, request, tmp_path / "small", max_upload_mb=1)
    small = next(gen)
    try:
        big = tmp_path / "big.png"
        import numpy as np
        from PIL import Image

        Image.fromarray(np.random.default_rng(1).integers(0, 255, (1200, 1200), dtype=np.uint8)).save(big)
        api = Api(small.url, small.new_org())
        with pytest.raises(ValidationError) as info:
            api.resources.upload_resource(str(big))
        assert info.value.status_code == 413 and "too large" in str(info.value)
        assert api.resources.get_list() == []
        assert not list((tmp_path / "small" / "blobs").rglob("original"))
    finally:
        gen.close()


def test_unknown_publish_to_uploads_nothing(org_api):
    with pytest.raises(ItemNotFoundError):
        org_api.resources.upload_resources([pydicom_file("CT_small.dcm")], publish_to=unique("no-such-project"))
    assert org_api.resources.get_list() == []


def test_publish_to_tags_channel_and_metadata(org_api, tmp_path, monkeypatch):
    project = org_api.projects.create(unique("proj"), "d")
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(json.dumps({"Modality": "US", "site": "B"}))
    png = png_file(tmp_path / "a.png")
    ids = org_api.resources.upload_resources([str(png), pydicom_file("CT_small.dcm")], tags=["t1", "t2"],
                                             channel="ch", publish_to=project.name,
                                             metadata=[str(meta_file), {"site": "A"}], progress_bar=True)
    first, second = (org_api.resources.get_by_id(i) for i in ids)
    assert first.tags == ["t1", "t2"] and first.upload_channel == "ch" and first.status == "published"
    assert first.modality == "US" and first.metadata["site"] == "B" and second.metadata["site"] == "A"
    assert first.published_by and first.published_on and second.published is True
    assert {r.id for r in org_api.projects.get_project_resources(project)} == set(ids)
    assert org_api.projects.get_by_id(project.id).resource_count == 2
    assert first.source_filepath == str(png.resolve())


def test_inputs_may_be_paths_file_objects_and_datasets(org_api):
    path = pydicom_file("CT_small.dcm")
    fobj = open(pydicom_file("MR_small.dcm"), "rb")
    dataset = pydicom.dcmread(pydicom_file("JPEG2000.dcm"))
    try:
        ids = org_api.resources.upload_resources([path, fobj, dataset], assemble_dicoms=False)
    finally:
        fobj.close()
    names = [org_api.resources.get_by_id(i).filename for i in ids]
    assert names == ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]
    with pytest.raises(ValueError):
        org_api.resources.upload_resources(path)


def test_mung_filename_follows_the_path_as_given(org_api, tmp_path, monkeypatch):
    (tmp_path / "path" / "to").mkdir(parents=True)
    png_file(tmp_path / "path" / "to" / "img.png")
    monkeypatch.chdir(tmp_path)
    rel = "path/to/img.png"
    names = []
    for rule in (None, "all", 1, [1, 2], [5]):
        rid = org_api.resources.upload_resource(rel, mung_filename=rule)
        names.append(org_api.resources.get_by_id(rid).filename)
    assert names == ["img.png", "path_to_img.png", "to_img.png", "path_to_img.png", "img.png"]


def test_series_assembly_maps_every_slice_to_one_multiframe_resource(org_api, tmp_path):
    slices = write_ct_series(tmp_path / "series", slices=4)
    png = png_file(tmp_path / "other.png")
    ids = org_api.resources.upload_resources([*map(str, slices), str(png)], assemble_dicoms=True)
    assert len(set(ids[:4])) == 1 and ids[4] != ids[0]
    resource = org_api.resources.get_by_id(ids[0])
    assert resource.metadata["frame_count"] == 4 and resource.filename.endswith(".dcm")
    ds = org_api.resources.download_resource_file(resource)
    assert int(ds.NumberOfFrames) == 4
    frames = ds.pixel_array
    assert [int(frames[k][0, 0]) for k in range(4)] == [1024 + 10 * k for k in range(4)]
    positions = [item.PlanePositionSequence[0].ImagePositionPatient[2] for item in ds.PerFrameFunctionalGroupsSequence]
    assert positions == [0.0, 2.5, 5.0, 7.5]


def test_dicom_reports_are_discarded_unless_asked(org_api, tmp_path, caplog):
    sr, ct = pydicom_file("test-SR.dcm"), pydicom_file("CT_small.dcm")
    ids = org_api.resources.upload_resources([sr, ct], assemble_dicoms=False)
    assert len(ids) == 1 and org_api.resources.get_by_id(ids[0]).filename == "CT_small.dcm"
    # reports among other files of a batch: the ids of the others stay in order
    other = tmp_path / "other.dcm"
    other.write_bytes(ct.read_bytes())
    with caplog.at_level("WARNING", logger="datamint"):
        ids = org_api.resources.upload_resources([sr, ct, sr, str(other)], assemble_dicoms=False)
    assert [org_api.resources.get_by_id(i).filename for i in ids] == ["CT_small.dcm", "other.dcm"]
    assert "Skipped 2 DICOM report(s)" in caplog.text
    kept = org_api.resources.upload_resources([ct, sr], assemble_dicoms=False, discard_dicom_reports=False)
    assert [org_api.resources.get_by_id(i).modality for i in kept] == ["CT", "SR"]
    with pytest.raises(ValueError, match="report"):
        org_api.resources.upload_resource(sr)
    rid = org_api.resources.upload_resource(sr, discard_dicom_reports=False)
    assert org_api.resources.get_by_id(rid).modality == "SR"


def test_on_error_raise_raises_the_failure(org_api, tmp_path):
    text = tmp_path / "bad.dcm"
    text.write_text("nope")
    with pytest.raises(DatamintException) as info:
        org_api.resources.upload_resources([str(text)], on_error="raise")
    assert info.value.status_code == 415
    with pytest.raises(ValueError):
        org_api.resources.upload_resources([str(text)], on_error="ignore")  # type: ignore[arg-type]


class _Unreadable(io.RawIOBase):
    """A file object whose content cannot be read (a disk error)."""

    name = "unreadable.dcm"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        raise OSError(5, "Input/output error")


def test_a_file_that_cannot_be_read_fails_alone(org_api):
    """Its type is sniffed as its batch is read (with its header): its error is in its place."""
    ct = pydicom_file("CT_small.dcm")
    results = org_api.resources.upload_resources([ct, _Unreadable(), ct], on_error="skip", assemble_dicoms=False)
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert isinstance(results[1], OSError) and results[1].errno == 5
    assert sorted(r.id for r in org_api.resources.get_list()) == sorted([results[0], results[2]])
    with pytest.raises(OSError, match="Input/output error"):
        org_api.resources.upload_resource(_Unreadable())
    with pytest.raises(OSError, match="Input/output error"):
        org_api.resources.upload_resources([ct, _Unreadable()], assemble_dicoms=True)


def test_large_file_is_spooled_once_and_moved_into_place(server, org_api, tmp_path):
    import numpy as np
    from PIL import Image

    big = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (1100, 1100), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 1 << 20
    rid = org_api.resources.upload_resource(str(big))
    assert org_api.resources.download_resource_file(rid, auto_convert=False) == big.read_bytes()
    assert org_api.resources.get_by_id(rid).size == big.stat().st_size
    assert not [p for p in (server.data_dir / "blobs" / ".tmp").iterdir() if p.name.startswith("upload-")]


def test_malformed_multipart_is_400(server, org_api):
    headers = {"apikey": org_api.config.api_key}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        broken = http.post("/resources", content=b"--xyz\r\nnot a header line\r\n\r\nabc",
                           headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert broken.status_code == 400 and "multipart" in broken.json()["message"]
        plain = http.post("/resources", json={"resource": "x"})
        assert plain.status_code == 400
        no_file = http.post("/resources", data={"channel": "x"}, files={"other": ("a.png", b"x", "image/png")})
        assert no_file.status_code == 422 and "resource" in no_file.json()["message"]
    assert org_api.resources.get_list() == []

"""Downloading resources: files, conversions, extensions, bulk, rendered frames and the local cache."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image

from datamint import Api
from datamint.api.base_api import BaseApi
from datamint.exceptions import ValidationError
from datamint.imaging import load_frame
from fixtures.files import nibabel_file, png_file, pydicom_file, video_file, write_ct_series

from conftest import unique


class Files:
    """One uploaded file of each kind in a fresh organization."""

    def __init__(self, api: Api, folder: Path) -> None:
        self.api = api
        self.paths = {
            "ct": pydicom_file("CT_small.dcm"),
            "dose": pydicom_file("rtdose.dcm"),
            "synthetic": str(write_ct_series(folder / "s", slices=1)[0]),
            "nifti": nibabel_file("example4d.nii.gz"),
            "png": str(png_file(folder / "p.png")),
            "video": str(video_file(folder / "v.mp4")),
        }
        ids = api.resources.upload_resources(list(self.paths.values()), assemble_dicoms=False)
        self.ids = dict(zip(self.paths, ids, strict=True))

    def resource(self, key: str):
        return self.api.resources.get_by_id(self.ids[key])


@pytest.fixture(scope="module")
def files(server, tmp_path_factory):
    api = Api(server.url, server.new_org())
    yield Files(api, tmp_path_factory.mktemp("files"))
    api.close()


def test_original_bytes_and_headers(server, files):
    raw = files.api.resources.download_resource_file(files.ids["ct"], auto_convert=False)
    assert raw == Path(files.paths["ct"]).read_bytes()
    with httpx.Client(base_url=server.url, headers={"apikey": files.api.config.api_key}) as http:
        response = http.get(f"/resources/{files.ids['png']}/file")
    assert response.headers["content-type"] == "image/png"
    assert 'filename="p.png"' in response.headers["content-disposition"]


def test_auto_convert_gives_the_natural_objects(files):
    get = files.api.resources.download_resource_file
    assert isinstance(get(files.ids["ct"]), pydicom.Dataset)
    image = get(files.ids["png"])
    assert isinstance(image, Image.Image) and image.size == (24, 16)
    nifti = get(files.ids["nifti"])
    assert nifti.shape == (128, 96, 24, 2)
    capture = get(files.ids["video"])
    assert capture.isOpened() and int(capture.get(7)) == 6  # cv2.CAP_PROP_FRAME_COUNT
    capture.release()
    assert isinstance(BaseApi.convert_format(Path(files.paths["ct"]).read_bytes()), pydicom.Dataset)


def test_save_path_and_add_extension(files, tmp_path):
    get = files.api.resources.download_resource_file
    data, path = get(files.ids["png"], save_path=str(tmp_path / "a"), auto_convert=False, add_extension=True)
    assert path == str(tmp_path / "a.png") and Path(path).read_bytes() == data
    image, path = get(files.ids["png"], save_path=str(tmp_path / "b.png"), add_extension=True)
    assert path == str(tmp_path / "b.png") and isinstance(image, Image.Image)
    _, path = get(files.ids["nifti"], save_path=str(tmp_path / "vol"), auto_convert=False, add_extension=True)
    assert path.endswith("vol.nii.gz")
    ds = get(files.ids["ct"], save_path=str(tmp_path / "ct.dcm"))
    assert pydicom.dcmread(tmp_path / "ct.dcm").SOPInstanceUID == ds.SOPInstanceUID


def test_download_multiple(files, tmp_path):
    ids = [files.ids["ct"], files.ids["png"]]
    paths = files.api.resources.download_multiple_resources(ids, str(tmp_path / "dir"))
    assert paths == [str(tmp_path / "dir" / i) for i in ids]
    assert Path(paths[0]).read_bytes() == Path(files.paths["ct"]).read_bytes()
    resources = [files.resource("ct"), files.resource("png")]
    targets = [str(tmp_path / "one"), str(tmp_path / "two")]
    Path(targets[1] + ".png").write_bytes(b"keep me")
    paths = files.api.resources.download_multiple_resources(resources, targets, add_extension=True, overwrite=False)
    assert paths == [targets[0] + ".dcm", targets[1] + ".png"]
    assert Path(paths[1]).read_bytes() == b"keep me"
    assert not [p for p in os.listdir(tmp_path / "dir") if p.startswith(".dm-download")]
    with pytest.raises(ValueError):
        files.api.resources.download_multiple_resources(ids, [str(tmp_path / "only-one")])


def test_frames_are_rendered_like_the_imaging_library(files):
    frame = files.api.resources.download_resource_frame
    ct = frame(files.ids["ct"], 0)
    assert ct.size == (128, 128)
    assert np.array_equal(np.asarray(ct), load_frame(files.paths["ct"], "application/dicom", 0))
    synthetic = np.asarray(frame(files.ids["synthetic"], 0))
    assert abs(int(synthetic[0, 0]) - 102) <= 1  # HU 0 in a W400/C40 window
    assert frame(files.api.resources.get_by_id(files.ids["dose"]), 14).size == (10, 10)
    assert frame(files.ids["nifti"], 23).size == (128, 96)
    assert abs(float(np.asarray(frame(files.ids["video"], 2).convert("L")).mean()) - 60) < 6
    assert frame(files.ids["png"], 0).size == (24, 16)
    with pytest.raises(ValidationError, match="out of range"):
        frame(files.ids["dose"], 15)


def test_resource_cache_follows_the_version(files):
    resource = files.resource("ct")
    resource.invalidate_cache()
    assert not resource.is_cached() and resource.filepath_cached is None
    assert isinstance(resource.fetch_file_data(use_cache="loadonly"), pydicom.Dataset)
    assert not resource.is_cached()
    raw = resource.fetch_file_data(auto_convert=False, use_cache=True)
    assert resource.is_cached() and resource.filepath_cached.suffix == ".dcm"
    assert resource.filepath_cached.read_bytes() == raw
    stale = files.resource("ct")
    stale.size = (stale.size or 0) + 1  # the server's version changed: the cached file is not served
    assert not stale.is_cached()
    resource.invalidate_cache()
    assert not resource.is_cached()


def test_cache_resources_and_project_helpers(files):
    project = files.api.projects.create(unique("cache"), "d", resources_ids=[files.ids["png"], files.ids["ct"]])
    resources = project.fetch_resources()
    for r in resources:
        r.invalidate_cache()
    files.api.resources.cache_resources(resources, progress_bar=False)
    assert all(r.is_cached() for r in resources)
    stamps = [r.filepath_cached.stat().st_mtime_ns for r in resources]
    project.cache_resources(progress_bar=False)
    assert [r.filepath_cached.stat().st_mtime_ns for r in resources] == stamps
    datas = project.download_resources_datas(progress_bar=False)
    assert {type(d).__name__ for d in datas} == {"PngImageFile", "FileDataset"}


def test_video_and_volume_entities(files):
    video = files.resource("video")
    assert abs(float(video.get_frame(3).mean()) - 90) < 6
    assert len(list(video.iter_frames())) == 6
    with pytest.raises(IndexError):
        video.get_frame(6)
    dose = files.resource("dose")
    assert dose.get_depth() == 15 and dose.is_volume() and dose.is_multiframe()
    assert dose.get_slice("axial", 3).shape == (10, 10)
    assert dose.get_slice("sagittal", 0).shape == (15, 10)
    assert len(list(dose.iter_slices("coronal"))) == 10
    nifti = files.resource("nifti")
    assert nifti.get_slice("axial", 0).shape == (96, 128) and nifti.is_compressed
    assert files.resource("png").get_depth() == 1 and files.resource("png").url.endswith(files.ids["png"])

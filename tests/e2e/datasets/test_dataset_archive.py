"""Archive downloads (wire §4.6 token flow): every format's content is exact, the manifest holds
the hashes, tokens are single-use, expire, and belong to one organization."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import nibabel
import numpy as np
import pydicom
import pytest
from PIL import Image

from datamint import Api
from datamint.exceptions import ItemNotFoundError, ValidationError
from fixtures.projects import COLS, FRAMES, ROWS, build_sample, expected_ct_png

from conftest import unique


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    api = Api(server.url, server.admin_key)
    built = build_sample(api, tmp_path_factory.mktemp("archive"))
    api.datasets.create_version(built.dataset_id, "frozen")
    yield built
    api.close()


def _archive(api, sample, fmt, tmp_path, version="frozen"):
    path = api.datasets.download(sample.dataset_id, tmp_path / f"{fmt}.zip", format=fmt, version=version,
                                 progress_bar=False)
    archive = zipfile.ZipFile(path)
    assert archive.testzip() is None
    return archive, json.loads(archive.read("manifest.json"))


def test_dicom_format_holds_the_originals_and_a_manifest_with_hashes(api, sample, tmp_path):
    archive, manifest = _archive(api, sample, "dicom", tmp_path)
    assert manifest["format"] == "dicom" and manifest["version"]["name"] == "frozen"
    assert {r["id"] for r in manifest["resources"]} == {sample.ct, sample.nifti, sample.png1, sample.png2}
    for resource in manifest["resources"]:
        (path,) = resource["archive_paths"]
        data = archive.read(path)
        assert hashlib.sha256(data).hexdigest() == resource["sha256"] and len(data) == resource["size"]
        assert data == api.resources.download_resource_file(resource["id"], auto_convert=False)
    masks = [a for a in manifest["annotations"] if a["mask"]]
    assert len(masks) == sum(len(v) for v in sample.annotation_ids.values())
    for annotation in masks:
        data = archive.read(annotation["mask"]["archive_path"])
        assert hashlib.sha256(data).hexdigest() == annotation["mask"]["sha256"]
    schema = manifest["label_schema"]["worklists"][0]
    assert schema["segmentation_group"]["lesion"]["index"] == 3
    assert {a["type"] for a in manifest["annotations"]} >= {"segmentation", "square", "label", "category"}


def test_nifti_format_converts_the_ct_with_its_geometry(api, sample, tmp_path):
    archive, manifest = _archive(api, sample, "nifti", tmp_path)
    ct = next(r for r in manifest["resources"] if r["id"] == sample.ct)
    (path,) = ct["archive_paths"]
    assert path.endswith(".nii.gz")
    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(archive.read(path)))
    original = pydicom.dcmread(io.BytesIO(api.resources.download_resource_file(sample.ct, auto_convert=False)))
    frames = original.pixel_array  # (frames, rows, cols)
    assert image.shape == (COLS, ROWS, FRAMES)
    assert np.array_equal(image.dataobj.get_unscaled().transpose(2, 1, 0), frames)  # stored values kept
    assert np.array_equal(np.asanyarray(image.dataobj).transpose(2, 1, 0), frames - 1024.0)  # + Rescale → HU
    # voxel (x=col, y=row, z=frame) → RAS = (-X, -Y, Z) of the DICOM patient position (LPS)
    from fixtures.projects import ct_pixel_to_patient

    x, y, k = 7, 4, 3
    lps = ct_pixel_to_patient(x, y, k)
    assert np.allclose(image.affine @ [x, y, k, 1], [-lps[0], -lps[1], lps[2], 1])
    nifti = next(r for r in manifest["resources"] if r["id"] == sample.nifti)
    assert archive.read(nifti["archive_paths"][0]) == api.resources.download_resource_file(sample.nifti,
                                                                                          auto_convert=False)


def test_png_and_npy_formats(api, sample, tmp_path):
    archive, manifest = _archive(api, sample, "png", tmp_path)
    ct = next(r for r in manifest["resources"] if r["id"] == sample.ct)
    assert len(ct["archive_paths"]) == FRAMES
    for k, path in enumerate(ct["archive_paths"]):  # each frame windowed as the standard says
        frame = np.asarray(Image.open(io.BytesIO(archive.read(path))))
        assert frame.shape == (ROWS, COLS) and frame.dtype == np.uint8
        assert np.array_equal(frame, expected_ct_png(k))
        assert np.array_equal(frame, np.asarray(api.resources.download_resource_frame(sample.ct, k)))
    assert len({int(v) for k in range(FRAMES) for v in np.unique(expected_ct_png(k))}) > 200  # not a flat image
    archive, manifest = _archive(api, sample, "npy", tmp_path)
    ct = next(r for r in manifest["resources"] if r["id"] == sample.ct)
    array = np.load(io.BytesIO(archive.read(ct["archive_paths"][0])))
    original = pydicom.dcmread(io.BytesIO(api.resources.download_resource_file(sample.ct, auto_convert=False)))
    assert np.array_equal(array, original.pixel_array)
    png = next(r for r in manifest["resources"] if r["id"] == sample.png1)
    expected = np.asarray(Image.open(io.BytesIO(api.resources.download_resource_file(sample.png1,
                                                                                    auto_convert=False))))
    assert np.array_equal(np.load(io.BytesIO(archive.read(png["archive_paths"][0]))), expected)


def test_jpg_and_tiff_formats_render_the_frames_as_png_does(api, sample, tmp_path):
    for fmt, pil_format, exact in (("jpg", "JPEG", False), ("tiff", "TIFF", True)):
        archive, manifest = _archive(api, sample, fmt, tmp_path)
        assert manifest["format"] == fmt
        ct = next(r for r in manifest["resources"] if r["id"] == sample.ct)
        assert [p.rsplit(".", 1)[1] for p in ct["archive_paths"]] == [fmt] * FRAMES
        for k, path in enumerate(ct["archive_paths"]):
            image = Image.open(io.BytesIO(archive.read(path)))
            assert image.format == pil_format and image.size == (COLS, ROWS)
            difference = np.abs(np.asarray(image).astype(int) - expected_ct_png(k).astype(int))
            assert difference.max() == 0 if exact else difference.mean() < 2  # JPEG is lossy, quality 95
        png = next(r for r in manifest["resources"] if r["id"] == sample.png1)
        (path,) = png["archive_paths"]
        original = np.asarray(Image.open(io.BytesIO(api.resources.download_resource_file(sample.png1,
                                                                                          auto_convert=False))))
        converted = np.asarray(Image.open(io.BytesIO(archive.read(path))))
        assert path.endswith(f".{fmt}") and converted.shape == original.shape


def test_live_download_without_a_version(api, sample, tmp_path):
    archive, manifest = _archive(api, sample, "dicom", tmp_path, version=None)
    assert manifest["version"] is None and len(manifest["resources"]) == 4


def _token(api, sample, fmt="dicom", version="frozen"):
    return api.datasets._request("GET", f"/datasets/{sample.dataset_id}/download/{fmt}",
                                 params={"version": version}).json()


def test_tokens_are_single_use_expire_and_stay_in_their_organization(server, api, sample):
    token = _token(api, sample)
    assert isinstance(token, str) and len(token) >= 32
    other = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError):
        other.datasets._request("GET", f"/datasets/download/{token}")
    response = api.datasets._request("GET", f"/datasets/download/{token}")
    assert response.headers["content-type"] == "application/zip" and response.content[:2] == b"PK"
    again = api.datasets._request("GET", f"/datasets/download/{token}", raise_errors=False)
    assert again.status_code == 410 and "already used" in again.json()["message"]

    expired = _token(api, sample)
    from datamint.server.datasets.download import _hash
    from datamint.server.datasets.models import DownloadToken
    from datamint.server.db.base import utcnow

    with server.database.transaction() as session:
        session.get(DownloadToken, _hash(expired)).expires_at = utcnow() - timedelta(seconds=1)
    gone = api.datasets._request("GET", f"/datasets/download/{expired}", raise_errors=False)
    assert gone.status_code == 410 and "expired" in gone.json()["message"]
    with pytest.raises(ItemNotFoundError):
        api.datasets._request("GET", "/datasets/download/no-such-token")


def test_bad_formats_and_versions(api, sample):
    for fmt in ("zip", "gif"):
        with pytest.raises(ValidationError, match="format"):
            _token(api, sample, fmt=fmt)
    with pytest.raises(ItemNotFoundError):
        _token(api, sample, version="no-such-version")
    with pytest.raises(ItemNotFoundError):
        api.datasets.download_version_file(sample.dataset_id, "frozen", "0" * 64, "/tmp/never")
    with pytest.raises(ValidationError):
        api.datasets.download_version_file(sample.dataset_id, "frozen", "not-a-hash", "/tmp/never")


def test_one_version_file_by_hash(api, sample, tmp_path):
    manifest = api.datasets.get_manifest(sample.dataset_id, "frozen")
    png = next(r for r in manifest["resources"] if r["id"] == sample.png1)
    path = api.datasets.download_version_file(sample.dataset_id, "frozen", png["sha256"], tmp_path / "f" / "x.png")
    assert path.read_bytes() == api.resources.download_resource_file(sample.png1, auto_convert=False)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # the partial file was renamed


def test_concurrent_downloads_of_one_file_into_one_cache_all_succeed(server, api, tmp_path):
    """Several clients filling the same dataset folder at once (DataLoader workers, one process per
    GPU) download the same file: each writes its own partial file, so none fails on the other's
    rename or reads bytes the other is truncating, and the folder ends with the file alone."""
    big = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(7).random((1200, 1200, 3)) * 255).astype(np.uint8)).save(big)
    resource = api.resources.upload_resource(str(big))
    project = api.projects.create(unique("concurrent-dl"), "concurrent downloads", resources_ids=[resource])
    version = api.datasets.create_version(project.dataset_id, progress_bar=False)
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    target = tmp_path / "cache" / "blobs" / sha[:2] / f"{sha}.png"
    clients = [Api(server.url, server.admin_key) for _ in range(6)]
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            outcomes = list(pool.map(lambda c: _outcome(lambda: c.datasets.download_version_file(
                project.dataset_id, version.number, sha, target)), clients))
    finally:
        for client in clients:
            client.close()
    assert outcomes == [str(target)] * len(clients)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def _outcome(call):
    try:
        return str(call())
    except Exception as exc:  # noqa: BLE001 - the test compares what each client got
        return f"{type(exc).__name__}: {exc}"

"""``/resources/{id}/slices``: the viewer's slice geometry and raw slice values over HTTP."""

from __future__ import annotations

import httpx
import numpy as np

from fixtures.files import to_bytes


def _upload_series(api, slices, folder) -> str:  # type: ignore[no-untyped-def]
    """Upload the data sets as files; the id of the one (assembled) resource they become."""
    paths = []
    for i, ds in enumerate(slices):
        path = folder / f"s{i}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(str(path))
    return api.resources.upload_resources(paths, anonymize=False)[0]


def test_a_ct_series_is_served_slice_by_slice_in_hounsfield_units(server, api, ct_series, tmp_path):
    rid = _upload_series(api, ct_series(6, size=16), tmp_path)
    headers = {"apikey": server.admin_key}
    info = httpx.get(f"{server.url}/resources/{rid}/slices", headers=headers).json()
    axial = info["planes"]["axial"]
    assert (info["kind"], info["modality"], info["window"]) == ("dicom", "CT", {"center": 40.0, "width": 400.0})
    assert (axial["count"], axial["rows"], axial["columns"], axial["spacing"]) == (6, 16, 16, [0.5, 0.75])
    assert [o[2] for o in axial["origins"]] == [k * 1.25 for k in range(6)]

    answer = httpx.get(f"{server.url}/resources/{rid}/slices/axial/4", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/octet-stream"
    assert (answer.headers["x-slice-rows"], answer.headers["x-slice-columns"], answer.headers["x-slice-samples"],
            answer.headers["x-slice-dtype"]) == ("16", "16", "1", "int16")
    values = np.frombuffer(answer.content, dtype="<i2").reshape(16, 16)
    assert np.array_equal(values, (np.arange(256).reshape(16, 16) % 97) + 400 - 1024)

    out = httpx.get(f"{server.url}/resources/{rid}/slices/axial/6", headers=headers)
    assert out.status_code == 422 and "valid indexes are 0..5" in out.json()["message"]
    plane = httpx.get(f"{server.url}/resources/{rid}/slices/oblique/0", headers=headers)
    assert plane.status_code == 422 and "axial" in plane.json()["message"]
    other_org = httpx.get(f"{server.url}/resources/{rid}/slices/axial/0", headers={"apikey": server.new_org()})
    assert other_org.status_code == 404


def test_slice_reads_are_audited(server, api, tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.fromarray(np.full((5, 7), 77, dtype=np.uint8)).save(path)
    rid = api.resources.upload_resource(str(path))
    answer = httpx.get(f"{server.url}/resources/{rid}/slices/axial/0", headers={"apikey": server.admin_key})
    assert answer.headers["x-slice-dtype"] == "uint8" and answer.content == bytes([77]) * 35
    events = api.audit.get_list(entity_type="resource", entity_id=rid, action="slice_values")
    assert len(events) == 1 and events[0]["status"] == 200


def _hu_volume(count: int, size: int) -> np.ndarray:
    """The HU values ``(frames, rows, columns)`` of ``ct_series``: ``100 k + (pixel % 97) - 1024``."""
    pattern = np.arange(size * size).reshape(size, size) % 97
    return np.stack([pattern + 100 * k - 1024 for k in range(count)]).astype(np.int16)


def _slice(url: str, headers: dict[str, str], rid: str, plane: str, index: int) -> np.ndarray:
    answer = httpx.get(f"{url}/resources/{rid}/slices/{plane}/{index}", headers=headers)
    assert answer.status_code == 200, answer.text
    dtype = {"int16": "<i2", "float32": "<f4", "uint8": "u1"}[answer.headers["x-slice-dtype"]]
    return np.frombuffer(answer.content, dtype=dtype).reshape(int(answer.headers["x-slice-rows"]),
                                                               int(answer.headers["x-slice-columns"]))


def test_a_ct_series_is_resliced_into_sagittal_and_coronal_planes(server, api, ct_series, tmp_path):
    rid = _upload_series(api, ct_series(6, size=16), tmp_path)
    headers = {"apikey": server.admin_key}
    planes = httpx.get(f"{server.url}/resources/{rid}/slices", headers=headers).json()["planes"]
    sagittal, coronal = planes["sagittal"], planes["coronal"]
    # sagittal slice i: x = row j (0.5 mm apart), y = frame k (1.25 mm apart); origins step along the rows
    assert (sagittal["count"], sagittal["rows"], sagittal["columns"]) == (16, 6, 16)
    assert (sagittal["row_cosines"], sagittal["column_cosines"], sagittal["spacing"]) == (
        [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.25, 0.5])
    assert sagittal["origins"][3] == [-16 + 3 * 0.75, -16.0, 0.0]
    assert (coronal["count"], coronal["rows"], coronal["columns"]) == (16, 6, 16)
    assert (coronal["row_cosines"], coronal["column_cosines"], coronal["spacing"]) == (
        [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.25, 0.75])
    assert coronal["origins"][5] == [-16.0, -16 + 5 * 0.5, 0.0]

    hu = _hu_volume(6, 16)
    assert np.array_equal(_slice(server.url, headers, rid, "sagittal", 3), hu[:, :, 3])
    assert np.array_equal(_slice(server.url, headers, rid, "coronal", 5), hu[:, 5, :])
    assert np.array_equal(_slice(server.url, headers, rid, "sagittal", 15), hu[:, :, 15])
    # the frames were decoded once, into the server's volume cache
    cached = [np.load(p) for p in (server.data_dir / "cache" / "volumes").glob("*.npy")]
    assert any(v.shape == hu.shape and np.array_equal(v, hu) for v in cached)

    out = httpx.get(f"{server.url}/resources/{rid}/slices/coronal/16", headers=headers)
    assert out.status_code == 422 and "valid indexes are 0..15" in out.json()["message"]
    other_org = httpx.get(f"{server.url}/resources/{rid}/slices/sagittal/0", headers={"apikey": server.new_org()})
    assert other_org.status_code == 404


def test_only_regular_greyscale_volumes_have_other_planes(server, api, ct_series, tmp_path):
    headers = {"apikey": server.admin_key}
    single = tmp_path / "one.dcm"
    single.write_bytes(to_bytes(ct_series(1, size=8)[0]))
    rid = api.resources.upload_resource(str(single), anonymize=False)
    assert list(httpx.get(f"{server.url}/resources/{rid}/slices", headers=headers).json()["planes"]) == ["axial"]
    answer = httpx.get(f"{server.url}/resources/{rid}/slices/sagittal/0", headers=headers)
    assert answer.status_code == 422 and "has no sagittal plane" in answer.json()["message"]

    uneven = []  # slices 0, 1.25, 2.5 and 5 mm: not evenly spaced, so not resliced
    for i, ds in enumerate(ct_series(4, size=8, shuffle=False)):
        ds.ImagePositionPatient = [-16.0, -16.0, [0.0, 1.25, 2.5, 5.0][i]]
        path = tmp_path / f"u{i}.dcm"
        path.write_bytes(to_bytes(ds))
        uneven.append(str(path))
    rid = api.resources.upload_resources(uneven, anonymize=False)[0]
    planes = httpx.get(f"{server.url}/resources/{rid}/slices", headers=headers).json()["planes"]
    assert list(planes) == ["axial"] and planes["axial"]["count"] == 4

    from PIL import Image

    png = tmp_path / "grey.png"
    Image.fromarray(np.full((4, 4), 9, dtype=np.uint8)).save(png)
    rid = api.resources.upload_resource(str(png))
    answer = httpx.get(f"{server.url}/resources/{rid}/slices/coronal/0", headers=headers)
    assert answer.status_code == 422 and "coronal" in answer.json()["message"]


def test_a_gzipped_nifti_is_decompressed_once_and_read_in_three_planes(server, api, tmp_path):
    import nibabel

    i, j, k = np.meshgrid(np.arange(5), np.arange(6), np.arange(4), indexing="ij")
    data = (100 * i + 10 * j + k).astype(np.int16)
    path = tmp_path / "vol.nii.gz"
    nibabel.save(nibabel.Nifti1Image(data, np.diag([0.8, 0.9, 2.0, 1.0])), str(path))
    rid = api.resources.upload_resource(str(path))
    headers = {"apikey": server.admin_key}
    planes = httpx.get(f"{server.url}/resources/{rid}/slices", headers=headers).json()["planes"]
    assert {p: planes[p]["count"] for p in planes} == {"axial": 4, "sagittal": 5, "coronal": 6}
    # axial slice k: x = i, y = j; sagittal slice i: x = j, y = k; coronal slice j: x = i, y = k
    assert np.array_equal(_slice(server.url, headers, rid, "axial", 2), data[:, :, 2].T)
    assert np.array_equal(_slice(server.url, headers, rid, "sagittal", 4), data[4, :, :].T)
    assert np.array_equal(_slice(server.url, headers, rid, "coronal", 1), data[:, 1, :].T)
    cached = [nibabel.load(p) for p in (server.data_dir / "cache" / "volumes").glob("*.nii")]
    assert any(img.shape == data.shape and np.array_equal(np.asarray(img.dataobj), data) for img in cached)

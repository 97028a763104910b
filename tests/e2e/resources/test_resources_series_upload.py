"""``POST /resources/series``: a folder of DICOM files becomes one resource per series, as the SDK's
``upload_resources`` makes it (the web app's folder upload)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom

from fixtures.files import to_bytes


def _parts(datasets, prefix: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("resources", (f"{prefix}{i}.dcm", to_bytes(ds), "application/dicom")) for i, ds in enumerate(datasets)]


def test_a_folder_becomes_one_anonymized_resource_per_series(server, api, ct_series):
    project = api.projects.create(f"Series upload {server.backend}", "")
    chest, other = ct_series(6, size=8), ct_series(3, size=8, seed=3)  # shuffled slices of two series
    answer = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.admin_key},
                        files=_parts(chest, "a") + _parts(other, "b"),
                        data={"project_id": project.id, "bypass_inbox": "true", "anonymize": "true",
                              "anonymize_key": "one-drop", "tags": "web"}, timeout=60)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert sorted(r["instances"] for r in created) == [3, 6]
    assert {r["status"] for r in created} == {"published"} and all(r["tags"] == ["web"] for r in created)
    six = next(r for r in created if r["instances"] == 6)
    file = httpx.get(f"{server.url}/resources/{six['id']}/file", headers={"apikey": server.admin_key})
    ds = pydicom.dcmread(io.BytesIO(file.content))
    assert int(ds.NumberOfFrames) == 6 and str(ds.PatientName) != "Doe^Jane", "assembled and de-identified"
    assert ds.StudyInstanceUID != chest[0].StudyInstanceUID
    frames = ds.pixel_array  # in slice order whatever the upload order: frame k holds 100 k + pixel
    assert [int(frames[k][0, 0]) for k in range(6)] == [100 * k for k in range(6)]
    assert {r.id for r in api.resources.get_list(project_name=project.name)} == {r["id"] for r in created}


def test_a_file_that_is_not_dicom_stores_nothing(server, api, ct_series):
    project = api.projects.create(f"Series refused {server.backend}", "")
    files = _parts(ct_series(2, size=8), "s") + [("resources", ("notes.txt", b"not an image", "text/plain"))]
    answer = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.admin_key}, files=files,
                        data={"project_id": project.id}, timeout=60)
    assert answer.status_code == 422 and "notes.txt is not a DICOM file" in answer.json()["message"]
    assert list(api.resources.get_list(project_name=project.name)) == []
    empty = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.admin_key},
                       files={"other": ("a.dcm", b"x")}, timeout=60)
    assert empty.status_code == 422 and "'resources'" in empty.json()["message"]


def test_another_organizations_project_is_not_found(server, api, ct_series):
    project = api.projects.create(f"Series private {server.backend}", "")
    answer = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.new_org()},
                        files=_parts(ct_series(2, size=8), "x"), data={"project_id": project.id}, timeout=60)
    assert answer.status_code == 404
    assert list(api.resources.get_list(project_name=project.name)) == []


def test_frames_values_survive_assembly(server, ct_series):
    series = ct_series(4, size=8, shuffle=False)
    answer = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.admin_key},
                        files=_parts(series, "v"), timeout=60)
    (created,) = answer.json()
    values = httpx.get(f"{server.url}/resources/{created['id']}/slices/axial/3", headers={"apikey": server.admin_key})
    hu = np.frombuffer(values.content, dtype="<i2").reshape(8, 8)
    assert np.array_equal(hu, (np.arange(64).reshape(8, 8) % 97) + 300 - 1024)


def test_a_folder_past_the_memory_budget_is_assembled_whole(server, ct_series, monkeypatch):
    """The request's memory budget (receive.MEMORY_BUDGET, made small here: the server runs in this
    process) spools the later small files; the series is assembled from both kinds, in slice order."""
    from datamint.server.resources import receive

    series = ct_series(9, size=40)  # ~3.5 kB per file: three fit the budget, six are spooled
    sizes = [len(to_bytes(ds)) for ds in series]
    monkeypatch.setattr(receive, "MEMORY_BUDGET", sum(sorted(sizes)[:3]))
    answer = httpx.post(f"{server.url}/resources/series", headers={"apikey": server.admin_key},
                        files=_parts(series, "m"), timeout=60)
    assert answer.status_code == 201, answer.text
    (created,) = answer.json()
    assert created["instances"] == 9
    file = httpx.get(f"{server.url}/resources/{created['id']}/file", headers={"apikey": server.admin_key})
    ds = pydicom.dcmread(io.BytesIO(file.content))
    assert int(ds.NumberOfFrames) == 9
    frames = ds.pixel_array
    assert [int(frames[k][0, 0]) for k in range(9)] == [100 * k for k in range(9)]
    pattern = np.arange(40 * 40).reshape(40, 40) % 97
    assert all(np.array_equal(frames[k], pattern + 100 * k) for k in range(9))

"""``/resources/{id}/slices``: the viewer's slice geometry and raw slice values over HTTP."""

from __future__ import annotations

import httpx
import numpy as np

from imaging_data import to_bytes


def test_a_ct_series_is_served_slice_by_slice_in_hounsfield_units(server, api, ct_series, tmp_path):
    paths = []
    for i, ds in enumerate(ct_series(6, size=16)):
        path = tmp_path / f"s{i}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(str(path))
    rid = api.resources.upload_resources(paths, anonymize=False)[0]
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
    sagittal = httpx.get(f"{server.url}/resources/{rid}/slices/sagittal/0", headers=headers)
    assert sagittal.status_code == 422 and "only NIfTI" in sagittal.json()["message"]
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

"""The memory proof of issue 9 §2: a real ``datamint server run`` (default limits) receives the bombs
and the large-but-legitimate files the issue measured, renders and slices the latter, and its peak
resident memory (VmHWM) stays within the bound ``docs/security.md`` documents for one request that
decodes pixels: 8 bytes per pixel of ``max_frame_pixels`` plus 64 MiB (320 MiB with the defaults).

Before the limits, the deflated 8192² DICOM cost +2.4 GiB and the gzip NIfTI of 512³ +2.3 GiB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bombs import YAML_ALIAS_BOMB, deflated_dicom, native_dicom, nifti, png_bomb, rle_dicom
from datamint.imaging.limits import DecodeLimits

from conftest import BACKENDS, fresh_pg_database
from process_server import ProcessServer, process_server

MIB = 1024 * 1024
DEFAULTS = DecodeLimits()
#: The documented bound on the extra memory of one request that decodes pixels (docs/security.md).
BOUND_MIB = 8 * DEFAULTS.max_frame_pixels / MIB + 64


@pytest.fixture(params=BACKENDS)
def server_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessServer]:
    if request.param == "postgresql":
        with fresh_pg_database() as url, process_server(tmp_path / "data", url) as proc:
            yield proc
    else:
        with process_server(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'datamint.sqlite3'}") as proc:
            yield proc


def ok(answer: httpx.Response, status: int = 200) -> httpx.Response:
    assert answer.status_code == status, answer.text
    return answer


@pytest.mark.timeout(300)
def test_peak_memory_stays_within_the_documented_bound(server_process: ProcessServer) -> None:
    client = httpx.Client(base_url=server_process.url, headers={"apikey": server_process.admin_key}, timeout=120)
    with client:
        # Warm-up: every decoder loaded once, on small files, so the baseline includes the libraries.
        small = {"s.dcm": (native_dicom(64, 64), "application/dicom"),
                 "s.nii.gz": (nifti((32, 32, 8), np.int16), "application/nifti"),
                 "s.png": (png_bomb(64, 64), "image/png")}
        for name, (data, mimetype) in small.items():
            rid = ok(client.post("/resources", files={"resource": (name, data, mimetype)}), 201).json()["id"]
            ok(client.get(f"/resources/{rid}/frames/0"))
            ok(client.get(f"/resources/{rid}/slices"))
            ok(client.get(f"/resources/{rid}/slices/axial/0"))
        wid = ok(client.post("/annotationsets", json={"name": "mem", "resource_ids": [rid]}), 201).json()["id"]
        ok(client.post(f"/annotationsets/{wid}/segmentation-group/upload",
                       files={"file": ("l.yaml", b"segmentation_names: [liver]")}))
        baseline = server_process.peak_rss_mib()

        refusals = [("deflated.dcm", deflated_dicom(8192, 8192), "application/dicom"),
                    ("big.png", png_bomb(30000, 30000), "image/png"),
                    ("huge.nii.gz", nifti((4096, 4096, 4096), truncate_at=1 << 16), "application/nifti")]
        for name, data, mimetype in refusals:
            ok(client.post("/resources", files={"resource": (name, data, mimetype)}), 413)
        answer = client.post(f"/annotationsets/{wid}/segmentation-group/upload",
                             files={"file": ("bomb.yaml", YAML_ALIAS_BOMB)})
        assert answer.status_code == 422 and "aliases" in answer.json()["message"]

        volume = ok(client.post("/resources", files={"resource": ("v.nii.gz", nifti((512, 512, 512)),
                                                                  "application/nifti")}), 201).json()["id"]
        ok(client.get(f"/resources/{volume}/frames/256"))
        ok(client.get(f"/resources/{volume}/slices"))
        ok(client.get(f"/resources/{volume}/slices/sagittal/100"))
        mask = client.post(f"/annotations/{volume}/segmentations/file",
                           files={"file": ("m.nii.gz", nifti((32767, 32767, 64), truncate_at=1 << 16))},
                           data={"segmentation_map": json.dumps({"1": "liver"})})
        assert mask.status_code == 413, mask.text

        rle = ok(client.post("/resources", files={"resource": ("r.dcm", rle_dicom(4096, 4096), "application/dicom")}),
                 201).json()["id"]
        ok(client.get(f"/resources/{rle}/frames/0"))
        ok(client.get(f"/resources/{rle}/slices/axial/0"))
        peak = server_process.peak_rss_mib()
    assert peak - baseline < BOUND_MIB, (baseline, peak)

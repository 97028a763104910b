"""How much server memory does each decompression / dimension bomb of issue 9 §2 cost?

For each scenario: start a fresh ``datamint server run`` (SQLite, default limits) in a subprocess,
warm it up on small files, then send the scenario's requests and print the growth of the process's
peak resident memory (VmHWM) and the answers' status codes, one line per scenario.

Point ``--src`` at another checkout's ``src`` (e.g. before the limits) to compare.

Usage:
    PYTHONPATH=src python benchmarks/decode_bombs.py [--src src] [--only nifti-512,deflated-8192]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bombs import YAML_ALIAS_BOMB, deflated_dicom, native_dicom, nifti, png_bomb, rle_dicom  # noqa: E402

from process_server import process_server  # noqa: E402

Step = Callable[[httpx.Client, dict], list[int]]


def upload(client: httpx.Client, name: str, data: bytes, mimetype: str) -> httpx.Response:
    return client.post("/resources", files={"resource": (name, data, mimetype)})


def upload_and_view(name: str, data: Callable[[], bytes], mimetype: str, views: list[str]) -> Step:
    def step(client: httpx.Client, state: dict) -> list[int]:
        answer = upload(client, name, data(), mimetype)
        codes = [answer.status_code]
        if answer.status_code in (200, 201):
            rid = answer.json()["id"]
            codes += [client.get(f"/resources/{rid}{view}").status_code for view in views]
        return codes
    return step


def yaml_bomb(client: httpx.Client, state: dict) -> list[int]:
    answer = client.post(f"/annotationsets/{state['worklist']}/segmentation-group/upload",
                         files={"file": ("bomb.yaml", YAML_ALIAS_BOMB)})
    codes = [answer.status_code]
    codes.append(client.get(f"/annotationsets/{state['worklist']}/segmentation-group").status_code)
    return codes


def mask_bomb(client: httpx.Client, state: dict) -> list[int]:
    answer = client.post(f"/annotations/{state['volume']}/segmentations/file",
                         files={"file": ("m.nii.gz", nifti((32767, 32767, 64), truncate_at=1 << 16))},
                         data={"segmentation_map": json.dumps({"1": "liver"})})
    return [answer.status_code]


SCENARIOS: dict[str, Step] = {
    "deflated-8192": upload_and_view("d.dcm", lambda: deflated_dicom(8192, 8192), "application/dicom",
                                     ["/frames/0", "/slices/axial/0"]),
    "nifti-512": upload_and_view("v.nii.gz", lambda: nifti((512, 512, 512)), "application/nifti",
                                 ["/frames/256", "/slices", "/slices/sagittal/100"]),
    "rle-4096": upload_and_view("r.dcm", lambda: rle_dicom(4096, 4096), "application/dicom",
                                ["/frames/0", "/slices/axial/0"]),
    "png-30000": upload_and_view("p.png", lambda: png_bomb(30000, 30000), "image/png", ["/frames/0"]),
    "yaml-aliases": yaml_bomb,
    "nifti-mask-dims": mask_bomb,
}


def run(name: str, step: Step, src: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        env = {"PYTHONPATH": os.pathsep.join([src, str(HERE.parent / "tests")])}
        data = Path(folder) / "data"
        with process_server(data, f"sqlite:///{data / 'datamint.sqlite3'}", env=env) as server:
            client = httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=600)
            with client:
                state: dict = {}
                rid = upload(client, "s.dcm", native_dicom(64, 64), "application/dicom").json()["id"]
                client.get(f"/resources/{rid}/frames/0")
                state["volume"] = upload(client, "s.nii.gz", nifti((32, 32, 8), np.int16),
                                         "application/nifti").json()["id"]
                client.get(f"/resources/{state['volume']}/frames/0")
                client.get(f"/resources/{state['volume']}/slices/sagittal/0")
                state["worklist"] = client.post("/annotationsets", json={"name": "b", "resource_ids": [rid]}
                                                ).json()["id"]
                baseline = server.peak_rss_mib()
                started = time.perf_counter()
                codes = step(client, state)
                seconds = time.perf_counter() - started
                peak = server.peak_rss_mib()
    return (f"{name}: answers {','.join(map(str, codes))}  peak RSS {baseline:.0f} -> {peak:.0f} MiB "
            f"(+{peak - baseline:.0f} MiB)  {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(HERE.parent / "src"), help="the datamint sources the server runs")
    parser.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    for name in names:
        print(run(name, SCENARIOS[name], os.path.abspath(args.src)), flush=True)


if __name__ == "__main__":
    main()

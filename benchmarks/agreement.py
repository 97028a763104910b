"""How long does the agreement report of a multi-reader worklist take: 3 readers × 200 volumes of 128³?

Starts a real server (``datamint server run`` in a subprocess), uploads N synthetic NIfTI volumes
(128³ voxels, 0.8 × 0.8 × 1.5 mm) into a project, creates a worklist with ``readers_per_item=3``,
and has three readers each upload one mask per volume through the SDK (a sphere of radius 18-30
voxels; each reader's sphere moved by a few voxels), then mark the volume ``annotated``. Then it
times ``GET /annotationsets/{id}/agreement`` (Dice, IoU, HD95, Hausdorff and mean surface distance
for every pair of readers on every volume) and prints one line.

Usage:
    PYTHONPATH=src python benchmarks/agreement.py [--volumes 200] [--size 128]
        [--database-url postgresql+psycopg://root@127.0.0.1:5432/<db>]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nibabel
import numpy as np
from annotations import running_server  # noqa: E402 - the benchmarks' shared server launcher

SPACING = (0.8, 0.8, 1.5)


def _sphere(size: int, center: tuple[float, float, float], radius: float) -> np.ndarray:
    x, y, z = np.ogrid[:size, :size, :size]
    return ((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2 <= radius ** 2).astype(np.uint8)


def _reader(url: str, admin_key: str, project_id: str) -> tuple[str, str]:
    """A new user with an API key, annotator of the project: (email, key)."""
    email = f"reader-{uuid.uuid4().hex[:8]}@bench.test"
    with httpx.Client(base_url=url, headers={"apikey": admin_key}, timeout=60) as admin:
        user = admin.post("/users", json={"email": email}).raise_for_status().json()
        key = admin.post(f"/users/{email}/api-keys", json={"name": "bench"}).raise_for_status().json()
        admin.post(f"/projects/{project_id}/members/{user['id']}",
                   json={"roles": ["PROJECT_ANNOTATOR"]}).raise_for_status()
    return email, key["key"]


def run(volumes: int, size: int, database_url: str | None) -> None:
    from datamint import Api

    rng = np.random.default_rng(16)
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", database_url) as (url, key):
        folder = Path(tmp) / "ct"
        folder.mkdir()
        paths = []
        for i in range(volumes):
            volume = np.zeros((size, size, size), np.uint8)
            volume[0, 0, 0] = i % 250 + 1
            volume[1, 0, 0] = i // 250
            path = folder / f"ct_{i:04d}.nii.gz"
            nibabel.Nifti1Image(volume, np.diag([*SPACING, 1.0])).to_filename(path)
            paths.append(str(path))
        api = Api(url, key)
        setup = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(api.resources.upload_resource, paths))
        project = api.projects.create(f"bench-{uuid.uuid4().hex[:6]}", "agreement benchmark", resources_ids=ids)
        readers = [_reader(url, key, project.id) for _ in range(3)]
        wid = api.annotationsets.create("3 readers", ids, project=project, readers_per_item=3,
                                        annotators=[email for email, _ in readers])
        plans = []
        for rid in ids:
            center = rng.uniform(size * 0.4, size * 0.6, 3)
            radius = float(rng.uniform(18, 30))
            for r in range(3):
                moved = tuple(center + rng.integers(-3, 4, 3))
                plans.append((r, rid, moved, radius))
        clients = [Api(url, reader_key) for _, reader_key in readers]

        def label(plan: tuple[int, str, tuple[float, float, float], float]) -> None:
            r, rid, moved, radius = plan
            clients[r].annotations.upload_volume_segmentation(rid, _sphere(size, moved, radius), {1: "lesion"},
                                                              worklist_id=wid)
            clients[r].annotationsets.update_annotation_status(wid, rid, "annotated")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(label, plans))
        setup = time.perf_counter() - setup
        with httpx.Client(base_url=url, headers={"apikey": key}, timeout=3600) as raw:
            started = time.perf_counter()
            report = raw.get(f"/annotationsets/{wid}/agreement").raise_for_status().json()
            elapsed = time.perf_counter() - started
        pairs = len(report["masks"])
        mean_dice = report["summary"]["by_label"][0]["mean_dice"]
        backend = "postgresql" if database_url else "sqlite"
        print(f"agreement[{backend}]: 3 readers x {report['items']} volumes of {size}^3, {pairs} mask pairs "
              f"(Dice/IoU/HD95/MSD): report in {elapsed:.1f} s ({report['items'] / elapsed:.1f} volumes/s, "
              f"mean Dice {mean_dice:.3f}); setup {setup:.0f} s", flush=True)


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=200, help="volumes to label (default 200)")
    parser.add_argument("--size", type=int, default=128, help="edge of each cubic volume in voxels (default 128)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    run(args.volumes, args.size, args.database_url)


if __name__ == "__main__":
    main()

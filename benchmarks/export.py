"""How long do COCO and NIfTI exports of 100,000 annotations take, and how much memory does the
server use while it writes them?

Starts a real server (``datamint server run`` in a subprocess, SQLite by default), uploads
``--resources`` small NIfTI volumes into one project and gives each ``--per-resource`` boxes
(bulk create) and ``--per-resource`` volume masks (one labelled volume split per label), then
runs the ``coco`` and ``nifti`` export jobs through the SDK, and samples the server process's
resident memory (``/proc``, with its children) every 20 ms while each job runs. Prints one line.

Usage:
    PYTHONPATH=src python benchmarks/export.py [--resources 1000] [--per-resource 100]
        [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotations import running_server  # noqa: E402 - the benchmarks' shared server launcher

SHAPE = (16, 16, 8)


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and its descendants, in kB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def _server_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (the ``datamint server run`` process)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                    inodes.add(parts[9])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(entry)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on port {port}")


def _measure(pid: int, work):  # type: ignore[no-untyped-def]
    """Run ``work()`` while sampling the server's memory; (result, seconds, before MB, peak MB)."""
    before = _rss_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_kb(pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    return result, elapsed, before / 1024, peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--per-resource", type=int, default=100, help="boxes and masks per resource (each)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    import nibabel

    from datamint import Api

    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", args.database_url) as (url, key):
        folder = Path(tmp) / "nifti"
        folder.mkdir()
        paths = []
        for i in range(args.resources):
            path = folder / f"vol_{i:05d}.nii.gz"
            nibabel.save(nibabel.Nifti1Image(np.full(SHAPE, i % 1000, np.int16), np.diag([0.8, 0.8, 2.0, 1])),
                         str(path))
            paths.append(str(path))
        api = Api(url, key)
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(api.resources.upload_resource, paths))
        project = api.projects.create(f"bench-export-{uuid.uuid4().hex[:6]}", "benchmark", resources_ids=ids)
        n = args.per_resource
        boxes = [{"type": "square", "identifier": f"box{i % 10}", "scope": "frame", "frame_index": i % SHAPE[2],
                  "geometry": {"points": [[1, 1, i % SHAPE[2]], [5, 1, i % SHAPE[2]], [1, 4, i % SHAPE[2]],
                                          [5, 4, i % SHAPE[2]]]}} for i in range(n)]
        labels = np.arange(SHAPE[0] * SHAPE[1] * SHAPE[2]).reshape(SHAPE) % n + 1  # every label present
        names = {v: f"structure{v:03d}" for v in range(1, n + 1)}

        def annotate(rid: str) -> int:
            created = len(api.annotations.create(rid, boxes))
            return created + len(api.annotations.upload_volume_segmentation(rid, labels.astype(np.uint8), names))

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            total = sum(pool.map(annotate, ids))
        seeded = time.perf_counter() - started
        pid = _server_pid(int(url.rsplit(":", 1)[1]))

        def export(fmt: str):  # type: ignore[no-untyped-def]
            job = api.projects.export(project, format=fmt, wait=True, progress_bar=False, timeout=3600)
            return job.result

        coco, coco_s, coco_before, coco_peak = _measure(pid, lambda: export("coco"))
        nifti, nifti_s, nifti_before, nifti_peak = _measure(pid, lambda: export("nifti"))
        backend = "postgresql" if args.database_url else "sqlite"
        print(f"export[{backend}]: {total} annotations on {len(ids)} resources (seeded in {seeded:.0f} s) | "
              f"coco {coco['annotations']} annotations {coco_s:.1f} s ({coco['annotations'] / coco_s:.0f}/s), "
              f"{coco['size'] / 1e6:.1f} MB zip, server RSS {coco_before:.0f} MB before, peak {coco_peak:.0f} MB | "
              f"nifti {nifti['annotations']} masks {nifti_s:.1f} s ({nifti['annotations'] / nifti_s:.0f}/s), "
              f"{nifti['size'] / 1e6:.1f} MB zip, server RSS {nifti_before:.0f} MB before, peak {nifti_peak:.0f} MB",
              flush=True)


if __name__ == "__main__":
    main()

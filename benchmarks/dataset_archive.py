"""Dataset archive download: does the server stream a multi-gigabyte zip with flat memory?

Uploads ``--files`` files of ``--mb`` MB (5 GB by default) into a project on a server started on its
embedded defaults (a subprocess), freezes a version, then downloads the version as a zip through
the token flow (``GET /datasets/{id}/download/dicom`` → ``GET /datasets/download/{token}``) while
sampling the server process's resident memory. The zip is checked afterwards (every member's
CRC, ZIP64 records).

usage: python benchmarks/dataset_archive.py [--files 50] [--mb 100]

Prints one line, e.g.::

    dataset archive: 50 files 5.0 GB | zip 5.0 GB in 42.0 s (125 MB/s) | server RSS 160 MB before, +9 MB peak ...
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import start_server  # noqa: E402 - the shared way to start a benchmark server


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler(threading.Thread):
    """Samples a process's RSS every 50 ms; ``peak`` is the largest value seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datamint-bench-") as tmp:
        root = Path(os.environ.get("DATAMINT_BENCH_DIR") or tmp)
        source = root / "blob.bin"
        block = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
        with open(source, "wb") as fh:
            for _ in range(args.mb):
                fh.write(block)
        key = f"dmk_bench_{uuid.uuid4().hex}"
        (root / "server").mkdir(parents=True, exist_ok=True)
        proc, url = start_server(root / "server", key)
        try:
            from datamint import Api

            api = Api(url, key, timeout=600)
            print(f"uploading {args.files} x {args.mb} MB ...", file=sys.stderr)
            ids = [api.resources.upload_resource(str(source), mimetype="application/octet-stream") for _ in
                   range(args.files)]
            project = api.projects.create(f"archive-{uuid.uuid4().hex[:6]}", "archive benchmark", resources_ids=ids)
            print("freezing a version (hashes every file) ...", file=sys.stderr)
            api.datasets.create_version(project.dataset_id, "big")
            token = api.datasets._request("GET", f"/datasets/{project.dataset_id}/download/dicom",
                                          params={"version": "big"}).json()
            before = rss_mb(proc.pid)
            sampler = Sampler(proc.pid)
            sampler.start()
            target = root / "archive.zip"
            print("downloading ...", file=sys.stderr)
            started = time.perf_counter()
            with httpx.stream("GET", f"{url}/datasets/download/{token}", headers={"apikey": key},
                              timeout=600) as response, open(target, "wb") as fh:
                response.raise_for_status()
                for chunk in response.iter_bytes(1 << 20):
                    fh.write(chunk)
            elapsed = time.perf_counter() - started
            sampler.running = False
            sampler.join()
            api.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        size = target.stat().st_size
        print("checking the zip ...", file=sys.stderr)
        with zipfile.ZipFile(target) as archive:
            bad = archive.testzip()
            members = len(archive.namelist())
        zip64 = size > 0xFFFFFFFF
    total = args.files * args.mb / 1000
    print(f"dataset archive: {args.files} files {total:.1f} GB | zip {size / 1e9:.1f} GB in {elapsed:.1f} s "
          f"({size / 1e6 / elapsed:.0f} MB/s) | server RSS {before:.0f} MB before, +{sampler.peak - before:.0f} MB "
          f"peak while streaming | zip {'valid' if bad is None else 'CORRUPT at ' + bad}, {members} members"
          f"{', ZIP64' if zip64 else ''}")


if __name__ == "__main__":
    main()

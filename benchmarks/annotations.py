"""Annotation throughput and latency at scale, on SQLite and on PostgreSQL.

For each backend: start a real server (``datamint server run`` in a subprocess), upload N tiny
PNG resources into one project, bulk-create M annotations per resource through the SDK (one
request per resource), then time ``api.annotations.get_list`` for one resource and for the whole
project, and the project's CSV export. Prints one line per measurement.

Usage:
    PYTHONPATH=src python benchmarks/annotations.py [--backends sqlite,postgresql]
        [--resources 1000] [--per-resource 100] [--pg-url postgresql+psycopg://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database  # noqa: E402 - the benchmarks' shared helpers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(data_dir: Path, database_url: str | None, key: str | None = None) -> Iterator[tuple[str, str]]:
    """``datamint server run`` in a subprocess; yields (url, admin key).

    Args:
        key: The first admin's API key (a database that already has its organization keeps its own keys).
    """
    port, key = _free_port(), key or f"dmk_bench_{uuid.uuid4().hex}"
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": key,
           "DATAMINT_SERVER_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}
    command = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port), "--data-dir",
               str(data_dir), "--no-write-sdk-config"]
    if database_url:
        command += ["--database-url", database_url]
    log = open(data_dir.parent / "server.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield url, key
    except BaseException:
        sys.stderr.write((data_dir.parent / "server.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _items(n: int) -> list[dict]:
    kinds = []
    for i in range(n):
        x, y = i % 20, (i * 7) % 14
        if i % 4 == 0:
            kinds.append({"type": "square", "identifier": "box", "scope": "image",
                          "geometry": {"points": [[x, y, 0], [x + 3, y, 0], [x, y + 2, 0], [x + 3, y + 2, 0]]}})
        elif i % 4 == 1:
            kinds.append({"type": "category", "identifier": "grade", "scope": "image", "value": f"g{i % 3}"})
        elif i % 4 == 2:
            kinds.append({"type": "point", "identifier": "dot", "scope": "image", "geometry": {"points": [[x, y, 0]]}})
        else:
            kinds.append({"type": "label", "identifier": "flag", "scope": "image"})
    return kinds


def run(backend: str, resources: int, per_resource: int, database_url: str | None) -> None:
    from datamint import Api

    label = f"annotations[{backend}]"
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", database_url) as (url, key):
        folder = Path(tmp) / "png"
        folder.mkdir()
        paths = []
        for i in range(resources):
            path = folder / f"img_{i:05d}.png"
            Image.fromarray(np.full((16, 24), i % 255, np.uint8)).save(path)
            paths.append(str(path))
        api = Api(url, key)
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(api.resources.upload_resource, paths))
        project = api.projects.create(f"bench-{uuid.uuid4().hex[:6]}", "benchmark", resources_ids=ids)
        items = [{**item, "annotation_worklist_id": project.worklist_id} for item in _items(per_resource)]

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            created = sum(len(ids_) for ids_ in pool.map(lambda rid: api.annotations.create(rid, items), ids))
        elapsed = time.perf_counter() - started
        assert created == len(ids) * per_resource, f"created {created}, expected {len(ids) * per_resource}"
        print(f"{label} bulk create: {created} annotations on {len(ids)} resources in {elapsed:.1f} s "
              f"({created / elapsed:.0f}/s, {per_resource} per request)", flush=True)

        target = ids[len(ids) // 2]
        for _ in range(3):
            api.annotations.get_list(resource=target)
        sdk_times: list[float] = []
        http_times: list[float] = []

        def timed_sdk() -> None:
            t0 = time.perf_counter()
            got = api.annotations.get_list(resource=target)
            sdk_times.append((time.perf_counter() - t0) * 1000)
            assert len(got) == per_resource, f"the SDK listed {len(got)} annotations, expected {per_resource}"

        def timed_raw() -> None:
            t0 = time.perf_counter()
            response = raw.post("/annotations/search", json={"resource_id": target, "offset": "0", "limit": "5000"})
            http_times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.text
            body = response.json()
            assert len(body["data"]) == body["totalCount"] == per_resource, (len(body["data"]), body["totalCount"])

        with httpx.Client(base_url=url, headers={"apikey": key}) as raw:
            for i in range(30):  # alternated order: neither side always runs on a warmer cache
                for timed in ((timed_sdk, timed_raw) if i % 2 == 0 else (timed_raw, timed_sdk)):
                    timed()
        got = api.annotations.get_list(resource=target)
        print(f"{label} get_list one resource: {len(got)} of {created} annotations, median "
              f"{statistics.median(sdk_times):.1f} ms via the SDK (p95 {sorted(sdk_times)[28]:.1f} ms), "
              f"search request alone median {statistics.median(http_times):.1f} ms", flush=True)

        t0 = time.perf_counter()
        everything = api.annotations.get_list(project_id=project.id)
        elapsed = time.perf_counter() - t0
        assert len(everything) == created, f"the project listing has {len(everything)} of {created} annotations"
        print(f"{label} get_list whole project: {len(everything)} annotations in {elapsed:.1f} s "
              f"({len(everything) / elapsed:.0f}/s)", flush=True)

        out = Path(tmp) / "export.csv"
        t0 = time.perf_counter()
        api.projects.download_annotations(project, out, progress_bar=False)
        elapsed = time.perf_counter() - t0
        rows = sum(1 for _ in out.open()) - 1
        assert rows == created, f"the CSV export has {rows} rows for {created} annotations"
        print(f"{label} CSV export: {rows} rows, {out.stat().st_size / 1e6:.1f} MB in {elapsed:.1f} s "
              f"({rows / elapsed:.0f} rows/s)", flush=True)
        api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--per-resource", type=int, default=100)
    parser.add_argument("--pg-url", default=os.environ.get("DATAMINT_TEST_PG_URL",
                                                           "postgresql+psycopg://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgresql":
            with fresh_database(args.pg_url) as url:
                run(backend, args.resources, args.per_resource, url)
        else:
            run(backend, args.resources, args.per_resource, None)


if __name__ == "__main__":
    main()

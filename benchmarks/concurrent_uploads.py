"""Concurrent single-file uploads into one organization, A/B: files/s of two (or more) source trees.

Every upload of an organization updates the same rows of ``resource_time_counts`` (migration
0021_listing_positions), so concurrent uploaders wait for each other's commits there. This starts
a fresh server per run from one source tree (put on ``PYTHONPATH``; ``--workers`` processes,
PostgreSQL through ``--pg-url``: a fresh database per run), warms it up, then lets ``--threads``
threads each send ``--files`` small PNGs one ``POST /resources`` at a time (the official client's
way), all into one organization, and times them. Trees alternate in a rotated order each round;
every answer must be 201.

usage: python benchmarks/concurrent_uploads.py SRC_A SRC_B [--rounds 2] [--threads 16] [--files 20]
                                              [--workers 2] [--pg-url postgresql+psycopg://root@127.0.0.1/test]

Prints one line per tree: best and every run's files/s.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one (server launcher)
from _common import create_database, drop_database  # noqa: E402 - the benchmarks' shared helpers


def png(n: int) -> bytes:
    """A small PNG whose pixels depend on ``n`` (no two uploads share content)."""
    pixels = ((np.arange(32 * 32).reshape(32, 32) + n) % 256).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def one_run(tree: str, run: int, args: argparse.Namespace) -> float:
    """Files/s of one fresh server run from ``tree``."""
    os.environ["PYTHONPATH"] = tree  # the server subprocess imports this tree's datamint
    with tempfile.TemporaryDirectory(prefix="datamint-bench-concurrent-") as tmp:
        database_url, name = create_database(args.pg_url, "bench") if args.pg_url else (None, None)
        key = f"dmk_bench_{uuid.uuid4().hex}"
        proc, url = ingest.start_server(Path(tmp) / "server", key, args.workers, database_url)
        try:
            ingest.settle(proc.pid)

            def send(thread: int) -> None:
                with httpx.Client(base_url=url, headers={"apikey": key}, timeout=120) as client:
                    for k in range(args.files):
                        content = png(run * 1_000_000 + thread * 1000 + k)
                        response = client.post("/resources", files={"resource": (f"f{thread}-{k}.png", content,
                                                                                 "image/png")})
                        assert response.status_code == 201, response.text

            with ThreadPoolExecutor(args.threads) as pool:  # warm-up: two threads' worth
                list(pool.map(send, range(10_000, 10_002)))
            started = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(send, range(args.threads)))
            return args.threads * args.files / (time.perf_counter() - started)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            if args.pg_url and name:
                drop_database(args.pg_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source folders (each holding the datamint package)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--files", type=int, default=20, help="uploads per thread")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {tree: [] for tree in args.trees}
    for r in range(args.rounds):
        shift = r % len(args.trees)
        for tree in args.trees[shift:] + args.trees[:shift]:
            rates[tree].append(one_run(tree, r, args))
            print(f"round {r + 1} {tree}: {rates[tree][-1]:.1f} files/s, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr)
    for tree, runs in rates.items():
        print(f"{tree}: best {max(runs):.1f} files/s (runs {' '.join(f'{v:.1f}' for v in runs)})")


if __name__ == "__main__":
    main()

"""What does holding invariants in the database cost when clients collide?

For each backend: start a real server (``datamint server run`` in a subprocess), upload
``--clients`` tiny PNG resources, then let ``--clients`` threads replace tags ``--rounds`` times
each, first all on the *same* resource (every request waits for the resource's row lock, or for
SQLite's single writer), then each on *its own* resource (no contention on a row). Best of
``--repeat`` runs. Every answer must be 2xx and the contended resource must end with exactly one
request's tags (checked; the script fails otherwise).

Usage:
    PYTHONPATH=src python benchmarks/contended_writes.py [--backends sqlite,postgresql]
        [--clients 16] [--rounds 20] [--repeat 3] [--pg-url postgresql+psycopg://root@127.0.0.1:5432/test]

Prints one line per backend, e.g.
``contended writes [sqlite]: 16 clients x 20 tag replaces | same resource 210.3 req/s | own resources 250.1 req/s``
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database  # noqa: E402 - the benchmarks' shared helpers
from annotations import running_server  # noqa: E402 - the sibling benchmark's server helpers


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 6), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def _burst(url: str, key: str, targets: list[str], rounds: int) -> tuple[float, list[list[str]]]:
    """Each client replaces the tags of its target ``rounds`` times; (requests/s, the tag sets sent)."""
    barrier = threading.Barrier(len(targets))
    sent: list[list[str]] = []

    def client(i: int) -> None:
        with httpx.Client(base_url=url, headers={"apikey": key}, timeout=120) as c:
            barrier.wait()
            for r in range(rounds):
                tags = [f"c{i}-r{r}-a", f"c{i}-r{r}-b"]
                sent.append(tags)
                response = c.put(f"/resources/{targets[i]}/tags", json={"tags": tags})
                if response.status_code != 200:
                    raise RuntimeError(f"tag replace answered {response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(len(targets)) as pool:
        list(pool.map(client, range(len(targets))))
    return len(targets) * rounds / (time.perf_counter() - started), sent


def run(backend: str, clients: int, rounds: int, repeat: int, database_url: str | None) -> str:
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", database_url) as (url, key):
        with httpx.Client(base_url=url, headers={"apikey": key}, timeout=60) as c:
            ids = [c.post("/resources", files={"resource": ("r.png", _png(), "image/png")}).json()["id"]
                   for _ in range(clients)]
        best_same = best_own = 0.0
        for _ in range(repeat):
            rate, sent = _burst(url, key, [ids[0]] * clients, rounds)
            with httpx.Client(base_url=url, headers={"apikey": key}) as c:
                final = c.get(f"/resources/{ids[0]}").json()["tags"]
            if final not in sent:
                raise RuntimeError(f"the contended resource ended with tags no request sent: {final}")
            best_same = max(best_same, rate)
            best_own = max(best_own, _burst(url, key, ids, rounds)[0])
    return (f"contended writes [{backend}]: {clients} clients x {rounds} tag replaces | same resource "
            f"{best_same:.1f} req/s | own resources {best_own:.1f} req/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("DATAMINT_TEST_PG_URL",
                                                           "postgresql+psycopg://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if backend == "postgresql":
            with fresh_database(args.pg_url) as url:
                print(run(backend, args.clients, args.rounds, args.repeat, url), flush=True)
        else:
            print(run(backend, args.clients, args.rounds, args.repeat, None), flush=True)


if __name__ == "__main__":
    main()

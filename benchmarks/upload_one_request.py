"""One file, one request: how much server CPU does a ``POST /resources`` of one DICOM file cost?

The official client uploads every file with its own ``POST /resources`` (wire §6.2); the SDK's
batches spread a request's fixed costs over 50 files, the official client's requests do not. Each
source tree (put first on ``PYTHONPATH``) gets a fresh server (its embedded defaults: SQLite and a
blob folder); one kept-alive ``http.client`` connection sends it ``--warm`` files, then
``--measure`` more, one after the other, each a small CT slice (64²: the per-request work, not the
bytes, is measured), and each answer must be 201. The server's CPU time (user + system, from
``/proc``) over the measured requests is recorded. Trees alternate in a rotated order each round.

usage: python benchmarks/upload_one_request.py SRC [SRC ...] [--rounds 3] [--warm 50] [--measure 250]

example (before/after of a branch):
    git archive main src | tar -x -C /tmp/before
    python benchmarks/upload_one_request.py /tmp/before/src $PWD/src

Prints one line per tree: the lowest and the median server CPU ms per request (and every run's),
and the median wall ms per request.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one
from _common import ab_order, ab_parser  # noqa: E402 - the benchmarks' shared helpers

BOUNDARY = b"datamint-bench-boundary"


def post(connection: http.client.HTTPConnection, key: str, path: Path) -> None:
    """One ``POST /resources`` of ``path`` as the official client sends it; the answer must be 201."""
    body = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="resource"; filename="'
            + path.name.encode() + b'"\r\nContent-Type: application/dicom\r\n\r\n' + path.read_bytes()
            + b"\r\n--" + BOUNDARY + b"--\r\n")
    connection.request("POST", "/resources", body=body, headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}", "apikey": key})
    response = connection.getresponse()
    answer = response.read()
    assert response.status == 201, f"{response.status} for {path.name}: {answer[:300]!r}"


def one_run(tree: str, root: Path, warm: list[Path], measured: list[Path]) -> tuple[float, float]:
    """Server CPU ms and wall ms per measured request of one fresh server run from ``tree``."""
    with ingest.tree_server(tree, root) as (proc, url, key):
        address = urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        for path in warm:
            post(connection, key, path)
        cpu, started = ingest.cpu_seconds(proc.pid), time.perf_counter()
        for path in measured:
            post(connection, key, path)
        wall, cpu = time.perf_counter() - started, ingest.cpu_seconds(proc.pid) - cpu
        connection.close()
    return 1000 * cpu / len(measured), 1000 * wall / len(measured)


def main() -> None:
    parser = ab_parser(__doc__.split("\n")[0])
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--measure", type=int, default=250)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {tree: [] for tree in args.trees}
    wall: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-one-request-") as tmp:
        root = Path(tmp)
        (root / "files").mkdir()
        paths = ingest.synthesize(root / "files", 1, args.warm + args.measure, 64)
        for r, tree in ab_order(args.trees, args.rounds):
            ms, wall_ms = one_run(tree, root, paths[:args.warm], paths[args.warm:])
            cpu[tree].append(ms)
            wall[tree].append(wall_ms)
            print(f"round {r + 1} {tree}: server CPU {ms:.2f} ms per request, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr)
    for tree in args.trees:
        print(f"{tree}: server CPU ms per one-file request lowest {min(cpu[tree]):.2f}, median "
              f"{statistics.median(cpu[tree]):.2f} (runs {' '.join(f'{v:.2f}' for v in cpu[tree])}), "
              f"wall median {statistics.median(wall[tree]):.2f} ms")


if __name__ == "__main__":
    main()

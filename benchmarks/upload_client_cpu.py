"""Client CPU per file of the per-file upload, A/B: the SDK of two (or more) source trees, same minutes.

``upload_resources(paths, assemble_dicoms=False)`` of the CT files ``ingest.py`` synthesizes
(``--series`` × ``--slices`` slices of 512², 512 KiB each), from one client process per run, into
one server (this checkout's ``datamint``, its embedded defaults, started once and settled before
the first run). Each run imports one tree's SDK (put first on ``PYTHONPATH``) and records the CPU
time of its own process (``time.process_time()``: user + system, all its threads) spent in the
upload call, per file: it moves much less with other load on the machine than files/s does. The
trees alternate, in a rotated order each round, after one warm-up run of the first tree (the
server's first requests pay one-time costs); each run checks one resource id per file.

``--files DIR`` reuses (or creates, once) the files in DIR instead of a temporary folder.

usage: python benchmarks/upload_client_cpu.py SRC_A [SRC_B ...] [--rounds 3] [--series 4] [--slices 250]
                                             [--files /tmp/ct-files]

example (before/after of a branch):
    git archive main src | tar -x -C /tmp/before
    python benchmarks/upload_client_cpu.py /tmp/before/src $PWD/src --files /tmp/ct-files

Prints one line: the file count, the load average, then per tree the median client CPU ms per file
(and every run's), and the median files/s.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one
from _common import ab_order, ab_parser  # noqa: E402 - the benchmarks' shared helpers

#: Run in a fresh interpreter with one tree's SDK: prints "client-CPU-seconds elapsed-seconds".
CLIENT = """
import json, sys, time, uuid
import httpx, pydicom  # imported before the upload, as in ingest.py's in-process measurement
from datamint import Api
url, key, paths = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
api = Api(url, key)
started, cpu = time.perf_counter(), time.process_time()
ids = api.resources.upload_resources(paths, assemble_dicoms=False, on_error="raise",
                                     channel=f"bench-{uuid.uuid4().hex[:6]}")
cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
assert len(set(ids)) == len(paths), f"{len(set(ids))} resources for {len(paths)} files"
print(cpu, elapsed)
"""


def one_run(tree: str, url: str, key: str, listing: Path) -> tuple[float, float]:
    """Client CPU seconds and elapsed seconds of one upload by the SDK of ``tree``."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CLIENT, url, key, str(listing)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = ab_parser(__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--slices", type=int, default=250)
    parser.add_argument("--files", type=Path, default=None, help="folder to keep (and reuse) the synthesized files in")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {tree: [] for tree in args.trees}
    rate: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-client-") as tmp:
        root = Path(tmp)
        folder = args.files or root / "files"
        wanted = [folder / f"s{s:02d}_{i:04d}.dcm" for s in range(args.series) for i in range(args.slices)]
        if not all(p.is_file() for p in wanted):
            folder.mkdir(parents=True, exist_ok=True)
            print(f"synthesizing {args.series}x{args.slices} slices in {folder} ...", file=sys.stderr)
            ingest.synthesize(folder, args.series, args.slices, 512)
        listing = root / "paths.json"
        listing.write_text(json.dumps([str(p) for p in wanted]))
        key = f"dmk_bench_{uuid.uuid4().hex}"
        (root / "run").mkdir()
        proc, url = ingest.start_server(root / "run" / "server", key)
        try:
            ingest.settle(proc.pid)
            one_run(args.trees[0], url, key, listing)  # warm-up
            for r, tree in ab_order(args.trees, args.rounds):
                seconds, elapsed = one_run(tree, url, key, listing)
                cpu[tree].append(1000 * seconds / len(wanted))
                rate[tree].append(len(wanted) / elapsed)
                print(f"round {r + 1} {tree}: client CPU {cpu[tree][-1]:.3f} ms/file, {rate[tree][-1]:.0f} "
                      f"files/s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    parts = [f"upload client CPU: {len(wanted)} files, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}"]
    for tree in args.trees:
        runs = " ".join(f"{v:.3f}" for v in cpu[tree])
        parts.append(f"{tree} {statistics.median(cpu[tree]):.3f} ms/file (runs {runs}) "
                     f"{statistics.median(rate[tree]):.0f} files/s")
    print(" | ".join(parts))


if __name__ == "__main__":
    main()

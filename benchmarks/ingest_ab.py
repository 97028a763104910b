"""Server CPU per file of the per-file upload, A/B: two (or more) source trees in the same minutes.

On a shared machine files/s moves with everyone else's load; comparing two versions of the server
needs them measured side by side. Each run starts a fresh server (its embedded defaults: SQLite and
a blob folder) from one source tree (put first on ``PYTHONPATH``), uploads ``--warm`` files with
the SDK to warm it up (first requests pay one-time costs), then ``--measure`` more files, and
records the server's CPU per measured file and the files/s. The trees alternate, in a rotated
order each round; the medians are printed at the end.

usage: python benchmarks/ingest_ab.py SRC_A SRC_B [--rounds 3] [--warm 100] [--measure 400]

example (before/after of a branch):
    git archive 160aabb src | tar -x -C /tmp/before
    python benchmarks/ingest_ab.py /tmp/before/src $PWD/src
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one
from _common import ab_order, ab_parser  # noqa: E402 - the benchmarks' shared helpers


def one_run(tree: str, root: Path, warm: list[Path], measured: list[Path]) -> tuple[float, float]:
    """Server CPU ms per measured file and files/s of one fresh server run from ``tree``."""
    with ingest.tree_server(tree, root) as (proc, url, key):
        ingest.sdk_upload(url, key, warm, False, proc.pid)
        elapsed, cpu, _, _, resources = ingest.sdk_upload(url, key, measured, False, proc.pid)
        assert resources == len(measured), f"{resources} resources for {len(measured)} files"
    return 1000 * cpu / len(measured), len(measured) / elapsed


def main() -> None:
    parser = ab_parser(__doc__.split("\n")[0])
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--measure", type=int, default=400)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {tree: [] for tree in args.trees}
    rate: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-ab-") as tmp:
        root = Path(tmp)
        (root / "files").mkdir()
        slices = -(-(args.warm + args.measure) // 4)
        paths = ingest.synthesize(root / "files", 4, slices, 512)
        warm, measured = paths[:args.warm], paths[args.warm:args.warm + args.measure]
        for r, tree in ab_order(args.trees, args.rounds):
            ms, fps = one_run(tree, root, warm, measured)
            cpu[tree].append(ms)
            rate[tree].append(fps)
            print(f"round {r + 1} {tree}: server CPU {ms:.2f} ms/file, {fps:.0f} files/s, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    for tree in args.trees:
        print(f"{tree}: server CPU ms/file median {statistics.median(cpu[tree]):.2f} "
              f"(runs {' '.join(f'{v:.2f}' for v in cpu[tree])}), files/s median {statistics.median(rate[tree]):.0f}")


if __name__ == "__main__":
    main()

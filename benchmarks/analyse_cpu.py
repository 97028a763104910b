"""CPU per file of the upload's check step, A/B: ``analyse`` of two (or more) source trees, same minutes.

``datamint.server.resources.ingest.analyse`` is what the server does with each uploaded DICOM file
before storing it: sniff the type, parse the header once, check the file (limits, truncation,
required attributes, the pixel data's length), read its metadata and its DICOM index entry. It runs
on the server's critical path (a stub in its place raised files/s by 20–55%, docs/resources.md).

Each run is a fresh interpreter importing one tree's ``datamint`` (put first on ``PYTHONPATH``),
calling ``analyse`` on the CT slices ``ingest.py`` synthesizes (``--files`` of 512², 512 KiB each,
one series), each as a path (as the batch route gets a spooled part), once to warm up and then
``--repeat`` times; its figure is the median ``time.process_time()`` per file over the repeats.
CPU time of one thread moves little with other load on the machine. The trees alternate, in a
rotated order each round.

``--instructions`` counts instead the instructions ``analyse`` executes per file, under
``valgrind --tool=callgrind`` (one run with a pass over the files and one without, per tree): the
same number on a busy machine as on an idle one.

usage: python benchmarks/analyse_cpu.py SRC_A [SRC_B ...] [--rounds 3] [--files 100] [--repeat 15]
                                        [--instructions]

example (before/after of a branch):
    git archive main src | tar -x -C /tmp/before
    python benchmarks/analyse_cpu.py /tmp/before/src $PWD/src

Prints one line: the file count, the load average, then per tree the median CPU µs per file (and
every run's), or with ``--instructions`` the instructions per file.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one
from _common import ab_order, ab_parser  # noqa: E402 - the benchmarks' shared helpers

#: Run in a fresh interpreter with one tree's ``datamint``: prints the median CPU seconds per file.
RUN = """
import json, statistics, sys, time
from datamint.server.resources.ingest import analyse
paths, repeat = json.load(open(sys.argv[1])), int(sys.argv[2])
for path in paths:
    analyse(path, "slice.dcm", "application/dicom")
runs = []
for _ in range(repeat):
    cpu = time.process_time()
    for path in paths:
        analyse(path, "slice.dcm", "application/dicom")
    runs.append((time.process_time() - cpu) / len(paths))
print(statistics.median(runs) if runs else 0.0)
"""


def one_run(tree: str, listing: Path, repeat: int) -> float:
    """The median CPU µs per file of ``analyse`` from ``tree``."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", RUN, str(listing), str(repeat)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1]) * 1e6


def instructions(tree: str, listing: Path, folder: Path) -> float:
    """Instructions per file of ``analyse`` from ``tree``: callgrind's total with one timed pass over
    the files less its total without it (the interpreter's start, the imports, the warm-up pass)."""
    env = {**os.environ, "PYTHONPATH": tree}
    totals = []
    for repeat in (0, 1):
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder / 'callgrind.out'}",
                              sys.executable, "-c", RUN, str(listing), str(repeat)], env=env, check=True,
                             capture_output=True, text=True).stderr
        totals.append(int(re.search(r"Collected : (\d+)", out).group(1)))  # type: ignore[union-attr]
    return (totals[1] - totals[0]) / len(json.loads(listing.read_text()))


def main() -> None:
    parser = ab_parser(__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {tree: [] for tree in args.trees}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-analyse-") as tmp:
        root = Path(tmp)
        paths = ingest.synthesize(root, 1, args.files, 512)
        listing = root / "paths.json"
        listing.write_text(json.dumps([str(p) for p in paths]))
        if args.instructions:
            counts = "; ".join(f"{tree}: {instructions(tree, listing, root) / 1e6:.3f} M instructions/file"
                               for tree in args.trees)
            print(f"analyse instructions, {args.files} CT slices 512²: {counts}")
            return
        for _, tree in ab_order(args.trees, args.rounds):
            cpu[tree].append(one_run(tree, listing, args.repeat))
    figures = "; ".join(f"{tree}: {statistics.median(runs):.1f} µs/file (runs {' '.join(f'{v:.1f}' for v in runs)})"
                        for tree, runs in cpu.items())
    print(f"analyse CPU, {args.files} CT slices 512², load {os.getloadavg()[0]:.1f}: {figures}")


if __name__ == "__main__":
    main()

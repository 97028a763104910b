"""System calls per stored file: how many does the server make for each file of a per-file upload?

Every system call a thread of the server makes releases the interpreter lock; when other threads
hold it (the event loop receiving, the batch checks, the store threads), taking it back costs
futex waits and context switches. Counting them is deterministic enough to compare two trees on a
busy machine, where CPU time and files/s are not.

Each tree gets a fresh server (its embedded defaults: SQLite and a blob folder), ``--warm`` files
uploaded with the SDK first (one-time costs), then ``strace -f -c`` (Debian package ``strace``)
attached to the server while the SDK uploads ``--measure`` more, one resource per file, in
batches as it always does.

usage: python benchmarks/ingest_syscalls.py SRC [SRC ...] [--warm 100] [--measure 200]

example (before/after of a branch):
    git archive main src | tar -x -C /tmp/before
    python benchmarks/ingest_syscalls.py /tmp/before/src $PWD/src

Prints one line per tree: system calls per file in all, futex calls per file, and the five most
frequent other calls per file.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one


def parse_summary(text: str) -> dict[str, int]:
    """``{syscall: calls}`` from the table ``strace -c`` writes."""
    calls: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls


def count(tree: str, root: Path, warm: list[Path], measured: list[Path]) -> dict[str, int]:
    """The server's system calls while ``measured`` is uploaded, for a fresh server run from ``tree``."""
    with ingest.tree_server(tree, root) as (proc, url, key):
        summary = root / "strace.txt"
        ingest.sdk_upload(url, key, warm, False, proc.pid)
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(summary), "-p", str(proc.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached to every thread before the first byte
        *_, resources = ingest.sdk_upload(url, key, measured, False, proc.pid)
        assert resources == len(measured), f"{resources} resources for {len(measured)} files"
        tracer.send_signal(signal.SIGINT)
        tracer.wait(60)
        return parse_summary(summary.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source trees (folders holding the datamint package)")
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--measure", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace is not installed (apt-get install strace)")
    with tempfile.TemporaryDirectory(prefix="datamint-bench-syscalls-") as tmp:
        root = Path(tmp)
        (root / "files").mkdir()
        paths = ingest.synthesize(root / "files", 4, -(-(args.warm + args.measure) // 4), 512)
        warm, measured = paths[:args.warm], paths[args.warm:args.warm + args.measure]
        for tree in args.trees:
            calls = count(tree, root, warm, measured)
            per_file = {name: n / len(measured) for name, n in calls.items()}
            others = sorted(((n, name) for name, n in per_file.items() if name != "futex"), reverse=True)[:5]
            print(f"{tree}: {sum(per_file.values()):.0f} system calls per file, futex {per_file.get('futex', 0):.0f}; "
                  + ", ".join(f"{name} {n:.1f}" for n, name in others))


if __name__ == "__main__":
    main()

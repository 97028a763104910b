"""One call, one file: what does ``upload_resources([path])`` cost the client, called in a loop?

Many scripts upload as they produce files, one call each; every call then pays the SDK's fixed
costs (a new asynchronous HTTP client, its TLS settings, the batch limits asked once per
handler). One server (this checkout's ``datamint``, its embedded defaults) gets ``--calls`` small
CT slices (64², so the fixed costs, not the bytes, are measured) from one client process per
source tree (put first on ``PYTHONPATH``), after one warm-up call; the client's CPU time
(``time.process_time()``) and wall time per call are recorded, and each call is checked to
return one resource id.

usage: python benchmarks/upload_one_call.py SRC [SRC ...] [--calls 60]

example (before/after of a branch):
    git archive main src | tar -x -C /tmp/before
    python benchmarks/upload_one_call.py /tmp/before/src $PWD/src

Prints one line per tree: client CPU ms and wall ms per one-file call.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest  # noqa: E402 - the benchmark next to this one

CLIENT = """
import sys, time
from pathlib import Path
from datamint import Api
url, key, folder = sys.argv[1:4]
api = Api(url, api_key=key)
files = sorted(Path(folder).glob("*.dcm"))
api.resources.upload_resources([files[0]], assemble_dicoms=False, progress_bar=False)
cpu, wall = time.process_time(), time.perf_counter()
for path in files[1:]:
    ids = api.resources.upload_resources([path], assemble_dicoms=False, progress_bar=False)
    assert len(ids) == 1 and not isinstance(ids[0], Exception), ids
calls = len(files) - 1
print(f"{1000 * (time.process_time() - cpu) / calls:.1f} {1000 * (time.perf_counter() - wall) / calls:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source trees (folders holding the datamint package)")
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datamint-bench-one-call-") as tmp:
        root = Path(tmp)
        (root / "files").mkdir()
        ingest.synthesize(root / "files", 1, args.calls + 1, 64)
        key = f"dmk_bench_{uuid.uuid4().hex}"
        proc, url = ingest.start_server(root / "server", key)
        try:
            ingest.settle(proc.pid)
            for tree in args.trees:
                result = subprocess.run([sys.executable, "-c", CLIENT, url, key, str(root / "files")],
                                        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": tree})
                if result.returncode != 0:
                    sys.exit(f"{tree}: the client failed:\n{result.stderr[-2000:]}")
                cpu, wall = result.stdout.split()
                print(f"{tree}: {cpu} ms of client CPU, {wall} ms wall per one-file call ({args.calls} calls)")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


if __name__ == "__main__":
    main()

"""Series assembly: how much CPU does the SDK spend turning a CT series into one multi-frame file?

Synthesizes one CT series of ``--slices`` single-frame slices of ``--size``² 16-bit pixels (the
files of ``benchmarks/ingest.py``), then prepares it for upload as ``upload_resources(...,
assemble_dicoms=True)`` does before sending (:func:`datamint.api._upload.prepare.prepare_unit`:
read and check every slice, stack them, write the multi-frame file, hash the originals), in this
process, ``--rounds`` times. The CPU time of that step (``time.process_time``, one thread) is what
the SDK pays per series; it hardly moves with the machine's other load, unlike files/s.

usage: python benchmarks/assemble.py [--slices 250] [--size 512] [--rounds 5]

Prints one line: the series, the best and median CPU seconds, the CPU ms per slice and the size of
the assembled file (checked: frames and bytes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ingest import synthesize  # noqa: E402 - the benchmark next to this one

from datamint.api._upload.prepare import UploadOptions, collect_inputs, plan_units, prepare_unit, read_headers  # noqa: E402
from datamint.imaging.dicom_io import read_dicom  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=250)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datamint-bench-assemble-") as tmp:
        paths = [str(p) for p in synthesize(Path(tmp), 1, args.slices, args.size)]
        seconds, size = [], 0
        for _ in range(args.rounds):
            inputs = collect_inputs(paths, None)
            read_headers(inputs)  # the SDK reads them before grouping: not part of the assembly
            (unit,) = plan_units(inputs, assemble=True)
            started = time.process_time()
            prepared = prepare_unit(unit, UploadOptions())
            seconds.append(time.process_time() - started)
            data = prepared.fileobj.read()
            size = len(data)
            assembled = read_dicom(data)
            assert int(assembled.NumberOfFrames) == args.slices, assembled.NumberOfFrames
            assert len(assembled.PixelData) == args.slices * args.size * args.size * 2
    print(f"assemble: {args.slices} slices of {args.size}^2, best of {args.rounds}, load {os.getloadavg()[0]:.1f} | "
          f"CPU best {min(seconds):.3f} s median {statistics.median(seconds):.3f} s | "
          f"{1000 * min(seconds) / args.slices:.2f} ms/slice | {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

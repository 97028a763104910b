"""CPU cost of reading single frames of a large multi-frame DICOM, as viewers and DICOMweb do.

Builds a ``--frames``-frame CT (``--size``² pixels, with a per-frame functional groups sequence
as the SDK's assembled series have) in a temporary folder, native and RLE-compressed, then times
(process CPU time):

- ``DicomFrames(path)``: the viewer's reader, header parsed once, then ``values(k)`` per frame;
- ``read_frame(path, k)``: DICOMweb ``/frames`` (header read per call).

usage: python benchmarks/frame_readers.py [--frames 2000] [--size 64] [--reads 50]

Prints one line: open ms (native, RLE), per-frame ms of values() and of read_frame() (native, RLE).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import RLELossless, generate_uid

from datamint.imaging import assemble_series
from datamint.imaging.dicom_frames import read_frame
from datamint.imaging.volume import DicomFrames


def _series(folder: Path, frames: int, size: int) -> tuple[Path, Path]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fixtures.files import make_ct_slice, to_bytes

    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    pixels = np.arange(size * size, dtype=np.int16).reshape(size, size) % 97
    slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=size, pixels=pixels + i % 300)
              for i in range(frames)]
    native = folder / "native.dcm"
    native.write_bytes(to_bytes(assemble_series(slices)))
    rle = folder / "rle.dcm"
    ds = pydicom.dcmread(native)
    ds.compress(RLELossless)
    ds.save_as(rle)
    return native, rle


def _cpu_ms(work) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    work()
    return (time.process_time() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _series(Path(tmp), args.frames, args.size)
        picks = np.linspace(0, args.frames - 1, args.reads).astype(int)
        opened, per_value, per_frame = [], [], []
        for path in paths:
            start = time.process_time()
            reader = DicomFrames(path)
            opened.append((time.process_time() - start) * 1000)
            per_value.append(_cpu_ms(lambda reader=reader: [reader.values(int(k)) for k in picks]) / len(picks))
            per_frame.append(_cpu_ms(lambda path=path: [read_frame(path, int(k)) for k in picks]) / len(picks))
    print(f"frame readers: {args.frames} frames {args.size}x{args.size}  open {opened[0]:.0f}/{opened[1]:.0f} ms  "
          f"values() {per_value[0]:.2f}/{per_value[1]:.2f} ms/frame  "
          f"read_frame() {per_frame[0]:.1f}/{per_frame[1]:.1f} ms/frame  (native/RLE, CPU)")


if __name__ == "__main__":
    main()

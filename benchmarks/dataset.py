"""Dataset iteration: samples/s of a PyTorch dataset over a project, cold (from the server) and warm
(from the local cache), against reading the same files directly (the ceiling).

Synthesizes ``--images`` grayscale PNG images of ``--image-size``² and ``--volumes`` volumes (half
CT series of ``--slices`` slices of ``--volume-size``², assembled into multi-frame DICOM by the
upload; half NIfTI ``.nii.gz`` of the same size), starts a server on its embedded defaults
(SQLite + blob folder, a subprocess), uploads them into one project, then for images
(``ImageDataset``) and volumes (``VolumeDataset``):

* cold: the first epoch with an empty cache (each item is downloaded, then decoded); and
  ``dataset.prefetch()`` (concurrent downloads) followed by the first epoch, from an empty cache
  too, both parts reported (the epoch after it reads the cache, as the warm one does);
* warm: another epoch over the cached files;
* direct: the cached files read with Pillow / pydicom / nibabel into NumPy arrays, nothing else.

Every figure is the best of ``--rounds`` rounds, and the order of the two cold ways (and of warm
and direct) alternates between rounds. Each epoch checks its item count.

All loops run in this process (``num_workers=0``) so the three numbers compare the same work.

usage: python benchmarks/dataset.py [--images 2000] [--volumes 20] [--rounds 3]

Prints one line, e.g.::

    dataset: 2000 images 256^2, 20 volumes 64x256^2, best of 3 | images cold 80.1 (prefetch() then epoch
    400.2: prefetch 3.10 s + epoch 1.90 s) warm 1900.3 direct 2050.7 samples/s (warm/direct 93%) | volumes ...
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import start_server  # noqa: E402 - the shared way to start a benchmark server


def synthesize(folder: Path, images: int, volumes: int, image_size: int, volume_size: int, slices: int
               ) -> tuple[list[Path], list[list[Path]], list[Path]]:
    """PNG images, CT series (lists of slice files) and NIfTI volumes."""
    import nibabel
    from PIL import Image
    from pydicom.uid import generate_uid

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from imaging_data import make_ct_slice

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    pngs = []
    yy, xx = np.mgrid[0:image_size, 0:image_size]
    for i in range(images):
        # smooth content with noise: compresses like a radiograph, not like random bytes
        data = ((np.sin(xx / (7 + i % 13)) + np.cos(yy / (5 + i % 11))) * 60 + 128
                + rng.normal(0, 6, (image_size, image_size))).clip(0, 255).astype(np.uint8)
        path = folder / f"img{i:05d}.png"
        Image.fromarray(data).save(path, format="PNG")
        pngs.append(path)
    series, niftis = [], []
    for v in range(volumes):
        volume = rng.integers(0, 1500, size=(slices, volume_size, volume_size), dtype=np.int16)
        if v % 2 == 0:
            study, uid, frame = generate_uid(), generate_uid(), generate_uid()
            paths = []
            for k in range(slices):
                ds = make_ct_slice(k, study=study, series=uid, frame_of_reference=frame, size=volume_size,
                                   pixels=volume[k], patient=f"Bench^{v}")
                path = folder / f"ct{v:02d}_{k:03d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                paths.append(path)
            series.append(paths)
        else:
            path = folder / f"vol{v:02d}.nii.gz"
            nibabel.save(nibabel.Nifti1Image(volume.transpose(2, 1, 0), np.eye(4)), str(path))
            niftis.append(path)
    return pngs, series, niftis


def direct_read(paths: list[tuple[Path, str]]) -> float:
    """Seconds to read every file into a NumPy array with its usual library."""
    import nibabel
    import pydicom
    from PIL import Image

    started = time.perf_counter()
    for path, mimetype in paths:
        if mimetype == "application/dicom":
            array = pydicom.dcmread(path).pixel_array
        elif mimetype == "application/nifti":
            array = np.asanyarray(nibabel.load(path).dataobj)
        else:
            with Image.open(path) as image:
                array = np.asarray(image)
        assert array.size
    return time.perf_counter() - started


def epoch(dataset, expected: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds to read every sample once (checks that there are ``expected`` non-empty samples)."""
    assert len(dataset) == expected, f"the dataset has {len(dataset)} items, expected {expected}"
    started = time.perf_counter()
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["image"].numel()
    return time.perf_counter() - started


def measure(kind, project: str, url: str, key: str, expected: int, rounds: int  # type: ignore[no-untyped-def]
            ) -> tuple[float, float, float, float, float]:
    """(cold s, prefetch() s, epoch after prefetch() s, warm s, direct s) for one dataset kind,
    each the best of ``rounds``.

    Every round measures the two cold ways (a first epoch that downloads as it goes; ``prefetch()``
    then a first epoch from the cache) from an empty cache each, then the warm epoch and the direct
    read; the order inside each pair alternates from round to round, so neither always runs first.
    """
    import shutil

    from datamint import configs

    def fresh():  # type: ignore[no-untyped-def]
        shutil.rmtree(configs.data_dir() / "resources", ignore_errors=True)
        dataset = kind(project, api_key=key, server_url=url, return_metainfo=False)
        len(dataset)  # listing + annotation search happen here, not in the timed parts
        return dataset

    def cold() -> None:
        best["cold"] = min(best["cold"], epoch(fresh(), expected))

    def prefetched() -> None:
        dataset = fresh()
        started = time.perf_counter()
        dataset.prefetch()
        best["prefetch"] = min(best["prefetch"], time.perf_counter() - started)
        best["after prefetch"] = min(best["after prefetch"], epoch(dataset, expected))
        warm_pair[:] = [dataset, [(dataset.source.cached_path(r), r.mimetype) for r in dataset.records]]

    def warm() -> None:
        best["warm"] = min(best["warm"], epoch(warm_pair[0], expected))

    def direct() -> None:
        best["direct"] = min(best["direct"], direct_read(warm_pair[1]))

    best = dict.fromkeys(("cold", "prefetch", "after prefetch", "warm", "direct"), float("inf"))
    warm_pair: list = []
    for r in range(rounds):
        for step in ((cold, prefetched, warm, direct) if r % 2 == 0 else (prefetched, cold, direct, warm)):
            step()
    assert len(warm_pair[1]) == expected
    return best["cold"], best["prefetch"], best["after prefetch"], best["warm"], best["direct"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--volume-size", type=int, default=256)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds (alternated order)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datamint-bench-") as tmp:
        root = Path(os.environ.get("DATAMINT_BENCH_DIR") or tmp)
        os.environ["DATAMINT_DATA_DIR"] = str(root / "sdk-cache")
        print("synthesizing ...", file=sys.stderr)
        pngs, series, niftis = synthesize(root / "files", args.images, args.volumes, args.image_size,
                                          args.volume_size, args.slices)
        key = f"dmk_bench_{uuid.uuid4().hex}"
        (root / "server").mkdir(parents=True, exist_ok=True)
        proc, url = start_server(root / "server", key)
        try:
            import torch  # noqa: F401 - imported before timing, as in any training script

            from datamint import Api
            from datamint.dataset import ImageDataset, VolumeDataset

            api = Api(url, key)
            print("uploading ...", file=sys.stderr)
            ids = list(api.resources.upload_resources([str(p) for p in pngs], on_error="raise"))
            for paths in series:
                ids += api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=True)
            ids += [api.resources.upload_resource(str(p)) for p in niftis]
            assert len(set(ids)) == args.images + args.volumes, f"{len(set(ids))} resources uploaded"
            project = api.projects.create(f"bench-{uuid.uuid4().hex[:6]}", "dataset benchmark", resources_ids=ids)
            print("iterating ...", file=sys.stderr)
            counts = {"images": args.images, "volumes": args.volumes}
            results = {label: measure(kind, project.name, url, key, counts[label], args.rounds)
                       for label, kind in (("images", ImageDataset), ("volumes", VolumeDataset))}
            api.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    parts = [f"dataset: {args.images} images {args.image_size}^2, {args.volumes} volumes "
             f"{args.slices}x{args.volume_size}^2, best of {args.rounds}"]
    for label, (cold, prefetch, after, warm, direct) in results.items():
        n = counts[label]
        parts.append(f"{label} cold {n / cold:.1f} (prefetch() then epoch {n / (prefetch + after):.1f}: "
                     f"prefetch {prefetch:.2f} s + epoch {after:.2f} s) warm {n / warm:.1f} "
                     f"direct {n / direct:.1f} samples/s (warm/direct {direct / warm:.0%})")
    print(" | ".join(parts))


if __name__ == "__main__":
    main()

"""Ingest throughput: how fast does the SDK upload a CT study into a running server?

Synthesizes ``--series`` CT series of ``--slices`` single-frame slices of ``--size``² 16-bit pixels
(4 × 250 × 512² ≈ 500 MB by default) and uploads them with the SDK to a fresh server on its
embedded defaults (SQLite + blob folder in a temporary data dir, a subprocess) in two ways:
``assemble_dicoms=False`` (one resource per file) and ``assemble_dicoms=True`` (one multi-frame
resource per series). When Orthanc is installed (Debian package ``orthanc``), the same files are
posted one by one to a fresh Orthanc's ``/instances`` with the same concurrency (20), Orthanc
configured like our store: no storage compression, every file fsynced (``SyncStorageArea``), no
transcoding, its default SQLite index.

Each figure is the best of ``--rounds`` rounds; every round starts fresh servers and runs the three
uploads in a rotated order, so none always runs first (cold disk cache) or last. Every upload is
checked: the SDK returns one id per file (or per series), Orthanc answers ``Success`` for every
instance and counts them all.

Both uploads are compared with Orthanc's files/s (``per-file/orthanc`` and
``assembled/orthanc``; above 1: we are faster). Orthanc is measured twice: posted to with httpx's
async client (``orthanc``: as before; that poster spends 2–5 ms of CPU per file, more than Orthanc
itself, and on two cores it holds Orthanc back), and from 20 threads with plain ``http.client``
(``orthanc-lean``, ~0.25 ms per file: Orthanc's own speed); ``per-file/orthanc-lean`` is the
comparison with Orthanc at its own speed. Both sides store the same files at the same
concurrency; the SDK sends them the way it always does (the per-file upload in batches of files
through ``POST /resources/batch``, one resource per file; the assembled upload one multi-frame
object per series, which Orthanc does not build).

Server CPU per file (user + system time of the server process and its workers, read from
``/proc/<pid>/stat`` before and after each upload) is printed for both servers: it depends much
less on what else loads the machine than files/s does. So is the whole machine's busy CPU per
file (``/proc/stat``): it adds the client and the kernel's own threads (journal commits, loopback
networking), and on a machine whose cores are all busy it is what bounds files/s.

The scaled-out shape: ``--workers N`` starts the server with N worker processes, ``--pg-url``
puts its database in PostgreSQL (a fresh database per server, created through that URL and
dropped after).

usage: python benchmarks/ingest.py [--series 4] [--slices 250] [--size 512] [--rounds 3]
                                   [--workers 1] [--pg-url postgresql://user@host:5432/postgres]

Prints one line: the file count and size, the shape and the load average, then files/s, MB/s and
the server's, the client's and the whole machine's busy CPU ms per file for each way of uploading
and, with Orthanc, both ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import create_database, drop_database  # noqa: E402 - the benchmarks' shared helpers

CONCURRENCY = 20


def synthesize(folder: Path, series: int, slices: int, size: int) -> list[Path]:
    """Write the CT series; returns the file paths (slices of one series are consecutive)."""
    rng = np.random.default_rng(0)
    paths = []
    for s in range(series):
        study, series_uid, frame = generate_uid(), generate_uid(), generate_uid()
        for i in range(slices):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
            ds.PatientName, ds.PatientID = f"Synthetic^Patient{s}", f"P{s:04d}"
            ds.PatientBirthDate, ds.PatientSex = "19700101", "F" if s % 2 else "M"
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series_uid, frame
            ds.StudyDate, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "20240101", "CT", 1, i + 1
            ds.ImagePositionPatient = [-250.0, -250.0, i * 1.25]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing, ds.SliceThickness = [0.9765625, 0.9765625], 1.25
            ds.Rows = ds.Columns = size
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
            ds.PixelData = rng.integers(0, 2000, size=(size, size), dtype=np.int16).tobytes()
            path = folder / f"s{s:02d}_{i:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen[bytes], what: str, auth: tuple[str, str] | None = None) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early")
        try:
            if httpx.get(url, timeout=1, auth=auth).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its live descendants (/proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, from /proc/stat: everything but
    idle and I/O wait), so the kernel's own threads (journal commits, loopback networking) and the
    client count too."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, timeout: float = 180.0) -> None:
    """Wait until process ``pid`` (and its workers) is idle for three seconds in a row: a started
    server still warms up in the background (MLflow's stores, which wait on the database now and
    then), which must not count as upload CPU."""
    deadline = time.monotonic() + timeout
    quiet = 0
    before = cpu_seconds(pid)
    while time.monotonic() < deadline and quiet < 3:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - before < 0.03 else 0
        before = now


def start_server(data_dir: Path, key: str, workers: int = 1,
                 database_url: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": key, "DATAMINT_SERVER_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port), "--data-dir", str(data_dir),
           "--no-write-sdk-config", "--workers", str(workers)]
    if database_url:
        cmd += ["--database-url", database_url]
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", proc, "datamint server")
    return proc, url


@contextlib.contextmanager
def tree_server(tree: str, root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """A fresh server on its embedded defaults, run from source tree ``tree`` (put first on
    ``PYTHONPATH``) in a folder of its own under ``root``, settled: ``(process, url, admin key)``.
    Stopped and its files removed afterwards, so the next run starts from an empty disk."""
    os.environ["PYTHONPATH"] = tree  # the server subprocess imports this tree's datamint
    folder = Path(tempfile.mkdtemp(dir=root))
    key = f"dmk_bench_{uuid.uuid4().hex}"
    proc, url = start_server(folder / "server", key)
    try:
        settle(proc.pid)
        yield proc, url, key
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        shutil.rmtree(folder, ignore_errors=True)


def sdk_upload(url: str, key: str, paths: list[Path], assemble: bool,
               pid: int) -> tuple[float, float, float, float, int]:
    """Seconds, server CPU seconds (process ``pid`` and its workers), client CPU seconds and the
    machine's busy CPU seconds of one ``upload_resources`` call, and the resources it made."""
    from datamint import Api

    api = Api(url, key)
    started, server, cpu, busy = time.perf_counter(), cpu_seconds(pid), time.process_time(), machine_busy()
    ids = api.resources.upload_resources([str(p) for p in paths], assemble_dicoms=assemble, on_error="raise",
                                         channel=f"bench-{uuid.uuid4().hex[:6]}")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server, busy = cpu_seconds(pid) - server, machine_busy() - busy
    api.close()
    return elapsed, server, cpu, busy, len(set(ids))


def post_lean(base: str, paths: list[Path]) -> None:
    """Post every file to Orthanc from :data:`CONCURRENCY` threads, each with its own kept-alive
    ``http.client`` connection: the least client work per file Python allows (~0.25 ms)."""
    import http.client
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    address = urlsplit(base)
    local = threading.local()

    def post(path: Path) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=600)
        local.connection.request("POST", "/instances", body=path.read_bytes(),
                                 headers={"Content-Type": "application/dicom"})
        response = local.connection.getresponse()
        body = response.read()
        assert response.status == 200, f"Orthanc answered {response.status} for {path.name}: {body[:200]!r}"
        status = json.loads(body)["Status"]
        assert status == "Success", f"Orthanc answered {status} for {path.name}"

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, paths))


def orthanc_upload(paths: list[Path], folder: Path, lean: bool = False) -> tuple[float, float, float, float] | None:
    """Seconds, Orthanc's CPU seconds, the client's CPU seconds and the machine's busy CPU seconds
    of posting every file to a fresh Orthanc (None when it is not installed): with httpx's async
    client (as an httpx-based program would), or with ``lean`` from threads (:func:`post_lean`)."""
    binary = shutil.which("Orthanc")
    if binary is None:
        return None
    http_port, dicom_port = free_port(), free_port()
    config = {"Name": "bench", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
              "HttpPort": http_port, "DicomPort": dicom_port, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "Plugins": [], "ConcurrentJobs": 2,
              # pinned, not left to defaults: the same work as our local blob store
              "StorageCompression": False,  # we store files as sent
              "SyncStorageArea": True,  # we fsync every blob before the upload is answered
              # no "IngestTranscoding" key: Orthanc then keeps the transfer syntax, as we do
              "OverwriteInstances": False, "SaveJobs": False, "StorageAccessOnFind": "Never",
              "HttpCompressionEnabled": False, "KeepAlive": True, "HttpThreadsCount": 50,
              "MaximumStorageSize": 0, "MaximumPatientCount": 0}
    (folder / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{http_port}"
        wait_for(f"{base}/system", proc, "Orthanc")

        async def post_all() -> None:
            semaphore = asyncio.Semaphore(CONCURRENCY)
            limits = httpx.Limits(max_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:
                async def post(path: Path) -> None:
                    async with semaphore:
                        response = await client.post("/instances", content=path.read_bytes(),
                                                     headers={"content-type": "application/dicom"})
                        response.raise_for_status()
                        status = response.json()["Status"]
                        assert status == "Success", f"Orthanc answered {status} for {path.name}"
                await asyncio.gather(*(post(p) for p in paths))

        settle(proc.pid)
        cpu, client_cpu, busy = cpu_seconds(proc.pid), time.process_time(), machine_busy()
        started = time.perf_counter()
        if lean:
            post_lean(base, paths)
        else:
            asyncio.run(post_all())
        elapsed = time.perf_counter() - started
        cpu, client_cpu, busy = cpu_seconds(proc.pid) - cpu, time.process_time() - client_cpu, machine_busy() - busy
        stored = httpx.get(f"{base}/statistics", timeout=60).json()["CountInstances"]
        assert stored == len(paths), f"Orthanc stored {stored} of {len(paths)} instances"
        return elapsed, cpu, client_cpu, busy
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def one_round(root: Path, paths: list[Path], order: list[str], expected: dict[str, int], workers: int,
              pg_url: str | None) -> dict[str, tuple[float, float, float, float]]:
    """Seconds, server CPU seconds, client CPU seconds and machine busy seconds of each upload of ``order`` (labels
    ``sdk``, ``sdk+assemble``, ``orthanc``), each into a fresh server, in that order; every result
    checked."""
    times: dict[str, tuple[float, float, float, float]] = {}
    for label in order:
        folder = root / f"{label}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True)
        if label.startswith("orthanc"):
            measured = orthanc_upload(paths, folder, lean=label == "orthanc-lean")
            assert measured is not None
            elapsed, cpu, client_cpu, busy = measured
        else:
            key = f"dmk_bench_{uuid.uuid4().hex}"
            database_url, database = create_database(pg_url, "bench") if pg_url else (None, None)
            proc, url = start_server(folder / "server", key, workers, database_url)
            try:
                settle(proc.pid)
                elapsed, cpu, client_cpu, busy, resources = sdk_upload(url, key, paths, label == "sdk+assemble",
                                                                       proc.pid)
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(60)
                if pg_url and database:
                    drop_database(pg_url, database)
            assert resources == expected[label], f"{label}: {resources} resources, expected {expected[label]}"
        shutil.rmtree(folder)  # the next upload starts from an empty disk again
        times[label] = (elapsed, cpu, client_cpu, busy)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--slices", type=int, default=250)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds (rotated order)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (use --pg-url above 1)")
    parser.add_argument("--pg-url", default=None,
                        help="PostgreSQL URL to create each server's fresh database through (default: SQLite)")
    args = parser.parse_args()
    labels = ["sdk", "sdk+assemble"] + (["orthanc", "orthanc-lean"] if shutil.which("Orthanc") else [])
    if "orthanc" not in labels:
        print("Orthanc is not installed (apt-get install orthanc): no comparison", file=sys.stderr)
    expected = {"sdk": args.series * args.slices, "sdk+assemble": args.series}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-") as tmp:
        root = Path(os.environ.get("DATAMINT_BENCH_DIR") or tmp)
        (root / "files").mkdir(parents=True, exist_ok=True)
        print(f"synthesizing {args.series}x{args.slices} slices of {args.size}^2 ...", file=sys.stderr)
        paths = synthesize(root / "files", args.series, args.slices, args.size)
        total_mb = sum(p.stat().st_size for p in paths) / 1e6
        best = dict.fromkeys(labels, float("inf"))
        cpu = dict.fromkeys(labels, float("inf"))
        client = dict.fromkeys(labels, float("inf"))
        machine = dict.fromkeys(labels, float("inf"))
        for r in range(args.rounds):
            order = labels[r % len(labels):] + labels[:r % len(labels)]
            print(f"round {r + 1}/{args.rounds}: {', '.join(order)} ...", file=sys.stderr)
            for label, (elapsed, seconds, client_seconds, busy) in one_round(root / "runs", paths, order, expected,
                                                                             args.workers, args.pg_url).items():
                best[label] = min(best[label], elapsed)
                cpu[label] = min(cpu[label], seconds)
                client[label] = min(client[label], client_seconds)
                machine[label] = min(machine[label], busy)
    n = len(paths)
    shape = f"{args.workers} worker{'s' if args.workers > 1 else ''} + {'PostgreSQL' if args.pg_url else 'SQLite'}"
    parts = [f"ingest: {n} files {total_mb:.0f} MB, best of {args.rounds}, {shape}, load {os.getloadavg()[0]:.1f}"]
    names = {"sdk": "per-file", "sdk+assemble": "assembled", "orthanc": "orthanc", "orthanc-lean": "orthanc-lean"}
    for label in labels:
        resources = f" ({expected[label]} resources)" if label in expected else ""
        parts.append(f"{names[label]} {n / best[label]:.1f} files/s {total_mb / best[label]:.1f} MB/s "
                     f"CPU ms/file server {1000 * cpu[label] / n:.2f} client {1000 * client[label] / n:.2f} "
                     f"machine {1000 * machine[label] / n:.2f}"
                     f"{resources}")
    if "orthanc" in best:
        parts.append(f"per-file/orthanc {best['orthanc'] / best['sdk']:.2f}")
        parts.append(f"assembled/orthanc {best['orthanc'] / best['sdk+assemble']:.2f}")
        parts.append(f"per-file/orthanc-lean {best['orthanc-lean'] / best['sdk']:.2f}")
    print(" | ".join(parts))


if __name__ == "__main__":
    main()

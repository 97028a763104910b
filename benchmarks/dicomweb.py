"""DICOMweb read latency: a QIDO-RS study search among 100k instances and the WADO-RS metadata of a
2,000-instance series, on our server and on Orthanc's DICOMweb plugin.

The archive (the same instances on both sides): ``--instances`` small CT instances (8×8 pixels),
one study with one series of ``--series-size`` instances (patient ``LARGE^S000000``), the rest in
studies of two series × 10 instances, patients named ``<one of 10 surnames>^P<n>``, study dates
spread over 2015–2024.

- **Ours** (a fresh server in a temporary folder, SQLite or ``--database-url`` PostgreSQL: a fresh
  database there, dropped afterwards): populating 100k instances through HTTP would take long, so
  the rows an upload writes (``resources`` and the DICOM index: ``dicom_studies``,
  ``dicom_series``, ``dicom_instances`` with the header bytes the upload's parse cuts out, made by
  the same ``index_entry`` from the same bytes) are bulk-inserted and their counts checked; the big
  series' files are also put in the blob store (metadata never reads them). Then planner
  statistics (``ANALYZE``; on PostgreSQL ``VACUUM (ANALYZE)`` as autovacuum would), and
  ``datamint server run`` serves it in a subprocess.
- **Orthanc** (Debian ``orthanc`` + ``orthanc-dicomweb``, a fresh instance in a temporary folder,
  its default SQLite index, DICOMweb plugin on its defaults: series metadata in ``Full`` mode,
  i.e. what a viewer needs): the same instances are posted as ZIP archives of 1,000 to
  ``/instances`` (two at a time; the storage is not fsynced while populating, which changes no
  read) and ``/statistics`` must count them all. The population time is printed to stderr.

Timed over HTTP on loopback (one client, keep-alive) after one untimed search for a study that
does not exist (it starts the connection; our server builds its router on its first request):
best of ``--rounds`` after the first request, and the first one too (our first metadata request
turns the 2,000 stored headers into DICOM JSON and keeps it; Orthanc has no such cache: each
request reads the 2,000 files). Every answer is checked: the study search answers min(expected, 100) studies that
all match, each with its 20 instances counted, and the metadata has one object per instance with
the series' SOP Instance UIDs.

usage: python benchmarks/dicomweb.py [--instances 100000] [--series-size 2000] [--rounds 5]
       [--database-url postgresql+psycopg://root@127.0.0.1/test] [--no-orthanc]

Prints one line: the archive, then for ours and Orthanc the QIDO and metadata times (best, first).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import sqlalchemy as sa
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotations import running_server  # noqa: E402
from ingest import free_port, wait_for  # noqa: E402
from list_resources import database  # noqa: E402

SURNAMES = ("SMITH", "JONES", "BROWN", "DAVIS", "EVANS", "CLARK", "WHITE", "GREEN", "LEWIS", "SCOTT")
SERIES_PER_STUDY, PER_SERIES = 2, 10
QUERY = {"PatientName": "SMITH*", "StudyDate": "20180101-20201231", "limit": "100"}
ROOT = "1.2.826.0.1.3680043.10.543"  # UIDs below a fixed root: the same archive every run
BIG = 0  # the study number of the big series
ORTHANC_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def study_of(k: int) -> tuple[str, str]:
    """Patient name and study date of study ``k`` (k ≥ 1)."""
    day = date(2015, 1, 1) + timedelta(days=k * 37 % 3650)
    return f"{SURNAMES[k % len(SURNAMES)]}^P{k:06d}", day.strftime("%Y%m%d")


def layout(instances: int, series_size: int) -> list[tuple[int, int, int]]:
    """(study, series, instance number) of every instance; study 0 is the big series."""
    items = [(BIG, 1, i + 1) for i in range(series_size)]
    k = 1
    while len(items) < instances:
        for s in range(1, SERIES_PER_STUDY + 1):
            items += [(k, s, i + 1) for i in range(PER_SERIES)]
        k += 1
    return items[:instances]


def expected_studies(items: list[tuple[int, int, int]]) -> int:
    low, high = QUERY["StudyDate"].split("-")
    studies = {k for k, _, _ in items if k != BIG}
    return sum(1 for k in studies if study_of(k)[0].startswith("SMITH") and low <= study_of(k)[1] <= high)


def uids(k: int, s: int, i: int) -> tuple[str, str, str]:
    """Study, series and SOP Instance UIDs (fixed width: see :func:`instance_bytes`)."""
    return f"{ROOT}.1.{100000 + k}", f"{ROOT}.2.{100000 + k}.{s}", f"{ROOT}.3.{100000 + k}.{s}.{10000 + i}"


def _values(k: int, s: int, i: int) -> dict[str, str]:
    """The per-instance values, all of a fixed width, so a template's bytes can take them."""
    study, series, sop = uids(k, s, i)
    name, day = ("LARGE^S000000", "20100101") if k == BIG else study_of(k)
    return {"sop": sop, "series": series, "study": study, "frame": f"{ROOT}.4.{100000 + k}", "name": name,
            "pid": f"ID{k:06d}", "acc": f"A{k:06d}", "sid": f"S{k:06d}", "date": day, "num": f"{i:05d}",
            "z": f"{i * 1.25:08.2f}"}


def _dataset(v: dict[str, str], s: int) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, v["sop"]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, v["sop"]
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = v["name"], v["pid"], "19700101", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = v["study"], v["series"], v["frame"]
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = v["date"], "120000", v["acc"], v["sid"]
    ds.StudyDescription, ds.SeriesDescription = "CHEST", f"series {s}"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", s, v["num"]
    ds.ImagePositionPatient, ds.ImageOrientationPatient = ["0", "0", v["z"]], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 1.25
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelData = np.arange(64, dtype=np.int16).reshape(8, 8).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


_TEMPLATES: dict[int, bytes] = {}
_MARKS = {"sop": f"{ROOT}.3.999999.9.99999", "series": f"{ROOT}.2.999999.9", "study": f"{ROOT}.1.999999",
          "frame": f"{ROOT}.4.999999", "name": "QQQQQ^Q999999", "pid": "ID999999", "acc": "A999999",
          "sid": "S999999", "date": "20991231", "num": "88888", "z": "77777.77"}


def instance_bytes(k: int, s: int, i: int) -> bytes:
    """One small CT instance as a DICOM file (pydicom writes one template per series number, whose
    marker values are replaced: pydicom takes 4 ms to write one file, 100k would take minutes)."""
    if s not in _TEMPLATES:
        _TEMPLATES[s] = _dataset(_MARKS, s)
    raw = _TEMPLATES[s]
    for key, value in _values(k, s, i).items():
        raw = raw.replace(_MARKS[key].encode(), value.encode())
    return raw


def entry_of(k: int, s: int, i: int, raw: bytes) -> Any:
    """What the upload's ``index_entry`` makes of the instance (checked against it on a sample:
    parsing 100k files would take minutes)."""
    from datamint.imaging.dicom_header import DicomIndexEntry, fuzzy_key

    v = _values(k, s, i)
    return DicomIndexEntry(
        study={"study_uid": v["study"], "patient_name": v["name"], "patient_name_key": fuzzy_key(v["name"]),
               "patient_id": v["pid"], "patient_birth_date": "19700101", "patient_sex": "F",
               "study_date": v["date"], "study_time": "120000", "accession_number": v["acc"],
               "study_id": v["sid"], "study_description": "CHEST", "referring_physician_name": None},
        series={"series_uid": v["series"], "study_uid": v["study"], "modality": "CT", "series_number": s,
                "series_description": f"series {s}", "body_part_examined": None, "series_date": None},
        instance={"study_uid": v["study"], "series_uid": v["series"], "instance_uid": v["sop"],
                  "sop_class_uid": CTImageStorage, "instance_number": i, "number_of_frames": 1, "rows": 8,
                  "columns": 8, "transfer_syntax_uid": ExplicitVRLittleEndian},
        header=raw[:len(raw) - 128 - 12])  # the bytes before Pixel Data (8×8×2 bytes, 12-byte element header)


def check_synthesis(items: list[tuple[int, int, int]]) -> None:
    """A sample of instances: the template's bytes are what pydicom writes, and the index entry is
    the upload's."""
    from datamint.imaging.dicom_header import index_entry

    for k, s, i in items[::max(1, len(items) // 50)]:
        raw = instance_bytes(k, s, i)
        assert raw == _dataset(_values(k, s, i), s), (k, s, i)
        assert index_entry(pydicom.dcmread(io.BytesIO(raw)), raw) == entry_of(k, s, i, raw), (k, s, i)


# -- ours ---------------------------------------------------------------------------------------

def fill_ours(data_dir: Path, url: str, key: str, items: list[tuple[int, int, int]]) -> None:
    """Bulk-insert the rows an upload of every instance writes; the big series' files too."""
    from sqlalchemy import func, insert, select

    from datamint.server.app import create_app
    from datamint.server.auth.service import authenticate
    from datamint.server.config import Settings
    from datamint.server.db.base import utcnow
    from datamint.server.resources.ingest import blob_key
    from datamint.server.resources.models import DicomInstance, DicomSeries, DicomStudy, Resource
    from datamint.server.resources.wire import storage_for

    app = create_app(Settings(data_dir=data_dir, database_url=url, admin_api_key=key))
    db, store, now = app.state.database, app.state.blob_store, utcnow()
    with db.transaction() as session:
        me = authenticate(session, key)
    studies: set[str] = set()
    series: set[str] = set()
    for start in range(0, len(items), 10_000):
        resources, study_rows, series_rows, instance_rows = [], [], [], []
        for n, (k, s, i) in enumerate(items[start:start + 10_000], start):
            raw = instance_bytes(k, s, i)
            entry = entry_of(k, s, i, raw)
            rid = str(uuid.UUID(int=n + 1, version=4))
            location = blob_key(me.customer_id, rid) if k == BIG else f"x/{rid}"
            if k == BIG:
                store.put(location, raw)
            resources.append(dict(
                id=rid, customer_id=me.customer_id, storage=storage_for("application/dicom"), location=location,
                filename=f"{n}.dcm", mimetype="application/dicom", size=len(raw), status="published",
                modality="CT", file_metadata={}, upload_channel="bench", upload_mechanism="api",
                created_at=now - timedelta(seconds=n), created_by=me.email, created_by_id=me.user_id,
                published=True, deleted=False, instance_uid=entry.instance["instance_uid"],
                series_uid=entry.series["series_uid"], study_uid=entry.study["study_uid"],
                patient_id=entry.study["patient_id"]))
            if entry.study["study_uid"] not in studies:
                studies.add(entry.study["study_uid"])
                study_rows.append(dict(customer_id=me.customer_id, **entry.study))
            if entry.series["series_uid"] not in series:
                series.add(entry.series["series_uid"])
                series_rows.append(dict(customer_id=me.customer_id, **entry.series))
            instance_rows.append(dict(resource_id=rid, customer_id=me.customer_id, header=entry.header,
                                      header_json=None, **entry.instance))
        with db.transaction() as session:
            session.execute(insert(Resource), resources)
            if study_rows:
                session.execute(insert(DicomStudy), study_rows)
            if series_rows:
                session.execute(insert(DicomSeries), series_rows)
            session.execute(insert(DicomInstance), instance_rows)
    with db.transaction() as session:
        counts = [session.scalar(select(func.count()).select_from(t))
                  for t in (Resource, DicomStudy, DicomSeries, DicomInstance)]
    assert counts == [len(items), len(studies), len(series), len(items)], counts
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("resources", "dicom_studies", "dicom_series", "dicom_instances"):
                conn.execute(sa.text(f"VACUUM (ANALYZE) {table}"))
    app.state.upload_janitor.sweep()  # SQLite: ANALYZE, as at every start
    db.dispose()


# -- Orthanc ------------------------------------------------------------------------------------

def start_orthanc(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    http_port, dicom_port = free_port(), free_port()
    config = {"Name": "bench", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
              "HttpPort": http_port, "DicomPort": dicom_port, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "Plugins": [ORTHANC_PLUGIN], "ConcurrentJobs": 2,
              "SyncStorageArea": False,  # populating only: reads do not depend on it
              "StorageCompression": False, "HttpThreadsCount": 50, "KeepAlive": True,
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - kept open for Orthanc's life
    proc = subprocess.Popen([shutil.which("Orthanc") or "Orthanc", str(folder / "orthanc.json")], stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"
    wait_for(f"{base}/system", proc, "Orthanc")
    return proc, base


def fill_orthanc(base: str, items: list[tuple[int, int, int]]) -> float:
    """Post every instance in ZIP archives of 1,000; seconds it took."""
    def post(batch: list[tuple[int, int, int]]) -> None:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
            for k, s, i in batch:
                z.writestr(f"{k}_{s}_{i}.dcm", instance_bytes(k, s, i))
        response = httpx.post(f"{base}/instances", content=archive.getvalue(), timeout=600,
                              headers={"content-type": "application/zip"})
        response.raise_for_status()
        answers = response.json()
        assert len(answers) == len(batch) and all(a["Status"] == "Success" for a in answers), answers[:2]

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(post, [items[i:i + 1000] for i in range(0, len(items), 1000)]))
    elapsed = time.perf_counter() - started
    stored = httpx.get(f"{base}/statistics", timeout=60).json()["CountInstances"]
    assert stored == len(items), f"Orthanc stored {stored} of {len(items)} instances"
    return elapsed


# -- timing -------------------------------------------------------------------------------------

def check_studies(body: list[dict], expected: int, instances_counted: bool) -> None:
    low, high = QUERY["StudyDate"].split("-")
    assert len(body) == min(expected, 100), (len(body), expected)
    for study in body:
        assert study["00100010"]["Value"][0]["Alphabetic"].startswith("SMITH"), study["00100010"]
        assert low <= study["00080020"]["Value"][0] <= high, study["00080020"]
        if instances_counted:
            assert study["00201208"]["Value"] == [SERIES_PER_STUDY * PER_SERIES], study["00201208"]


def check_metadata(body: list[dict], series_size: int) -> None:
    got = sorted(item["00080018"]["Value"][0] for item in body)
    assert got == sorted(uids(BIG, 1, i + 1)[2] for i in range(series_size)), (len(got), series_size)


def measure(client: httpx.Client, root: str, rounds: int, expected: int, series_size: int,
            counted: bool) -> dict[str, tuple[float, float]]:
    """(first, best) seconds of the study search and of the series metadata."""
    study, series, _ = uids(BIG, 1, 1)
    query = "?" + "&".join(f"{k}={v}" for k, v in QUERY.items())
    requests = {"qido": (f"{root}/studies", query, lambda b: check_studies(b, expected, counted)),
                "metadata": (f"{root}/studies/{study}/series/{series}/metadata", "",
                             lambda b: check_metadata(b, series_size))}
    # untimed: the first request to a FastAPI router builds its routes' dependencies (a second or
    # so, whatever the route); a search for a study that does not exist reads almost nothing
    warm_up = client.get(f"{root}/studies?StudyInstanceUID=1.2.3", headers={"accept": "application/dicom+json"})
    assert warm_up.status_code in (200, 204) and warm_up.content.strip() in (b"", b"[]"), warm_up.text[:200]
    result = {}
    for label, (path, query, check) in requests.items():
        times = []
        for _ in range(rounds + 1):
            started = time.perf_counter()
            # the query string as written (Orthanc 1.10 does not decode %2A in a query value)
            response = client.get(path + query, headers={"accept": "application/dicom+json"})
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, (label, response.status_code, response.text[:300])
            check(response.json())
        result[label] = (times[0], min(times[1:]))
    return result


def report(results: dict[str, dict[str, tuple[float, float]]], dialect: str, instances: int, studies: int,
           args: argparse.Namespace) -> None:
    parts = [f"dicomweb ({dialect}): {instances} instances {studies} studies, best of {args.rounds} (first)"]
    for side, figures in results.items():
        qido, meta = figures["qido"], figures["metadata"]
        parts.append(f"{side} qido {qido[1] * 1000:.1f} ms ({qido[0] * 1000:.0f}) "
                     f"series metadata x{args.series_size} {meta[1] * 1000:.0f} ms ({meta[0] * 1000:.0f})")
    if "orthanc" in results:
        ratio = [results["orthanc"][k][1] / results["ours"][k][1] for k in ("qido", "metadata")]
        parts.append(f"orthanc/ours qido {ratio[0]:.2f} metadata {ratio[1]:.2f}")
    print(" | ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--series-size", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="best of this many requests (after the first)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite in a temp folder)")
    parser.add_argument("--no-orthanc", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    # MLflow is not used here; its warm-up imports it in a background thread for seconds after the
    # start, which would slow the first (cold) requests measured here
    os.environ["DATAMINT_SERVER_MLFLOW_WARMUP"] = "false"
    items = layout(args.instances, args.series_size)
    check_synthesis(items)
    expected = expected_studies(items)
    studies = 1 + len({k for k, _, _ in items if k != BIG})
    with_orthanc = not args.no_orthanc and shutil.which("Orthanc") is not None and os.path.exists(ORTHANC_PLUGIN)
    if not with_orthanc and not args.no_orthanc:
        print("Orthanc or its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb): "
              "no comparison", file=sys.stderr)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="datamint-bench-dicomweb-") as tmp:
        root = Path(tmp)
        with database(args.database_url, tmp) as url:
            key = f"dmk_bench_{uuid.uuid4().hex}"
            started = time.perf_counter()
            (root / "ours").mkdir()
            fill_ours(root / "ours" / "data", url, key, items)
            print(f"ours: {len(items)} instances written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            with running_server(root / "ours" / "data", url, key) as (base, _), \
                    httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=600) as client:
                results["ours"] = measure(client, f"{base}/dicomweb", args.rounds, expected, args.series_size, True)
            dialect = sa.engine.make_url(url).get_backend_name()
        if with_orthanc:
            proc, base = start_orthanc(root / "orthanc")
            try:
                elapsed = fill_orthanc(base, items)
                print(f"orthanc: {len(items)} instances posted in {elapsed:.0f} s "
                      f"({len(items) / elapsed:.0f}/s)", file=sys.stderr)
                with httpx.Client(timeout=600) as client:
                    results["orthanc"] = measure(client, f"{base}/dicom-web", args.rounds, expected,
                                                 args.series_size, False)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(120)
        report(results, dialect, len(items), studies, args)  # before the temporary folder goes (slow)


if __name__ == "__main__":
    main()

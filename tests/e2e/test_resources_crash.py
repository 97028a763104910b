"""A server killed in the middle of an upload leaves no orphan blob and no partial record.

The upload spools a large body to a ``.part`` file, then writes an intent row, the blob, and the
resource row (deleting the intent in the same transaction). These tests kill a real server process
while its spool file is being written (on each backend), and recreate the one window a kill cannot
hit reliably (blob stored, row not yet committed), then check that the janitor — at start-up and on
its own — removes what was left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from datamint.server.db.session import Database
from datamint.server.resources.ingest import blob_key
from datamint.server.resources.janitor import UploadJanitor
from datamint.server.resources.models import Resource, UploadIntent
from datamint.server.storage.local import LocalBlobStore
from imaging_samples import pydicom_file

from conftest import BACKENDS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data_dir: Path, port: int, key: str, database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": key, "DATAMINT_SERVER_ORPHAN_UPLOAD_MINUTES": "0",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(port), "--data-dir",
           str(data_dir), "--database-url", database_url, "--no-write-sdk-config"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def _state(data_dir: Path, database_url: str) -> tuple[int, int, list[Path]]:
    """(resource rows, upload intents, stored blobs)."""
    db = Database(database_url)
    try:
        with db.transaction() as session:
            rows = session.scalar(select(func.count()).select_from(Resource))
            intents = session.scalar(select(func.count()).select_from(UploadIntent))
    finally:
        db.dispose()
    return rows, intents, sorted((data_dir / "blobs").rglob("original"))


def _spooled(data_dir: Path) -> list[Path]:
    """Spool and temp files anywhere in the data folder."""
    return sorted(data_dir.rglob("*.part"))


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'srv' / 'datamint.sqlite3'}"
    return request.getfixturevalue("own_pg_database")


@pytest.mark.timeout(180)
def test_kill_mid_request_then_restart_leaves_nothing(tmp_path, database_url):
    data_dir, port, key = tmp_path / "srv", _free_port(), f"dmk_test_{uuid.uuid4().hex}"
    proc = _start(data_dir, port, key, database_url)
    sent = threading.Event()

    def slow_body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"resource\"; filename=\"big.dcm\"\r\n"
        yield b"Content-Type: application/dicom\r\n\r\n" + open(pydicom_file("CT_small.dcm"), "rb").read()
        yield b"\0" * (2 << 20)  # past the in-memory limit: the server now writes a spool file
        sent.set()
        for _ in range(600):
            time.sleep(0.05)
            yield b"\0" * 65536

    def upload() -> None:
        try:
            httpx.post(f"http://127.0.0.1:{port}/resources", content=slow_body(), timeout=60,
                       headers={"apikey": key, "content-type": "multipart/form-data; boundary=b"})
        except httpx.HTTPError:
            pass  # the server dies under it

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    assert sent.wait(30)
    deadline = time.monotonic() + 30
    while not _spooled(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    (spool,) = _spooled(data_dir)  # the kill hits a request that has written to disk
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    thread.join(30)
    assert _state(data_dir, database_url) == (0, 0, [])
    assert _spooled(data_dir) == [spool] and spool.stat().st_size > (1 << 20)  # what the kill left

    # The window between storing the blob and committing the row, as a kill there leaves it.
    db = Database(database_url)
    store = LocalBlobStore(data_dir / "blobs")
    orphan_id = str(uuid.uuid4())
    key_of_orphan = blob_key("some-org", orphan_id)
    with db.transaction() as session:
        session.add(UploadIntent(id=orphan_id, customer_id="some-org", blob_key=key_of_orphan))
    store.put(key_of_orphan, b"DICM bytes of a half-finished upload")
    db.dispose()
    assert _state(data_dir, database_url)[1:] == (1, [data_dir / "blobs" / key_of_orphan])

    proc = _start(data_dir, port, key, database_url)  # the start-up sweep cleans up
    try:
        assert _state(data_dir, database_url) == (0, 0, [])
        assert _spooled(data_dir) == []
        ok = httpx.post(f"http://127.0.0.1:{port}/resources", headers={"apikey": key},
                        files={"resource": ("ct.dcm", open(pydicom_file("CT_small.dcm"), "rb"), "application/dicom")})
        assert ok.status_code == 201
        rows, intents, blobs = _state(data_dir, database_url)
        assert (rows, intents, len(blobs)) == (1, 0, 1)
        assert _spooled(data_dir) == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_janitor_sweeps_only_abandoned_uploads(server):
    store = server.app.state.blob_store
    database = server.database
    abandoned, young, committed = (str(uuid.uuid4()) for _ in range(3))
    with database.transaction() as session:
        for rid in (abandoned, young):
            session.add(UploadIntent(id=rid, customer_id="org", blob_key=blob_key("org", rid)))
    for rid in (abandoned, young):
        store.put(blob_key("org", rid), b"x")
    with database.transaction() as session:
        old = session.get(UploadIntent, abandoned)
        old.started_at = old.started_at - timedelta(hours=2)
    janitor = UploadJanitor(database, store, max_age=timedelta(minutes=60), interval=0)
    assert janitor.sweep() == 1
    assert not store.exists(blob_key("org", abandoned)) and store.exists(blob_key("org", young))
    with database.transaction() as session:
        assert session.get(UploadIntent, abandoned) is None and session.get(UploadIntent, young) is not None
        session.delete(session.get(UploadIntent, young))
    store.delete(blob_key("org", young))
    # An intent whose row was committed (cannot happen, but the janitor must not trust that) keeps its blob.
    api_key = server.admin_key
    response = httpx.post(f"{server.url}/resources", headers={"apikey": api_key},
                          files={"resource": ("ct.dcm", open(pydicom_file("CT_small.dcm"), "rb"), "application/dicom")})
    committed = response.json()["id"]
    location = response.json()["location"]
    with database.transaction() as session:
        session.add(UploadIntent(id=committed, customer_id="org", blob_key=location))
    assert UploadJanitor(database, store, max_age=timedelta(0), interval=0).sweep() == 0
    assert store.exists(location)
    with database.transaction() as session:
        assert session.get(UploadIntent, committed) is None

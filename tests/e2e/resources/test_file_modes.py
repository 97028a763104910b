"""Issue 9 §7: patient data on disk is private (files 0600, folders 0700), installs from before are
fixed on start, and upload spool leftovers are swept at start once older than the configured age."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from conftest import BACKENDS, start_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _upload(url: str, key: str, content: bytes = b"x" * 2048) -> dict:
    response = httpx.post(f"{url}/resources", headers={"apikey": key},
                          files={"resource": ("notes.bin", content, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()


def _blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file() and ".tmp" not in p.parts]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'datamint.sqlite3'}"
    return request.getfixturevalue("own_pg_database")


def _serve(request, data_dir: Path, database_url: str, **settings):
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    return start_server(backend, request, data_dir, database_url=database_url, **settings)


def _assert_private(data_dir: Path, database_url: str) -> None:
    assert _mode(data_dir) == 0o700
    blobs = _blob_files(data_dir)
    assert blobs, "the upload left no blob"
    for blob in blobs:
        assert _mode(blob) == 0o600, blob
        for folder in blob.relative_to(data_dir).parents:
            assert _mode(data_dir / folder) == 0o700, folder
    if database_url.startswith("sqlite"):
        for name in ("datamint.sqlite3", "datamint.sqlite3-wal", "datamint.sqlite3-shm"):
            assert _mode(data_dir / name) == 0o600, name


def test_data_is_private_even_with_a_permissive_umask(request, tmp_path, database_url):
    old = os.umask(0o022)  # the umask of the test process; the server must not depend on its own
    try:
        server = _serve(request, tmp_path / "data", database_url)
        srv = next(server)
        _upload(srv.url, srv.admin_key)
        _assert_private(srv.data_dir, database_url)
        server.close()
    finally:
        os.umask(old)


def test_an_install_from_before_is_made_private_on_start(request, tmp_path, database_url):
    data_dir = tmp_path / "data"
    server = _serve(request, data_dir, database_url)
    srv = next(server)
    _upload(srv.url, srv.admin_key)
    server.close()
    (data_dir / "blobs" / ".tmp" / ".private-modes").unlink()
    for path in [data_dir, *data_dir.rglob("*")]:  # as an older version left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    server = _serve(request, data_dir, database_url)
    next(server)
    _assert_private(data_dir, database_url)
    server.close()


def test_spool_leftovers_are_swept_at_start_by_age(request, tmp_path, database_url):
    data_dir = tmp_path / "data"
    server = _serve(request, data_dir, database_url)
    next(server)
    server.close()
    spools = [data_dir / "blobs" / ".tmp", data_dir / "upload-spool"]
    hour_ago = time.time() - 3600
    for folder in spools:
        folder.mkdir(exist_ok=True)
        (folder / "upload-old.part").write_bytes(b"left by a crash")
        os.utime(folder / "upload-old.part", (hour_ago, hour_ago))
        (folder / "upload-new.part").write_bytes(b"an upload in progress elsewhere")
    server = _serve(request, data_dir, database_url, spool_max_age_minutes=20)
    next(server)
    for folder in spools:
        assert sorted(p.name for p in folder.glob("*.part")) == ["upload-new.part"], folder
    server.close()

"""A dataset version's manifest comes from the server; the PyTorch datasets build local paths from
the file hashes it names. A hostile or broken server that names a file ``../../..`` must not make
the client create folders or write files outside the dataset's folder.

The server here is a small hostile HTTP server on loopback (our own server never sends such a
manifest: it computes the hashes itself), driven through the real SDK over real HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datamint.dataset import DatamintDatasetException
from datamint.dataset.sources import Connection, VersionSource

EVIL_SHA = "../../../escaped/owned"
DID = "123e4567-e89b-12d3-a456-426614174000"
PAYLOAD = b"not what the manifest promised"


def _manifest() -> dict:
    return {"version": {"number": 1, "name": "v1"}, "dataset": {"id": DID}, "label_schema": {},
            "resources": [{"id": "r1", "filename": "a.dcm", "mimetype": "application/dicom",
                           "sha256": EVIL_SHA, "size": len(PAYLOAD)}],
            "annotations": []}


class _Hostile(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        body = json.dumps(_manifest()).encode() if self.path.endswith("/manifest") else PAYLOAD
        self.send_response(200)
        self.send_header("content-type", "application/json" if self.path.endswith("/manifest")
                         else "application/octet-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def hostile_server():
    _Hostile.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_manifest_hash_with_dot_dot_is_refused_before_any_path_is_made(hostile_server, tmp_path):
    folder = tmp_path / "root" / "datasets" / "d1"
    source = VersionSource(Connection(hostile_server, "key"), folder, DID, "latest")
    with pytest.raises(DatamintDatasetException, match=r"invalid SHA-256 '\.\./\.\./\.\./escaped/owned'"):
        source.load(download=True, progress_bar=False)
    # Nothing outside the dataset's folder, and no blob was asked for.
    outside = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if folder not in (p, *p.parents))
    assert outside == ["root", "root/datasets"]
    assert [p for p in _Hostile.requests if "/blobs/" in p] == []
    assert [p for p in _Hostile.requests if p.endswith("/manifest")] == [f"/datasets/{DID}/versions/latest/manifest"]


def test_blob_path_accepts_only_hex_digests(tmp_path):
    source = VersionSource(None, tmp_path, None, 1)
    good = "ab" + "0" * 62
    assert source.blob_path(good, ".dcm") == tmp_path / "blobs" / "ab" / f"{good}.dcm"
    for bad in ("", "/etc/passwd" + "0" * 53, "AB" + "0" * 62, "ab" + "0" * 61, "..", None):
        with pytest.raises(DatamintDatasetException, match="invalid SHA-256"):
            source.blob_path(bad)  # type: ignore[arg-type]

"""Issue 9 §7: an upload retried after a lost answer creates no duplicate (``Idempotency-Key``).

The key is held by a unique constraint (user, key): 16 identical requests at once leave one
resource, and every one of them answers with it. The SDK sends a key per file; a proxy that drops
the first answer makes it retry, and the retry gets the first resource back.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from datamint import Api
from datamint.server.resources.models import Resource, UploadIdempotency, UploadIntent


def _post(url: str, key: str, content: bytes, idem: str | None, name: str, **fields: str) -> httpx.Response:
    headers = {"apikey": key}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return httpx.post(f"{url}/resources", headers=headers, timeout=60, data=fields,
                      files={"resource": (name, content, "application/octet-stream")})


def _count(server, name: str) -> int:
    with server.database.session() as session:
        return session.scalar(select(func.count()).select_from(Resource).where(Resource.filename == name))


def _blob_count(server) -> int | None:
    blobs = server.data_dir / "blobs"
    return sum(1 for p in blobs.rglob("*") if p.is_file() and ".tmp" not in p.parts)


def test_a_repeated_upload_returns_the_first_resource(server):
    name, idem, content = f"{uuid.uuid4().hex}.bin", str(uuid.uuid4()), os.urandom(4096)
    blobs = _blob_count(server)
    first = _post(server.url, server.admin_key, content, idem, name)
    assert first.status_code == 201, first.text
    again = _post(server.url, server.admin_key, content, idem, name)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate_of"] == first.json()["duplicate_of"] is None
    assert _count(server, name) == 1
    assert _blob_count(server) == blobs + 1
    other = _post(server.url, server.admin_key, content, str(uuid.uuid4()), name)  # a new key: a new upload
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert other.json()["duplicate_of"] == first.json()["id"]


def test_the_same_key_with_another_file_is_refused(server):
    name, idem = f"{uuid.uuid4().hex}.bin", str(uuid.uuid4())
    assert _post(server.url, server.admin_key, b"first file", idem, name).status_code == 201
    refused = _post(server.url, server.admin_key, b"another file", idem, name)
    assert refused.status_code == 422 and "different file" in refused.json()["message"]
    assert _count(server, name) == 1


def test_the_same_key_with_other_fields_is_refused(server):
    """The key stands for the whole request: the same file sent again with the key but other fields
    (another project, other tags, another channel, a published status) is 422, and nothing of the
    second request is applied (the resource is not added to the other project, its tags stay)."""
    headers = {"apikey": server.admin_key}
    projects = [httpx.post(f"{server.url}/projects", headers=headers,
                           json={"name": f"idem-{uuid.uuid4().hex[:8]}"}).json()["id"] for _ in range(2)]
    name, idem, content = f"{uuid.uuid4().hex}.bin", str(uuid.uuid4()), os.urandom(2048)
    fields = {"project_id": projects[0], "tags": "a,b", "channel": "first"}
    first = _post(server.url, server.admin_key, content, idem, name, **fields)
    assert first.status_code == 201, first.text
    again = _post(server.url, server.admin_key, content, idem, name, **fields)  # the same request: a replay
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    for change in ({"project_id": projects[1]}, {"tags": "b,a"}, {"channel": "second"}, {"bypass_inbox": "true"}):
        refused = _post(server.url, server.admin_key, content, idem, name, **{**fields, **change})
        assert refused.status_code == 422, (change, refused.text)
        assert refused.json()["message"] == ("This Idempotency-Key was already used for this file with other "
                                             "fields; send each upload with a key of its own")
    assert _count(server, name) == 1
    listed = [[r["id"] for r in httpx.get(f"{server.url}/projects/{pid}/resources", headers=headers).json()]
              for pid in projects]
    assert listed == [[first.json()["id"]], []]
    stored = httpx.get(f"{server.url}/resources/{first.json()['id']}", headers=headers).json()
    assert (stored["tags"], stored["upload_channel"], stored["status"]) == (["a", "b"], "first", "inbox")


def test_keys_belong_to_their_user(server):
    _, other_key = server.new_user(roles=["admin"])
    name, idem, content = f"{uuid.uuid4().hex}.bin", str(uuid.uuid4()), b"shared key"
    mine = _post(server.url, server.admin_key, content, idem, name)
    theirs = _post(server.url, other_key, content, idem, name)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize("bad", ["", "x" * 256, "k\u00e9y", "two words"])
def test_a_malformed_key_is_422(server, bad):
    name = f"{uuid.uuid4().hex}.bin"
    response = httpx.post(f"{server.url}/resources", timeout=30,
                          headers={"apikey": server.admin_key, "Idempotency-Key": bad.encode("utf-8")},
                          files={"resource": (name, b"data", "application/octet-stream")})
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["message"]
    assert _count(server, name) == 0


def test_16_concurrent_retries_leave_one_resource(server):
    name, idem, content = f"{uuid.uuid4().hex}.bin", str(uuid.uuid4()), os.urandom(256 * 1024)
    blobs = _blob_count(server)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _post(server.url, server.admin_key, content, idem, name), range(16)))
    assert [a.status_code for a in answers] == [201] * 16, [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _count(server, name) == 1
    assert _blob_count(server) == blobs + 1  # the losers' blobs were removed
    with server.database.session() as session:
        assert session.scalar(select(func.count()).select_from(UploadIntent)) == 0
        assert session.scalar(select(func.count()).select_from(UploadIdempotency)
                              .where(UploadIdempotency.idem_key == idem)) == 1


class _LoseFirstAnswer:
    """A TCP proxy in front of the server that forwards the first request but drops its answer
    (it closes the client's connection once the server starts answering), then relays normally."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.dropped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            drop = not self.dropped.is_set()
            threading.Thread(target=self._relay, args=(client, drop), daemon=True).start()

    def _relay(self, client: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if drop:
                    self.dropped.set()
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_the_sdk_retries_a_lost_upload_answer_without_a_duplicate(server, tmp_path: Path):
    proxy = _LoseFirstAnswer(server.url)
    path = tmp_path / f"{uuid.uuid4().hex}.bin"
    path.write_bytes(os.urandom(8192))
    api = Api(proxy.url, server.admin_key, max_retries=2, check_connection=False)
    try:
        rid = api.resources.upload_resource(str(path), mimetype="application/octet-stream")
    finally:
        api.close()
        proxy.close()
    assert proxy.dropped.is_set() and proxy.connections >= 2  # the first answer was lost, then retried
    assert _count(server, path.name) == 1
    with server.database.session() as session:
        row = session.scalar(select(Resource).where(Resource.filename == path.name))
        assert row is not None and str(rid) == row.id

"""Import sessions under bad input and concurrency: each refusal is a 4xx naming what was wrong and
leaves no file or blob behind; 16 concurrent adds never take a session past its file limit."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from datamint.server.formats import sessions


@pytest.fixture
def project(api):
    return api.projects.create(f"sessions-{uuid.uuid4().hex[:8]}", "sessions")


def _open(server, project_id: str, key: str | None = None) -> str:
    response = httpx.post(f"{server.url}/projects/{project_id}/imports", headers={"apikey": key or server.admin_key},
                          timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _add(server, session_id: str, name: str, data: bytes, key: str | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/imports/{session_id}/files", files={"file": ("f", data)}, data={"name": name},
                      headers={"apikey": key or server.admin_key}, timeout=30)


def _blobs(server, session_id: str) -> list[Path]:
    return [p for p in Path(server.data_dir).rglob("*") if p.is_file() and f"imports/{session_id}" in p.as_posix()]


def test_bad_files_are_refused_with_a_reason_and_leave_nothing(server, project):
    session_id = _open(server, project.id)
    traversal = _add(server, session_id, "../../etc/passwd", b"x")
    assert traversal.status_code == 422 and "is not a relative path" in traversal.json()["message"]
    empty = _add(server, session_id, "a.json", b"")
    assert empty.status_code == 422 and empty.json()["message"] == "File 'a.json' is empty"
    assert _add(server, session_id, "dir/a.json", b"{}").status_code == 201
    twice = _add(server, session_id, "dir/a.json", b"{}")
    assert twice.status_code == 409 and "already has a file named 'dir/a.json'" in twice.json()["message"]
    files = httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30).json()
    assert [(f["name"], f["status"]) for f in files["files"]] == [("dir/a.json", "pending")]
    assert files["file_count"] == 1 and len(_blobs(server, session_id)) == 1
    unknown = _add(server, str(uuid.uuid4()), "b.json", b"{}")
    assert unknown.status_code == 404 and unknown.json()["message"] == "Import session not found"


def test_commit_rules(server, project):
    headers = {"apikey": server.admin_key}
    empty = _open(server, project.id)
    response = httpx.post(f"{server.url}/imports/{empty}/commit", json={}, headers=headers, timeout=30)
    assert response.status_code == 422 and "has no files" in response.json()["message"]
    session_id = _open(server, project.id)
    assert _add(server, session_id, "labels.json", b'{"labels": {}}').status_code == 201
    bad = httpx.post(f"{server.url}/imports/{session_id}/commit", json={"on_conflict": "merge"}, headers=headers,
                     timeout=30)
    assert bad.status_code == 422 and "on_conflict must be one of keep, skip, replace" in bad.json()["message"]
    first = httpx.post(f"{server.url}/imports/{session_id}/commit", json={}, headers=headers, timeout=30)
    assert first.status_code == 202 and first.json()["kind"] == "formats.import"
    late = _add(server, session_id, "more.json", b"{}")
    assert late.status_code == 409 and "was committed" in late.json()["message"]
    again = httpx.post(f"{server.url}/imports/{session_id}/commit", json={}, headers=headers, timeout=30)
    assert again.status_code == 409
    discard = httpx.delete(f"{server.url}/imports/{session_id}", headers=headers, timeout=30)
    assert discard.status_code == 409


def test_discarding_a_session_removes_its_files(server, project):
    session_id = _open(server, project.id)
    assert _add(server, session_id, "a.json", b"{}").status_code == 201
    assert len(_blobs(server, session_id)) == 1
    response = httpx.delete(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30)
    assert response.status_code == 204 and _blobs(server, session_id) == []
    gone = httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30)
    assert gone.status_code == 404


def test_another_users_session_does_not_exist_for_them(server, project):
    session_id = _open(server, project.id)
    _, stranger_key = server.new_user(["member"])
    assert _add(server, session_id, "a.json", b"{}", key=stranger_key).status_code == 404
    assert httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": stranger_key},
                     timeout=30).status_code == 404


def test_sixteen_concurrent_adds_stop_at_the_limit(server, project, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_FILES", 5)  # the server runs in this process: a lower limit to reach
    session_id = _open(server, project.id)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: _add(server, session_id, f"f{i}.json", b"{}").status_code, range(16)))
    assert statuses.count(201) == 5 and set(statuses) <= {201, 422, 409, 503}
    found = httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30).json()
    assert found["file_count"] == 5 and len(found["files"]) == 5 and len(_blobs(server, session_id)) == 5


def _zip(names: list[str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "{}")
    return buffer.getvalue()


def test_a_zips_members_count_against_the_session_limit(server, project, monkeypatch):
    """A zip is a folder of its members: each is a file row and a unit of the job. A zip of any
    number of members was taken as one file (a 10 MB zip of 100,000 empty members: 100,000 rows
    and transactions in the job)."""
    monkeypatch.setattr(sessions, "MAX_FILES", 5)  # the server runs in this process: a lower limit to reach
    session_id = _open(server, project.id)
    big = _add(server, session_id, "big.zip", _zip([f"m{i}.json" for i in range(6)]))
    assert big.status_code == 422, big.text
    assert big.json()["message"] == ("big.zip holds 6 entries; an import session takes at most 5 files (a zip's "
                                      "members count one each): split it into smaller zips and sessions")
    assert _add(server, session_id, "four.zip", _zip([f"m{i}.json" for i in range(4)])).status_code == 201
    two = _add(server, session_id, "two.zip", _zip(["a.json", "b.json"]))
    assert two.status_code == 422
    assert two.json()["message"] == ("An import session takes at most 5 files (a zip's members count one each); "
                                     "it has 4 and two.zip holds 2: commit this one and start another")
    assert _add(server, session_id, "last.json", b"{}").status_code == 201
    found = httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30).json()
    assert [f["name"] for f in found["files"]] == ["four.zip", "last.json"]
    assert found["file_count"] == 5 and len(_blobs(server, session_id)) == 2


def test_zip_members_outside_the_zip_or_named_twice_are_refused(server, project):
    """Such members were skipped (``../x.json``) or one overwrote the other (``a.json``,
    ``./a.json``) without a word: annotations left out silently."""
    session_id = _open(server, project.id)
    outside = _add(server, session_id, "up.zip", _zip(["ok.json", "../x.json"]))
    assert outside.status_code == 422
    assert outside.json()["message"] == "up.zip: member '../x.json' is not a relative path inside the zip"
    twice = _add(server, session_id, "twice.zip", _zip(["a.json", "./a.json"]))
    assert twice.status_code == 422
    assert twice.json()["message"] == "twice.zip: members 'a.json' and './a.json' name the same file 'a.json'"
    found = httpx.get(f"{server.url}/imports/{session_id}", headers={"apikey": server.admin_key}, timeout=30).json()
    assert found["files"] == [] and found["file_count"] == 0 and _blobs(server, session_id) == []

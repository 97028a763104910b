"""Issue 9 proof: the server's peak memory (``VmHWM``) stays under the documented bound.

The server runs as an operator runs it (``datamint server run`` in a subprocess, see
``tests/process_server.py``); after each hostile load the test reads its peak resident memory
from ``/proc/<pid>/status`` and compares it with the peak before. Bounds (docs/security.md,
"Limits"): an anonymous client costs the server O(1) memory — the peak grows by less than
``ANONYMOUS_MIB`` however much it sends, however many do it at once — and an authenticated upload
is streamed to disk (peak growth under ``UPLOAD_MIB`` for a file many times larger).

Other areas add their cases here (decompression bombs, hostile values): start one server per
backend with :func:`served`, measure with ``srv.peak_rss_mib()``.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import BACKENDS, fresh_pg_database
from process_server import ProcessServer, process_server
from rawhttp import connect, kernel_buffering_bytes, send_chunked_until_answer

#: Peak growth allowed for all the anonymous loads below together, in MiB.
ANONYMOUS_MIB = 16
#: Peak growth allowed for streaming a 96 MiB upload, in MiB.
UPLOAD_MIB = 32
MIB = 1024 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    """``datamint server run`` on each backend (PostgreSQL: a database of its own), shared by the
    tests of this module (each compares the peak with the peak before its own load)."""
    folder = tmp_path_factory.mktemp(f"memory-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'data' / 'datamint.sqlite3'}"
        else:
            url = stack.enter_context(fresh_pg_database())
        srv = stack.enter_context(process_server(folder / "data", url))
        with srv.client() as http:  # warm up: imports, pools, the first authenticated request
            assert http.get("/projects").status_code == 200
            assert http.post("/auth/session", json={"api_key": srv.admin_key}).status_code == 201
        yield srv


def _anonymous_flood(srv: ProcessServer, path: str, content_type: str, size: int, *, chunked: bool) -> None:
    answer, sent = send_chunked_until_answer(srv.url, "POST", path, {"Content-Type": content_type},
                                             b"\0" * (256 * 1024), max_bytes=size, timeout=30, chunked=chunked)
    assert answer is not None and answer.status == 401, (path, answer)
    assert sent < 32 * MIB, f"{path}: the server let an anonymous client push {sent / MIB:.0f} MiB"


def test_anonymous_bodies_cost_o1_memory(served):
    srv = served
    before = srv.peak_rss_mib()
    multipart = "multipart/form-data; boundary=x"
    # the example: head -c 400M /dev/zero | curl -X POST -T - -H 'Content-Type: multipart/...' /projects
    _anonymous_flood(srv, "/projects", multipart, 400 * MIB, chunked=True)
    _anonymous_flood(srv, "/projects", multipart, 400 * MIB, chunked=False)
    _anonymous_flood(srv, "/resources", multipart, 400 * MIB, chunked=True)
    _anonymous_flood(srv, "/dicomweb/studies", 'multipart/related; type="application/dicom"; boundary=x',
                     400 * MIB, chunked=False)
    with ThreadPoolExecutor(16) as pool:  # 16 at once
        list(pool.map(lambda _: _anonymous_flood(srv, "/projects", multipart, 64 * MIB, chunked=True), range(16)))
    grown = srv.peak_rss_mib() - before
    assert grown < ANONYMOUS_MIB, f"peak memory grew by {grown:.1f} MiB for anonymous bodies"
    spool = [p for p in srv.data_dir.rglob("*.part")]
    assert spool == [], "an anonymous body reached the disk"


def test_an_endless_header_is_cut_at_the_limit(served):
    """uvicorn keeps a request's headers without a limit; the server's protocol stops at
    max_header_kb (431) before the head completes."""
    srv = served
    before = srv.peak_rss_mib()
    with connect(srv.url, timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Padding: ")
        sent = 0
        try:
            while sent < 256 * MIB:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    # What the client got rid of includes what the two kernels buffered (up to 36 MiB here) while
    # the server was not scheduled; a server reading on would have taken all 256 MiB.
    assert sent < MIB + kernel_buffering_bytes() < 256 * MIB, f"the server read {sent / MIB:.0f} MiB of headers"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    grown = srv.peak_rss_mib() - before
    assert grown < ANONYMOUS_MIB, f"peak memory grew by {grown:.1f} MiB for an endless header"
    with httpx.Client() as http:  # a head under the limit still passes; one just over is 431
        assert http.get(f"{srv.url}/health", headers={"X-Padding": "a" * 16000}).status_code == 200
        assert http.get(f"{srv.url}/health", headers={"X-Padding": "a" * 40000}).status_code == 431


def test_an_authenticated_upload_is_streamed_not_held(served):
    srv = served
    before = srv.peak_rss_mib()
    payload = io.BytesIO(bytes(range(256)) * (96 * MIB // 256))  # stored as is: nothing decodes it
    with srv.client() as http:
        answer = http.post("/resources", files={"resource": ("big.bin", payload, "application/octet-stream")})
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == 96 * MIB
    grown = srv.peak_rss_mib() - before
    assert grown < UPLOAD_MIB, f"peak memory grew by {grown:.1f} MiB for a 96 MiB upload"


def test_many_small_files_are_held_up_to_the_request_budget(served):
    """A series upload of 1,600 files of 60 KiB (94 MiB, each under the 64 KiB a many-file upload
    keeps in memory): the parts past the request's 16 MiB budget are spooled, so the peak grows by
    less than ``UPLOAD_MIB``. The first file is not DICOM, so the request ends (422) once the body
    is received, before the series would be read and assembled."""
    srv = served
    before = srv.peak_rss_mib()
    files = [("resources", ("notes.txt", b"not an image", "text/plain"))]
    files += [("resources", (f"f{i}.dcm", i.to_bytes(4, "big") * (15 * 1024), "application/dicom"))
              for i in range(1600)]
    with srv.client() as http:
        answer = http.post("/resources/series", files=files)
    assert answer.status_code == 422 and "notes.txt is not a DICOM file" in answer.json()["message"]
    grown = srv.peak_rss_mib() - before
    assert grown < UPLOAD_MIB, f"peak memory grew by {grown:.1f} MiB for 1,600 files of 60 KiB"


def test_a_file_added_to_an_import_session_is_streamed_not_held(served):
    """``POST /imports/{id}/files`` read the whole file into memory before storing it (a 96 MiB file
    grew the server's peak by 44.6 MiB here, up to the file's size; a file may be 2 GiB, and sixteen
    at once). It is now copied from the spooled part to the blob store in chunks (0.0 MiB), a zip's
    members listed from the file."""
    srv = served
    with srv.client() as http:
        project = http.post("/projects", json={"name": f"import-memory-{uuid.uuid4().hex[:8]}",
                                               "description": "import memory"})
        assert project.status_code == 201, project.text
        opened = http.post(f"/projects/{project.json()['id']}/imports")
        assert opened.status_code == 201, opened.text
        session_id = opened.json()["id"]
        before = srv.peak_rss_mib()
        payload = io.BytesIO(bytes(range(256)) * (96 * MIB // 256))
        answer = http.post(f"/imports/{session_id}/files", files={"file": ("big.json", payload)},
                           data={"name": "big.json"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["size"] == 96 * MIB
        grown = srv.peak_rss_mib() - before
        found = http.get(f"/imports/{session_id}").json()
    assert found["total_bytes"] == 96 * MIB and [f["size"] for f in found["files"]] == [96 * MIB]
    assert grown < UPLOAD_MIB, f"peak memory grew by {grown:.1f} MiB for a 96 MiB file"


def test_a_label_map_with_many_labels_is_imported_one_mask_at_a_time(served, tmp_path):
    """A NIfTI label map became one boolean volume per label, all held until the file was written:
    a 64^3 map of 1,200 labels (a CT image imported as a label map by mistake has thousands) grew
    the server's peak by 271 MiB here, and a 256^3 map grows it by 16 MiB a label. Each mask is now
    stored (encoded) before the next one is made (0.0 MiB)."""
    import nibabel
    import numpy as np

    from datamint import Api

    srv = served
    shape, labels = (64, 64, 64), 1200
    image = tmp_path / "volume.nii.gz"
    nibabel.Nifti1Image(np.random.default_rng(7).integers(0, 99, shape).astype(np.int16), np.eye(4)).to_filename(image)
    label_map = (np.arange(np.prod(shape)).reshape(shape) % labels + 1).astype(np.int16)
    buffer = io.BytesIO()
    nibabel.Nifti1Image(label_map, np.eye(4)).to_filename(tmp_path / "volume_labels.nii.gz")
    buffer.write((tmp_path / "volume_labels.nii.gz").read_bytes())
    api = Api(srv.url, srv.admin_key)
    try:
        resource_id = api.resources.upload_resource(str(image))
        project = api.projects.create(f"labels-{uuid.uuid4().hex[:8]}", "many labels", resources_ids=[resource_id])
        before = srv.peak_rss_mib()
        session = api.annotations.import_session(project)
        session.add_bytes(buffer.getvalue(), "volume.nii.gz")
        job = session.commit()
        job.wait(timeout=600, progress_bar=False)
    finally:
        api.close()
    grown = srv.peak_rss_mib() - before
    assert job.result["failed_files"] == 0 and job.result["created"] == labels, job.result["files"][0]["problems"]
    assert grown < UPLOAD_MIB, f"peak memory grew by {grown:.1f} MiB for a label map of {labels} labels"


def test_an_imported_zip_is_read_from_a_temporary_file_not_memory(served, tmp_path):
    """The import job read each zip of the session whole into memory (and kept it while reading its
    members): a 96 MiB zip grew the server's peak by 46.2 MiB here, and a zip may be as large as an
    upload (2 GiB). It is now copied to a temporary file (0.0 MiB)."""
    import zipfile

    from datamint import Api

    srv = served
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as out:
        out.writestr("labels/empty.txt", "")
        with out.open("photos/big.png", "w", force_zip64=True) as member:  # no reader takes it: never read
            for _ in range(96):
                member.write(bytes(range(256)) * 4096)
    api = Api(srv.url, srv.admin_key)
    try:
        project = api.projects.create(f"zip-{uuid.uuid4().hex[:8]}", "zip memory")
        session = api.annotations.import_session(project)
        session.add_path(str(archive))
        before = srv.peak_rss_mib()
        job = session.commit()
        job.wait(timeout=300, progress_bar=False)
    finally:
        api.close()
    grown = srv.peak_rss_mib() - before
    assert job.status == "completed" and job.result["failed_files"] == 0, job.result
    assert [(f["name"], f["status"]) for f in job.result["files"]] == [("batch/labels/empty.txt", "imported")]
    assert grown < UPLOAD_MIB, f"peak memory grew by {grown:.1f} MiB for a 96 MiB zip"


#: Peak growth allowed for a burst of anonymous password sign-ins: argon2 takes 64 MiB per hash,
#: and a process runs at most ``security.PASSWORD_HASHES_AT_ONCE`` (2) of them at once.
SIGN_IN_MIB = 2 * 64 + 64


def test_a_burst_of_anonymous_sign_ins_hashes_two_passwords_at_a_time(served):
    """Twenty-four anonymous password sign-ins at once (unknown emails, 200-character passwords):
    each costs an argon2 verification of 64 MiB, and before they were bounded the server's peak
    grew by 1,356 MiB for forty of them; now at most two run at once."""
    srv = served
    before = srv.peak_rss_mib()

    def sign_in(i: int) -> int:
        body = {"email": f"ghost-{i}-{uuid.uuid4().hex[:6]}@example.test", "password": "p" * 200}
        return httpx.post(f"{srv.url}/auth/session", json=body, timeout=120).status_code

    with ThreadPoolExecutor(24) as pool:
        codes = list(pool.map(sign_in, range(24)))
    assert codes == [401] * 24
    grown = srv.peak_rss_mib() - before
    assert grown < SIGN_IN_MIB, f"peak memory grew by {grown:.1f} MiB for 24 sign-ins at once"

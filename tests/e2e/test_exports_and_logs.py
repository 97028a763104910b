"""Issue 9 §6: exports that a spreadsheet cannot turn into formulas, logs without secrets, errors
without server internals, invitation links that a request cannot point elsewhere."""

from __future__ import annotations

import csv
import io
import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from conftest import LiveServer, start_server, unique
from imaging_data import image_bytes

#: Text values an annotator may type that a spreadsheet would run as formulas.
FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+2", "-3+4", "@SUM(A1:A2)", "\tTAB=1", "\r=2"]


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=30) as client:
        yield client


def _project_with_annotations(http: httpx.Client) -> tuple[str, dict[str, str]]:
    """A project whose resource has one text annotation per formula, a plain one and a number."""
    rid = http.post("/resources", files={"resource": (f"{unique()}.png", image_bytes("PNG"), "image/png")}).json()["id"]
    project = http.post("/projects", json={"name": unique("export"), "resource_ids": [rid]}).json()
    items = [{"identifier": f"note-{i}", "type": "text", "scope": "image", "value": value}
             for i, value in enumerate([*FORMULAS, "plain"])]
    items.append({"identifier": "=size", "type": "float", "scope": "image", "value": -3.5})
    created = http.post(f"/annotations/{rid}/annotations", json=items)
    assert created.status_code == 201, created.text
    return project["id"], dict(zip(created.json(), [*FORMULAS, "plain", -3.5], strict=True))


def test_csv_export_prefixes_text_that_looks_like_a_formula(http):
    pid, values = _project_with_annotations(http)
    response = http.get(f"/projects/{pid}/download-annotations", params={"format": "csv"})
    assert response.status_code == 200, response.text
    rows = {row["annotation_id"]: row for row in csv.DictReader(io.StringIO(response.text, newline=""))}
    for aid, value in values.items():
        if isinstance(value, str):
            expected = "'" + value if value != "plain" else "plain"
            assert rows[aid]["value"] == expected
        else:
            assert rows[aid]["value"] == "-3.5"  # numbers stay numbers
            assert rows[aid]["identifier"] == "'=size"


def test_xlsx_export_writes_text_as_strings_never_formulas(http):
    pid, values = _project_with_annotations(http)
    response = http.get(f"/projects/{pid}/download-annotations", params={"format": "xlsx"})
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content))["annotations"]
    header = [cell.value for cell in sheet[1]]
    id_col, value_col, ident_col = header.index("annotation_id"), header.index("value"), header.index("identifier")
    found = {}
    for row in sheet.iter_rows(min_row=2):
        found[row[id_col].value] = (row[value_col], row[ident_col])
    assert set(found) == set(values)
    for aid, value in values.items():
        cell, ident = found[aid]
        if isinstance(value, str):
            assert (cell.value, cell.data_type) == (value.replace("\r", "\n"), "s")  # XML reads CR as LF
        else:
            assert (cell.value, cell.data_type) == (-3.5, "n")
            assert (ident.value, ident.data_type) == ("=size", "s")
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def _add_failing_trigger(server: LiveServer, email: str) -> sa.TextClause:
    """A trigger that makes every password change of ``email`` fail inside the database (as a full
    disk or a statement timeout would); returns the statement that removes it."""
    engine = server.database.engine
    with engine.begin() as conn:
        if server.backend == "postgresql":
            conn.execute(sa.text(
                "CREATE OR REPLACE FUNCTION dm_refuse_password() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.email = '{email}' THEN RAISE EXCEPTION 'simulated failure'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql"))
            conn.execute(sa.text("CREATE TRIGGER dm_refuse_password BEFORE UPDATE OF password_hash ON users "
                                 "FOR EACH ROW EXECUTE FUNCTION dm_refuse_password()"))
            return sa.text("DROP TRIGGER dm_refuse_password ON users; DROP FUNCTION dm_refuse_password()")
        conn.execute(sa.text(f"CREATE TRIGGER dm_refuse_password BEFORE UPDATE OF password_hash ON users "
                             f"WHEN NEW.email = '{email}' BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"))
        return sa.text("DROP TRIGGER dm_refuse_password")


def test_a_database_error_logs_neither_parameters_nor_password_hashes(server, http, caplog):
    email = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    assert http.post("/users", json={"email": email, "password": "first-password-1"}).status_code == 201
    drop = _add_failing_trigger(server, email)
    uvicorn_log = logging.getLogger("uvicorn")  # does not propagate to the root logger caplog watches
    uvicorn_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="datamint"):
            response = http.patch(f"/users/{email}", json={"password": "second-password-2"})
            http.get("/health")  # same connection: served once the failed request is fully logged
    finally:
        uvicorn_log.removeHandler(caplog.handler)
        with server.database.engine.begin() as conn:
            conn.exec_driver_sql(str(drop)) if server.backend == "postgresql" else conn.execute(drop)
    assert response.status_code == 500
    request_id = response.json()["request_id"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(getattr(r, "request_id", None) == request_id for r in errors)
    logged = caplog.text
    assert "simulated failure" in logged and "users" in logged  # the log still says what failed, and where
    assert "Traceback (most recent call last)" in logged
    for secret in ("$argon2", "second-password-2", "first-password-1", "[parameters:", "'password_hash':"):
        assert secret not in logged, f"{secret!r} reached the log"
    with server.database.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}).scalar_one()
    assert stored.startswith("$argon2") and stored not in logged


def test_download_tokens_stay_out_of_the_access_log_and_the_audit_trail(http, caplog):
    rid = http.post("/resources", files={"resource": (f"{unique()}.png", image_bytes("PNG"), "image/png")}).json()["id"]
    project = http.post("/projects", json={"name": unique("tok"), "resource_ids": [rid]}).json()
    dataset_id = next(d["id"] for d in http.get("/datasets", params={"limit": 1000}).json()["data"]
                      if d.get("project_id") == project["id"] or d["name"] == project["name"])
    answer = http.get(f"/datasets/{dataset_id}/download/png")
    assert answer.status_code == 200, answer.text
    token = answer.json()  # a single-use token, as a JSON string
    with caplog.at_level(logging.INFO, logger="datamint.server.access"):
        archive = http.get(f"/datasets/download/{token}")
        http.get("/health")  # same connection: served once the download's request (and its log line) is done
    assert archive.status_code == 200
    assert archive.headers["content-disposition"].startswith("attachment; filename=")
    access = [r.getMessage() for r in caplog.records if r.name == "datamint.server.access"]
    assert any('"path":"/datasets/download/<redacted>"' in line for line in access), access
    assert token not in caplog.text
    events = http.get("/audit-events", params={"limit": 100}).json()
    events = events["data"] if isinstance(events, dict) else events
    assert any(e.get("path") == "/datasets/download/<redacted>" for e in events), events[:3]
    assert token not in str(events)


def test_errors_name_neither_spool_files_nor_python_objects(http, server):
    # A damaged DICOM large enough to be spooled to a file inside the data folder.
    body = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7f" + b"x" * (2 << 20)
    response = http.post("/resources", files={"resource": ("broken.dcm", body, "application/dicom")})
    assert 400 <= response.status_code < 500, response.text
    message = response.json()["message"]
    assert "broken.dcm" in message
    assert str(server.data_dir) not in message and ".part" not in message and "upload-" not in message
    assert not re.search(r" at 0x[0-9a-f]+>", message)


def test_invitation_links_use_the_configured_public_url_not_the_host_header(request, tmp_path):
    public = "https://datamint.hospital.example"
    # SQLite only: the link is built from the settings, whatever the database
    for served in start_server("sqlite", request, tmp_path, public_url=public + "/"):
        with httpx.Client(base_url=served.url, headers={"apikey": served.admin_key}) as client:
            invited = client.post("/users/invite", json={"email": f"{uuid.uuid4().hex[:8]}@example.test"},
                                  headers={"Host": "evil.example"})
        assert invited.status_code == 201, invited.text
        link = invited.json()["invitation_link"]
        assert link == f"{public}/invitations/accept?token={invited.json()['token']}"


def test_invitation_links_without_a_public_url_use_the_configured_address(http, server):
    invited = http.post("/users/invite", json={"email": f"{uuid.uuid4().hex[:8]}@example.test"},
                        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert invited.status_code == 201, invited.text
    settings = server.app.state.settings
    assert (settings.host, settings.port) == ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    assert invited.json()["invitation_link"].startswith(f"{server.url}/invitations/accept?token=dmi_")

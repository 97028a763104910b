"""Writes a read causes (``unit_of_work.after_read``), on a real server and database: they run after
the answer is built, in their own transaction; a failing one leaves nothing and does not fail the
read (unless required); concurrent reads asking for the same row leave one row, held by the database."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy.orm import Session

from datamint.server.app import create_app
from datamint.server.auth.models import Organization
from datamint.server.config import Settings
from datamint.server.db import unit_of_work
from datamint.server.deps import CurrentUser, SessionDep

from conftest import BACKENDS, own_database, serve_in_thread

KEY = f"dmk_test_{uuid.uuid4().hex}"


def _add_organization(org_id: str, then_fail: bool = False):  # type: ignore[no-untyped-def]
    def write(apart: Session) -> None:
        apart.add(Organization(id=org_id, name="after-read"))
        apart.flush()  # the row is in the transaction when the write fails
        if then_fail:
            raise RuntimeError("the deferred write fails half-way")

    return write


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"after-read-{request.param}")
    with own_database(request.param, folder) as url:
        app = create_app(Settings(data_dir=folder, admin_api_key=KEY, mlflow_warmup=False, database_url=url))

        @app.get("/test-after-read/{org_id}")
        def read_then_write(org_id: str, session: SessionDep, me: CurrentUser, fail: bool = False,
                            required: bool = False, route_fails: bool = False) -> dict[str, str]:
            unit_of_work.after_read(session, _add_organization(org_id, then_fail=fail), required=required)
            if route_fails:
                raise RuntimeError("the route fails after registering its write")
            return {"read": org_id}

        url, server, thread = serve_in_thread(app)
        yield url, app.state.database
        server.should_exit = True
        thread.join(timeout=10)
        app.state.database.dispose()


def _organization(database, org_id: str) -> Organization | None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        return session.get(Organization, org_id)


def _read(url: str, org_id: str, **params: str) -> httpx.Response:
    return httpx.get(f"{url}/test-after-read/{org_id}", params=params, headers={"apikey": KEY}, timeout=60)


def test_the_write_is_done_before_the_answer_arrives(live):
    url, database = live
    org_id = str(uuid.uuid4())
    response = _read(url, org_id)
    assert response.status_code == 200 and response.json() == {"read": org_id}
    assert _organization(database, org_id) is not None


def test_a_failing_write_does_not_fail_the_read_and_leaves_nothing(live):
    url, database = live
    org_id = str(uuid.uuid4())
    response = _read(url, org_id, fail="true")
    assert response.status_code == 200 and response.json() == {"read": org_id}
    assert _organization(database, org_id) is None


def test_a_failing_required_write_fails_the_read_and_leaves_nothing(live):
    url, database = live
    org_id = str(uuid.uuid4())
    response = _read(url, org_id, fail="true", required="true")
    assert response.status_code == 500 and org_id not in response.text
    assert _organization(database, org_id) is None


def test_a_failing_route_drops_its_writes(live):
    url, database = live
    org_id = str(uuid.uuid4())
    assert _read(url, org_id, route_fails="true").status_code == 500
    assert _organization(database, org_id) is None


def test_concurrent_reads_writing_the_same_row_leave_one(live):
    url, database = live
    org_id = str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: _read(url, org_id), range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    with database.session() as session:
        assert session.query(Organization).filter_by(id=org_id).count() == 1

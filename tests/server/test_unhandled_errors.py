"""A bug in a route answers 500 with the one envelope, and the log line of that request id carries
the real traceback (not ``NoneType: None``).

SQLite only: the handler under test runs after the route raised, without touching the database.
"""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from datamint.server.app import create_app
from datamint.server.config import Settings

from conftest import serve_in_thread

KEY = f"dmk_test_{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def buggy(tmp_path_factory):
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("buggy"), admin_api_key=KEY, mlflow_warmup=False))

    @app.get("/test-bug")
    def broken_route() -> dict[str, str]:
        raise RuntimeError("a bug only this test knows: 7f3a")

    url, server, thread = serve_in_thread(app)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    app.state.database.dispose()


def test_the_500_log_line_has_the_traceback_of_the_request(buggy, caplog):
    with caplog.at_level(logging.ERROR, logger="datamint.server"):
        response = httpx.get(f"{buggy}/test-bug", headers={"x-request-id": "bug-trace-0001"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"] == "bug-trace-0001"
    assert "7f3a" not in response.text  # the client sees no internals
    (record,) = [r for r in caplog.records if getattr(r, "request_id", None) == "bug-trace-0001"]
    assert record.levelno == logging.ERROR and record.getMessage() == "unhandled error"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    text = logging.Formatter().format(record)
    assert "NoneType: None" not in text
    assert "RuntimeError: a bug only this test knows: 7f3a" in text and "in broken_route" in text

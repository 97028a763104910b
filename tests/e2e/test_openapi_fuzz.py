"""Property-based fuzzing of every route in the OpenAPI schema: no input may cause a 5xx.

Schemathesis generates valid and invalid requests from the schema and sends them, with a valid
admin key, to a dedicated live server on each database (PostgreSQL refuses values SQLite keeps,
such as NUL characters), so new routes are covered automatically. The hostile value classes of
issue 9 are swept deliberately in ``test_hostile_values.py``.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import BACKENDS, fresh_pg_database, start_server

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="session", params=BACKENDS)
def fuzz_server(request, tmp_path_factory):
    """A server of its own (on PostgreSQL, its own database: the session's already has an admin)."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        yield from start_server("sqlite", request, folder)
        return
    with fresh_pg_database() as url:
        yield from start_server("postgresql", request, folder, database_url=url)


def test_no_input_causes_a_server_error(fuzz_server):
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    headers = {"apikey": fuzz_server.admin_key}
    assert httpx.get(f"{fuzz_server.url}/users/me", headers=headers).status_code == 200  # the key opens the server
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    published = fuzz_server.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert len(operations) == sum(len(methods) for methods in published.values()) > 100  # every route is fuzzed

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def probe(case):  # type: ignore[no-untyped-def]
            response = case.call(headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} for {case.path_parameters} "
                                f"{case.query} {str(case.body)[:200]}: {response.text[:300]}")

        probe()
    assert not failures, "\n".join(failures[:20])

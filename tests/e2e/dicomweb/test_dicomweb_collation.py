"""QIDO-RS matching does not depend on the database's collation.

The test databases use the C.UTF-8 collation (bytes order); a PostgreSQL installed with an
en_US locale (the official Docker image's default) or an ICU one orders text by language rules,
which ignore or reorder punctuation and control characters. This module's server runs on such a
database (ICU ``en-US``) and, for comparison, on SQLite.
"""

from __future__ import annotations

import contextlib

import pytest
from test_dicomweb import Org, ct_study

from conftest import BACKENDS, fresh_pg_database, start_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"collation-{request.param}")
    with contextlib.ExitStack() as stack:
        own = {}
        if request.param == "postgresql":
            icu = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            own = {"database_url": stack.enter_context(fresh_pg_database(icu))}
        gen = start_server(request.param, request, folder, **own)
        yield next(gen)
        gen.close()


def test_time_ranges_match_whatever_the_collation(server):
    org = Org(server)
    try:
        studies = {}
        for time in ("101010", "101059.5", "095959", "101100"):
            ds = ct_study(1)[0]
            ds.StudyTime = time
            org.client.store_instances([ds])
            studies[time] = ds.StudyInstanceUID

        def found(value: str) -> list[str]:
            answer = org.http.get("/dicomweb/studies", params={"StudyTime": value})
            assert answer.status_code == 200, answer.text
            return sorted(t for t, uid in studies.items() if uid in {s["0020000D"]["Value"][0] for s in answer.json()})

        assert found("-1010") == ["095959", "101010", "101059.5"]
        assert found("1010-1010") == ["101010", "101059.5"]
        assert found("10:10-") == ["101010", "101059.5", "101100"]
        assert found("0900-101059") == ["095959", "101010", "101059.5"]
        assert found("-2359") == ["095959", "101010", "101059.5", "101100"]
    finally:
        org.http.close()

"""Listing latency: how long does ``GET /resources`` take with a million resources in one organization?

Creates a server in a temporary folder (SQLite, or ``--database-url`` for PostgreSQL: a fresh
database is created there and dropped afterwards), inserts ``--rows`` resource rows (tags, 50
channels, three modalities, 1% deleted, one ``created_at`` per second, oldest first as uploads
arrive) straight into the database and checks the row counts, runs the start-up maintenance
(orphan sweep, planner statistics; on PostgreSQL ``VACUUM (ANALYZE)`` as autovacuum would), then
times each listing through the ASGI app (no network), best of ``--repeat``, checking every
answer's status, page size and exact ``totalCount`` (known from the rows written).
``keyset90%`` is the page at 90% reached with the ``after`` cursor the SDK uses; ``offset90%``
the same page by offset (the official client's way), ``offset90%asc`` by offset oldest first;
``status+modality@90%`` the filtered listing's page at 90% of its matches, by offset.
The first figure is the time the inserts' transactions took (triggers included). Last, the SDK lists every id
(``api.resources.get_list()``, 5,000 a page, following ``nextCursor``) over real HTTP from a
server in its own process (``datamint server run`` on loopback, as deployed), best of
``--sdk-repeat``.

usage: python benchmarks/list_resources.py [--rows 1000000] [--database-url postgresql+psycopg://root@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).parent))
from _common import fresh_database  # noqa: E402 - the benchmarks' shared helpers
from annotations import running_server  # noqa: E402 - the benchmarks' shared server launcher

QUERIES = {
    "default": {"status": ""},
    "offset90%": {"status": ""},
    "offset90%asc": {"status": "", "order_field": "created_at", "order_by_asc": "true"},
    "keyset90%": {"status": ""},
    "status+modality": {"status": "published", "modality": "CT"},
    "status+modality@90%": {"status": "published", "modality": "CT"},
    "tags": {"tags": json.dumps({"items": ["t3", "t7"], "filterType": "union"})},
    "channel": {"channel_name": "ch7"},
    "filename": {"filename": "f777.dcm"},
}


@contextmanager
def database(url: str | None, folder: str):  # type: ignore[no-untyped-def]
    """The benchmark's database URL: SQLite in ``folder``, or a fresh database on the given server."""
    if url is None:
        yield f"sqlite:///{folder}/bench.sqlite3"
        return
    with fresh_database(url) as fresh:
        yield fresh


MATCHES = {  # which (live) rows each query's filter matches, from what fill() wrote
    "default": lambda row: True,
    "offset90%": lambda row: True,
    "offset90%asc": lambda row: True,
    "keyset90%": lambda row: True,
    "status+modality": lambda row: row["published"] and row["modality"] == "CT",
    "status+modality@90%": lambda row: row["published"] and row["modality"] == "CT",
    "tags": lambda row: row["tag"] in ("t3", "t7"),
    "channel": lambda row: row["upload_channel"] == "ch7",
    "filename": lambda row: row["filename"] == "f777.dcm",
}


def fill(app, me, rows: int) -> tuple[dict[str, int], float]:  # type: ignore[no-untyped-def]
    """Insert the rows in batches, oldest first (row ``i`` was created ``i`` seconds ago); how many
    live rows each query of :data:`QUERIES` matches, and the seconds the inserts' transactions took."""
    from datamint.server.db.base import utcnow
    from datamint.server.resources.models import Resource, ResourceTag

    db, now, rng = app.state.database, utcnow(), random.Random(0)
    expected, inserting = dict.fromkeys(QUERIES, 0), 0.0
    for start in range(rows - 1, -1, -50_000):  # oldest first, as uploads arrive: inserting the newest
        # first would split every listing index's pages at their left end and leave them half empty
        batch, tags = [], []
        for i in range(start, max(-1, start - 50_000), -1):
            rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            published = i % 3 == 0
            batch.append(dict(id=rid, customer_id=me.customer_id, storage="DicomResource", location=f"x/{rid}",
                              filename=f"f{i}.dcm", mimetype="application/dicom", size=1000,
                              status="published" if published else "inbox", modality=rng.choice(("CT", "MR", "US")),
                              file_metadata={"width": 512}, upload_channel=f"ch{i % 50}", upload_mechanism="api",
                              created_at=now - timedelta(seconds=i), created_by=me.email, created_by_id=me.user_id,
                              published=published, deleted=i % 100 == 0))
            tags.append(dict(resource_id=rid, tag=f"t{i % 20}", position=0))
            if not batch[-1]["deleted"]:
                row = {**batch[-1], "tag": tags[-1]["tag"]}
                for label, matches in MATCHES.items():
                    expected[label] += bool(matches(row))
        started = time.perf_counter()
        for first in range(0, len(batch), 1000):  # transactions of 1,000 rows, as batches of uploads
            # commit them: psycopg's executemany sends one INSERT per row, and PostgreSQL keeps every
            # version of a count row updated in one transaction (docs/resources.md, deep offsets)
            with db.transaction() as session:
                session.execute(insert(Resource), batch[first:first + 1000])
                session.execute(insert(ResourceTag), tags[first:first + 1000])
        inserting += time.perf_counter() - started
    with db.transaction() as session:
        count = session.scalar(select(func.count()).select_from(Resource))
    assert count == rows, f"inserted {count} rows, expected {rows}"
    if db.dialect == "postgresql":  # what autovacuum does after a bulk insert: statistics and the
        # visibility map, without which an index-only scan (the capped count) visits the heap
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE)"))
    return expected, inserting


def cursor_at(app, me, position: int) -> str:  # type: ignore[no-untyped-def]
    """The ``after`` cursor that starts the page at ``position`` of the default listing."""
    from datamint.server.resources.models import Resource

    with app.state.database.transaction() as session:
        created, rid = session.execute(select(Resource.created_at, Resource.id).where(
            Resource.customer_id == me.customer_id, Resource.deleted.is_(False))
            .order_by(Resource.created_at.desc(), Resource.id.desc()).offset(position - 1).limit(1)).one()
    raw = json.dumps([created.isoformat(), rid]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def children_cpu() -> float:
    """CPU seconds used so far by this process's children (the server), from /proc (0 elsewhere)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs per query")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite in a temp folder)")
    parser.add_argument("--no-sdk", action="store_true", help="skip listing every id with the SDK")
    parser.add_argument("--sdk-repeat", type=int, default=1, help="best of this many SDK listings")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from fastapi.testclient import TestClient

    from datamint import Api
    from datamint.server.app import create_app
    from datamint.server.auth.service import authenticate
    from datamint.server.config import Settings
    from datamint.server.resources.repository import COUNT_CAP

    live = args.rows - (args.rows + 99) // 100
    with tempfile.TemporaryDirectory(prefix="datamint-bench-list-") as tmp, database(args.database_url, tmp) as url:
        data_dir = Path(tmp) / "data"
        app = create_app(Settings(data_dir=data_dir, database_url=url, admin_api_key="dmk_bench_list"))
        with app.state.database.transaction() as session:
            me = authenticate(session, "dmk_bench_list")
        expected_totals, inserting = fill(app, me, args.rows)
        app.state.upload_janitor.sweep()
        client = TestClient(app, headers={"apikey": "dmk_bench_list"})
        deep = int(live * 0.9)
        parts = [f"list ({app.state.database.dialect}): {args.rows} resources (inserted in {inserting:.1f} s)"]
        for label, params in QUERIES.items():
            params = {**params, "limit": 100}
            if label.startswith("offset90%"):
                params["offset"] = deep
            if label == "keyset90%":
                params["after"] = cursor_at(app, me, deep)
            if label.endswith("@90%"):  # a filtered listing paged by offset to 90% of its matches
                params["offset"] = int(expected_totals[label] * 0.9)
            best = float("inf")
            for _ in range(args.repeat + 1):
                started = time.perf_counter()
                response = client.get("/resources", params=params)
                best = min(best, time.perf_counter() - started)
                assert response.status_code == 200, response.text
                body = response.json()
                expected = 1 if label == "filename" else 100
                assert len(body["data"]) == expected, (label, len(body["data"]))
                # exact up to the cap, then "at least" with the flag; a keyset page counts what follows its cursor
                total = expected_totals[label] - (deep if label == "keyset90%" else 0)
                counted = (body["totalCount"], body.get("totalCountCapped", False))
                if total > COUNT_CAP:
                    assert counted[1] and counted[0] >= COUNT_CAP, (label, total, counted)
                else:
                    assert counted == (total, False), (label, total, counted)
            parts.append(f"{label} {best * 1000:.1f} ms")
        app.state.database.dispose()
        if not args.no_sdk:
            os.environ["DATAMINT_SERVER_MLFLOW_WARMUP"] = "false"  # no MLflow import competing for the CPU
            with running_server(data_dir, url, key="dmk_bench_list") as (base, key), \
                    Api(base, key) as api:
                best, cpu, server_cpu = float("inf"), 0.0, 0.0
                for _ in range(args.sdk_repeat):
                    started, used, served = time.perf_counter(), time.process_time(), children_cpu()
                    ids = [r.id for r in api.resources.get_list()]
                    if time.perf_counter() - started < best:
                        best, cpu = time.perf_counter() - started, time.process_time() - used
                        server_cpu = children_cpu() - served
                    assert len(ids) == live and len(set(ids)) == live, (len(ids), live)
            parts.append(f"sdk all ids {best:.1f} s (CPU: SDK {cpu:.1f} s, server {server_cpu:.1f} s)")
        print(" | ".join(parts))


if __name__ == "__main__":
    main()

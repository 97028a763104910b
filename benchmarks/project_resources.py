"""Project listing latency: how long does ``GET /projects/{id}/resources`` (every live resource of a
project as one bare JSON array, an annotation worklist) take for a project of ``--rows`` resources?

Creates a server in a temporary folder (SQLite, or ``--database-url`` for PostgreSQL: a fresh
database is created there and dropped afterwards), creates two projects through the API, inserts
``--rows`` resource rows (metadata, two tags each, 1% deleted, one ``created_at`` per second,
oldest first) straight into the database with their memberships of the first project (every tenth
resource is in the second project too, so its ``projects`` lists two) and checks the row counts,
then times the route through the ASGI app (no network): best and median of ``--repeat`` runs
after one warm-up, checking every answer (status, the live resources oldest first, the fields of
one).

Then the server's memory: the same database is served by ``datamint server run`` in a subprocess
(``tests/process_server.py``), warmed up with the second project's listing; each of ``--repeat``
runs resets the server's peak resident memory (``/proc/<pid>/clear_refs``), reads the whole body
over HTTP without keeping it (checking it is the body the ASGI runs got), and reads how far the
peak (``VmHWM``) rose above the resident memory before the request, and the server's CPU time
(utime + stime) for the request (PostgreSQL's own processes are not counted). Prints one line:
the rows, the time the inserts took, the body's size, best and median (ASGI), then over HTTP the
largest peak growth, the median time and the median server CPU time.

usage: python benchmarks/project_resources.py [--rows 20000] [--repeat 5]
                                              [--database-url postgresql+psycopg://root@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).parent))
from list_resources import database  # noqa: E402 - the listing benchmark's temporary database

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from process_server import process_server, status_kib  # noqa: E402 - the tests' subprocess server

KEY = "dmk_bench_project"


def fill(app, me, project: str, second: str, rows: int) -> tuple[list[str], float]:  # type: ignore[no-untyped-def]
    """Insert the rows, oldest first (row ``i`` was created ``rows - i`` seconds ago), in
    transactions of 1,000; the live ids in the route's order, and the seconds the inserts took."""
    from datamint.server.db.base import utcnow
    from datamint.server.resources.models import ProjectResource, Resource, ResourceTag

    db, now, rng = app.state.database, utcnow(), random.Random(0)
    live: list[str] = []
    inserting = 0.0
    for first in range(0, rows, 1000):
        batch, tags, members = [], [], []
        for i in range(first, min(rows, first + 1000)):
            rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            deleted = i % 100 == 0
            batch.append(dict(id=rid, customer_id=me.customer_id, storage="DicomResource", location=f"x/{rid}",
                              filename=f"f{i}.dcm", mimetype="application/dicom", size=1000 + i,
                              status="published", published=True, published_by=me.email,
                              published_on=now - timedelta(seconds=rows - i) / 2,
                              modality=rng.choice(("CT", "MR", "US")), file_metadata={"width": 512, "rows": i},
                              upload_channel=f"ch{i % 50}", upload_mechanism="api", series_uid=f"1.2.{i}",
                              created_at=now - timedelta(seconds=rows - i), created_by=me.email,
                              created_by_id=me.user_id, deleted=deleted))
            tags += [dict(resource_id=rid, tag=f"t{i % 20}", position=0), dict(resource_id=rid, tag="all", position=1)]
            members.append(dict(project_id=project, resource_id=rid, added_by=me.email))
            if i % 10 == 0:
                members.append(dict(project_id=second, resource_id=rid, added_by=me.email))
            if not deleted:
                live.append(rid)
        started = time.perf_counter()
        with db.transaction() as session:
            session.execute(insert(Resource), batch)
            session.execute(insert(ResourceTag), tags)
            session.execute(insert(ProjectResource), members)
        inserting += time.perf_counter() - started
    with db.transaction() as session:
        count = session.scalar(select(func.count()).select_from(ProjectResource)
                               .where(ProjectResource.project_id == project))
    assert count == rows, f"inserted {count} memberships, expected {rows}"
    if db.dialect == "postgresql":  # what autovacuum does after a bulk insert
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE)"))
    return live, inserting


def cpu_seconds(pid: int) -> float:
    """The user + system CPU time of process ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served_memory(data_dir: Path, url: str, project: str, second: str, digest: str,
                  repeat: int) -> tuple[float, float, float, float]:
    """Serve the database from a subprocess and read the listing over HTTP ``repeat`` times
    (after a warm-up on ``second``); the largest peak growth (MiB), the resident memory before
    the first run (MiB), the median server CPU time and the median wall time (seconds) of a request."""
    with process_server(data_dir, url, admin_key=KEY) as srv, srv.client() as http:
        assert http.get(f"/projects/{second}/resources").status_code == 200
        growths, cpus, walls, baseline = [], [], [], status_kib(srv.pid, "VmRSS") / 1024
        for _ in range(repeat):
            Path(f"/proc/{srv.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            before, cpu, started = status_kib(srv.pid, "VmRSS") / 1024, cpu_seconds(srv.pid), time.perf_counter()
            hashed = hashlib.sha256()
            with http.stream("GET", f"/projects/{project}/resources") as response:
                assert response.status_code == 200, response.read()[:300]
                for piece in response.iter_raw(1 << 20):
                    hashed.update(piece)
            walls.append(time.perf_counter() - started)
            cpus.append(cpu_seconds(srv.pid) - cpu)
            growths.append(status_kib(srv.pid, "VmHWM") / 1024 - before)
            assert hashed.hexdigest() == digest, "the body over HTTP differs from the ASGI runs'"
    return max(growths), baseline, statistics.median(cpus), statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--rows", type=int, default=20_000, help="resources in the project (default 20,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (after one warm-up): best and median")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from fastapi.testclient import TestClient

    from datamint.server.app import create_app
    from datamint.server.auth.service import authenticate
    from datamint.server.config import Settings

    with tempfile.TemporaryDirectory(prefix="datamint-bench-project-") as tmp, database(args.database_url, tmp) as url:
        app = create_app(Settings(data_dir=Path(tmp) / "data", database_url=url, admin_api_key=KEY,
                                  mlflow_warmup=False))
        with app.state.database.transaction() as session:
            me = authenticate(session, KEY)
        with TestClient(app, headers={"apikey": KEY}) as client:
            project, second = (client.post("/projects", json={"name": name, "description": "bench"}).json()["id"]
                               for name in ("worklist", "other"))
            live, inserting = fill(app, me, project, second, args.rows)
            times, size = [], 0
            for run in range(args.repeat + 1):
                started = time.perf_counter()
                response = client.get(f"/projects/{project}/resources")
                elapsed = time.perf_counter() - started
                if run:
                    times.append(elapsed)
                assert response.status_code == 200, response.text[:300]
                body = json.loads(response.content)
                assert [r["id"] for r in body] == live, "not the live resources, oldest first"
                assert body[0]["tags"] == ["t1", "all"] and len(body[9]["projects"]) == 2, body[0]
                size, digest = len(response.content), hashlib.sha256(response.content).hexdigest()
                del response, body
        app.state.database.dispose()
        growth, baseline, cpu, wall = served_memory(Path(tmp) / "data", url, project, second, digest, args.repeat)
        print(f"project resources ({app.state.database.dialect}): {args.rows} resources, {len(live)} live "
              f"(inserted in {inserting:.1f} s), body {size / 1e6:.1f} MB | best {min(times) * 1000:.0f} ms | "
              f"median {statistics.median(times) * 1000:.0f} ms ({args.repeat} runs) | server over HTTP: peak "
              f"+{growth:.0f} MiB above {baseline:.0f} MiB resident, median {wall * 1000:.0f} ms, "
              f"server CPU {cpu * 1000:.0f} ms")


if __name__ == "__main__":
    main()

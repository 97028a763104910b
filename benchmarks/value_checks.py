"""What checking every value costs (issue 9 §3): the JSON rule on a large upload metadata document,
and the statement-parameter guard on bulk inserts of rows with JSON and text columns.

Prints one line per measurement, e.g.::

    json_problem: 2.21 MiB metadata (20000 keys) 61.6 ms
    guard: 20000 rows insert (sqlite) 314.8 ms unguarded, 405.1 ms guarded (+28.7%)

Usage:
    PYTHONPATH=src python benchmarks/value_checks.py [--rows 20000] [--pg-url postgresql+psycopg://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from datamint.server.common.values import json_problem
from datamint.server.db import values as guard
from datamint.server.db.base import JsonType
from datamint.server.db.session import make_engine

METADATA = sa.MetaData()
ROWS = sa.Table("bench_rows", METADATA, sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(300)), sa.Column("doc", JsonType))


def best_ms(run: Callable[[], object], repeat: int = 5) -> float:
    """The median wall time of ``run`` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def metadata_document() -> dict:
    """About 1 MiB of metadata, nested as DICOM-derived metadata is (two levels, mixed values)."""
    return {f"key-{i}": {"value": f"text {i} " * 4, "number": i * 0.5, "list": [i, i + 1, None]}
            for i in range(20000)}


def insert_ms(url: str, rows: int, repeat: int = 7) -> tuple[float, float]:
    """Median times (ms) to insert ``rows`` rows in one executemany without and with the guard,
    the two runs alternating so that the machine's load weighs on both alike."""
    guarded = make_engine(url)
    plain = make_engine(url)
    sa.event.remove(plain, "before_cursor_execute", guard._check_parameters)
    METADATA.drop_all(guarded)
    METADATA.create_all(guarded)
    data = [{"id": i, "name": f"row {i}", "doc": {"a": i, "b": [1.5, "x"], "c": {"d": "e"}}} for i in range(rows)]
    times: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(repeat):
            for checked, engine in ((False, plain), (True, guarded)):
                with engine.begin() as conn:
                    conn.execute(ROWS.delete())
                started = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(ROWS.insert(), data)
                times[checked].append((time.perf_counter() - started) * 1000)
        return statistics.median(times[False]), statistics.median(times[True])
    finally:
        METADATA.drop_all(guarded)
        guarded.dispose()
        plain.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--pg-url", default=None, help="also measure on this PostgreSQL database")
    args = parser.parse_args()

    doc = metadata_document()
    size = len(json.dumps(doc)) / (1 << 20)
    print(f"json_problem: {size:.2f} MiB metadata ({len(doc)} keys) {best_ms(lambda: json_problem(doc)):.1f} ms")

    with tempfile.TemporaryDirectory(prefix="bench-value-checks-") as folder:
        urls = {"sqlite": f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:6]}.sqlite3"}
        if args.pg_url:
            urls["postgresql"] = args.pg_url
        for backend, url in urls.items():
            plain, checked = insert_ms(url, args.rows)
            print(f"guard: {args.rows} rows insert ({backend}) {plain:.1f} ms unguarded, {checked:.1f} ms guarded "
                  f"({(checked / plain - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()

"""Request gate: what do authenticated requests cost, and how fast are anonymous bodies refused?

Starts a server (SQLite in a temporary folder, or ``--database-url`` for PostgreSQL: a fresh
database is created there and dropped afterwards) with uvicorn on loopback,
then times ``--requests`` authenticated ``GET /users/me`` over one keep-alive connection (the
gate authenticates each before the route runs), and as many anonymous ``POST /projects`` that
declare a 400 MiB multipart body and send none (each refused with 401 on a fresh connection).
Checks every status. Prints one line (the CPU time per authenticated request, client and server
together, is steadier than req/s on a busy machine).

usage: python benchmarks/request_gate.py [--requests 2000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from datamint.server.app import create_app
from datamint.server.config import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database, serve_in_thread  # noqa: E402 - the benchmarks' shared helpers


@contextmanager
def _database(url: str | None) -> Iterator[str | None]:
    """``url`` itself for SQLite (or None); for PostgreSQL a fresh database beside it, dropped after."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    with fresh_database(url, "bench_gate") as fresh:
        yield fresh


def main() -> None:
    """Run the benchmark and print its result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with _database(args.database_url) as url:
        run(args.requests, url)


def run(requests: int, database_url: str | None) -> None:
    """Time the two loads against a fresh server on ``database_url`` (its files in a temporary
    folder, removed afterwards) and print the result line."""
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as folder:
        _run(requests, database_url, Path(folder))


def _run(requests: int, database_url: str | None, folder: Path) -> None:
    key = f"dmk_bench_{uuid.uuid4().hex}"
    settings = Settings(data_dir=folder, database_url=database_url, admin_api_key=key,
                        auth_failures_per_minute=10**9, log_level="WARNING")
    app = create_app(settings)
    url, server, thread = serve_in_thread(app, proxy_headers=False)
    try:
        with httpx.Client(base_url=url, headers={"apikey": key}) as http:
            assert http.get("/users/me").status_code == 200  # warm-up
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                assert http.get("/users/me").status_code == 200
            authenticated = requests / (time.perf_counter() - started)
            cpu_ms = (time.process_time() - cpu) * 1000 / requests  # client and server: one process
        host, port = url.removeprefix("http://").split(":")
        head = (b"POST /projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                b"Content-Length: 419430400\r\n\r\n")
        started = time.perf_counter()
        try:
            for _ in range(requests):
                with socket.create_connection((host, int(port)), timeout=10) as sock:
                    sock.sendall(head)
                    assert sock.recv(64).startswith(b"HTTP/1.1 401 ")
            anonymous = f"refused {requests / (time.perf_counter() - started):.0f} req/s"
        except TimeoutError:  # a server without the gate waits for the body
            anonymous = "not refused: the server waits for the body"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.database.dispose()
    print(f"request_gate: {app.state.database.dialect}  GET /users/me {authenticated:.0f} req/s "
          f"({cpu_ms:.2f} ms CPU each, client included)  "
          f"anonymous 400 MiB POST {anonymous}")


if __name__ == "__main__":
    main()

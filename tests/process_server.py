"""``datamint server run`` in a subprocess, as an operator starts it, with its memory measured.

Tests that need what only a real process shows — peak resident memory (``VmHWM`` in
``/proc/<pid>/status``), worker processes, signals, ``kill -9`` — start the server with
:func:`process_server` and talk to it over HTTP::

    with process_server(tmp_path, database_url) as srv:
        baseline = srv.peak_rss_mib()
        ... requests against srv.url with srv.admin_key ...
        assert srv.peak_rss_mib() - baseline < 64

Other areas add their own cases (decompression bombs, hostile values) in the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` value of ``/proc/<pid>/status`` (``VmHWM``: peak resident memory; ``VmRSS``: now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass
class ProcessServer:
    """A server started by :func:`process_server`."""

    url: str
    port: int
    admin_key: str
    data_dir: Path
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The server's (with ``--workers``: the supervisor's) process id."""
        return self.process.pid

    def serving_pids(self) -> list[int]:
        """The processes that answer requests: the server itself, or its workers (children other
        than multiprocessing's resource tracker)."""
        workers = []
        for pid in children(self.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"resource_tracker" not in command:
                workers.append(pid)
        return workers or [self.pid]

    def peak_rss_mib(self) -> float:
        """Peak resident memory so far (``VmHWM``) of the process that serves, in MiB (with
        several workers: the largest of theirs)."""
        return max(status_kib(pid, "VmHWM") for pid in self.serving_pids()) / 1024

    def rss_mib(self) -> float:
        """Resident memory now (``VmRSS``), in MiB (the largest worker's with several)."""
        return max(status_kib(pid, "VmRSS") for pid in self.serving_pids()) / 1024

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client for the server, authenticated as the first organization's admin."""
        return httpx.Client(base_url=self.url, headers={"apikey": self.admin_key}, timeout=60, **kwargs)

    def log_text(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait for ``GET /health`` to answer 200 (raises with the server's output if it never does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{log.read_text(errors='replace')}")


def start(data_dir: Path, database_url: str, *, workers: int = 1, port: int | None = None,
          env: dict[str, str] | None = None, admin_key: str | None = None) -> ProcessServer:
    """Start ``datamint server run`` and wait until it answers (the caller stops it: :func:`stop`)."""
    port = port or free_port()
    admin_key = admin_key or f"dmk_proc_{uuid.uuid4().hex}"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": admin_key, "DATAMINT_SERVER_LOG_LEVEL": "WARNING",
                "DATAMINT_SERVER_AUTH_FAILURES_PER_MINUTE": "100000", **(env or {})}
    log = data_dir.parent / f"server-{port}.log"
    command = [sys.executable, "-m", "datamint.cli", "server", "run", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(data_dir), "--database-url", database_url, "--no-write-sdk-config",
               "--workers", str(workers)]
    with open(log, "ab") as sink:
        process = subprocess.Popen(command, env=full_env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    server = ProcessServer(url, port, admin_key, data_dir, process, log, full_env)
    try:
        wait_until_serving(url, process, log)
    except BaseException:
        stop(server)
        raise
    return server


def stop(server: ProcessServer, timeout: float = 20) -> None:
    """Stop the server and every process of its session (SIGTERM, then SIGKILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # workers orphaned by a killed supervisor are still in the session's process group
        os.killpg(server.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def process_server(data_dir: Path, database_url: str, **options: object) -> Iterator[ProcessServer]:
    """:func:`start` a server; stop it when the block ends."""
    server = start(data_dir, database_url, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop(server)

"""A real ``datamint server run`` in a subprocess (one process, a free loopback port, a temporary data
folder), for tests that measure the server process itself: its peak resident memory (``VmHWM`` in
``/proc/<pid>/status``, Linux) after hostile requests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_mib(pid: int, field: str) -> float:
    """A memory field of ``/proc/<pid>/status`` (``VmHWM``: peak resident set; ``VmRSS``: now) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


class ServerProcess:
    """``datamint server run`` as a child process; use it as a context manager.

    Args:
        data_dir: The server's data folder (SQLite file and blobs unless ``database_url`` is given).
        database_url: SQLAlchemy URL (e.g. a fresh PostgreSQL database); default SQLite in ``data_dir``.
        env: Extra ``DATAMINT_SERVER_*`` settings.

    Attributes:
        url: Base URL. admin_key: The first admin's API key. pid: The server process id.
    """

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = f"dmk_test_{uuid.uuid4().hex}"
        self.env = {**os.environ, "DATAMINT_SERVER_ADMIN_API_KEY": self.admin_key,
                    "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
        if database_url:
            self.env["DATAMINT_SERVER_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "datamint.cli", "server", "run", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--no-write-sdk-config"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited early: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise AssertionError("the server did not start within 90 s")

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far (VmHWM), in MiB."""
        return proc_status_mib(self.pid, "VmHWM")

    def rss_mib(self) -> float:
        """The process's resident memory now (VmRSS), in MiB."""
        return proc_status_mib(self.pid, "VmRSS")

"""Raw HTTP/1.1 over a socket, for tests that must control exactly which bytes are sent and when.

httpx always sends a whole body; these helpers send a request head alone (declaring a body that
never comes), or a body in pieces, and report what the server answered and whether it then closed
the connection.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    """What the server sent back: status, headers (lower-case names), body, and whether the
    connection was closed after the answer."""

    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool


def connect(url: str, timeout: float = 10) -> socket.socket:
    """A TCP connection to the server of ``url``."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def kernel_buffering_bytes() -> int:
    """How many bytes a client can push into one loopback connection that the server never reads:
    the sender's largest send buffer plus the receiver's largest receive buffer (``tcp_wmem`` and
    ``tcp_rmem`` maxima). Bytes a test counts as "sent" include these, whatever the server does."""
    def largest(name: str) -> int:
        return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[-1])
    return largest("tcp_wmem") + largest("tcp_rmem")


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    """The bytes of a request head (``Host`` is added)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_answer(sock: socket.socket, timeout: float = 10) -> RawAnswer:
    """Read one response (by its ``Content-Length``), then whether the server closes the connection."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a complete answer: {data[:200]!r}")
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawAnswer(status, headers, body[:length], _closed(sock, timeout))


def _closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` seconds (a reset counts)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def send_head_only(url: str, method: str, path: str, headers: dict[str, str], timeout: float = 10) -> RawAnswer:
    """Send a request head that declares a body, send no body, and read the answer.

    An answer at all proves the server decided without reading a byte of the body.
    """
    with connect(url, timeout) as sock:
        sock.sendall(head(method, path, headers))
        return read_answer(sock, timeout)


def send_chunked_until_answer(url: str, method: str, path: str, headers: dict[str, str], chunk: bytes,
                              max_bytes: int, timeout: float = 10, *,
                              chunked: bool = True) -> tuple[RawAnswer | None, int]:
    """Stream a body of up to ``max_bytes``, stopping when the server answers or hangs up.

    Args:
        chunked: Send it with ``Transfer-Encoding: chunked``; otherwise declare ``max_bytes`` as
            ``Content-Length`` and send it plainly.

    Returns:
        The answer (``None`` when the server closed without one) and how many body bytes were sent.
    """
    sent = 0
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(max_bytes)}
    with connect(url, timeout) as sock:
        sock.sendall(head(method, path, {**headers, **framing}))
        sock.setblocking(False)
        pending, ended = b"", False
        try:
            while not ended or pending:
                try:
                    if sock.recv(1, socket.MSG_PEEK) is not None:
                        break  # the server answered (or closed)
                except BlockingIOError:
                    pass
                if not pending and sent >= max_bytes:
                    pending, ended = (b"0\r\n\r\n" if chunked else b""), True
                elif not pending:
                    piece = chunk[:max_bytes - sent]
                    pending = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
                    sent += len(piece)
                try:
                    pending = pending[sock.send(pending):]
                except BlockingIOError:
                    time.sleep(0.01)  # the server stopped reading: its buffers are full
        except (ConnectionResetError, BrokenPipeError):
            pass
        sock.setblocking(True)
        try:
            return read_answer(sock, timeout), sent
        except (ConnectionError, OSError):
            return None, sent

"""Pure ASGI middleware: request ids with one structured log line per request, and body limits.

Written as raw ASGI (not ``BaseHTTPMiddleware``) so that streamed uploads and downloads pass
through without buffering.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamint.server.common.redact import loggable_path
from datamint.server.errors import PayloadTooLargeError, error_body

_ACCESS = logging.getLogger("datamint.server.access")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``, reused from the client when well-formed),
    returns it on every response, and logs one JSON line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500, "bytes": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                status["bytes"] += len(message.get("body") or b"")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            record: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method"),
                "path": loggable_path(scope),  # never a download token (nor the query string)
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "response_bytes": status["bytes"],
                "client": (scope.get("client") or ("?", 0))[0],
                "user": state.get("user_email"),
                "customer_id": state.get("customer_id"),
            }
            _ACCESS.info(json.dumps(record, separators=(",", ":")))


class BodyLimitMiddleware:
    """Rejects request bodies above the limits with 413 before the application reads them.

    Multipart bodies (uploads) may be up to ``max_upload_bytes``; any other body up to
    ``max_json_bytes``. A declared ``Content-Length`` is checked up front; a chunked body is
    counted as it streams and cut off once it passes the limit.

    A client that sends its whole body before reading the answer (most HTTP clients) would see a
    reset connection instead of the 413 if the server closed early, so a body of up to twice the
    limit is read and thrown away first; larger ones are refused at once.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.max_upload_bytes if ctype.startswith("multipart/") else self.max_json_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if int(declared) <= 2 * limit:
                await self._drain(receive)
            await self._reject(scope, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body") or b"")
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    async def _drain(receive: Receive) -> None:
        """Read and discard the request body (nothing is kept in memory)."""
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                return

    @staticmethod
    async def _reject(scope: Scope, send: Send, limit: int) -> None:
        error = PayloadTooLargeError(_too_large(limit))
        raw = json.dumps(error_body(Request(scope), error.status_code, error.code, error.message)).encode()
        await send({"type": "http.response.start", "status": error.status_code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": raw})


class _BodyTooLarge(HTTPException):
    """A chunked body passed the limit while the route read it.

    An ``HTTPException`` because FastAPI re-raises those from body parsing unchanged (any other
    error becomes a 400); it carries :class:`PayloadTooLargeError`'s envelope code.
    """

    code = PayloadTooLargeError.code

    def __init__(self, limit: int) -> None:
        super().__init__(PayloadTooLargeError.status_code, detail=_too_large(limit))


def _too_large(limit: int) -> str:
    return f"Request body too large: the limit is {limit / (1024 * 1024):g} MiB"

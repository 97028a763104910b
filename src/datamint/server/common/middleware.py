"""Pure ASGI middleware: request ids with one structured log line per request.

Written as raw ASGI (not ``BaseHTTPMiddleware``) so that streamed uploads and downloads pass
through without buffering. Body and header limits and authentication before the body live in
:mod:`datamint.server.transport.gate`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamint.server.common.redact import loggable_path

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

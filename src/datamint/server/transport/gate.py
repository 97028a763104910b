"""The request gate: a pure ASGI middleware that decides about a request before its body is read.

For every HTTP request, in this order and before the application receives a single body byte:

1. **Head size** — request line plus headers above ``max_header_kb``: 431, connection closed.
   The client's address is resolved (``X-Forwarded-For``/``-Proto`` only from trusted proxies).
2. **Route** — the :class:`~datamint.server.transport.routes.RouteTable` names the route's rule:
   whether it needs a caller and how large its body may be (chosen by the route, never by the
   client's ``Content-Type``).
3. **Caller** — a route that needs one is authenticated here (API key, or web session cookie with
   its CSRF token on writes; the failed-login throttle first). A refusal (401/403/429) reads at
   most ``max_small_body_kb`` of the body so a client that sends before it reads still gets the
   answer; a larger body is not read at all and the connection is closed. An anonymous client
   therefore costs a constant amount of memory and no disk. The caller found here is handed to
   the ``CurrentUser`` dependency through the request's state, so it is looked up once.
4. **Body size** — a declared ``Content-Length`` above the route's limit: 413 at once; a chunked
   body is counted as it streams and cut off with 413 once it passes the limit. An answer given
   before the body was read in full closes the connection, so the rest is never received.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamint.server.auth import web_sessions
from datamint.server.auth.service import authenticate
from datamint.server.db import unit_of_work
from datamint.server.errors import AppError, AuthenticationFailedError, PayloadTooLargeError, TooManyRequestsError
from datamint.server.transport.clients import apply_trusted_proxy, scope_client_address
from datamint.server.transport.routes import ErrorShape, RouteRule, RouteTable


class RequestGate:
    """The gate in front of the application (see the module docstring).

    Args:
        app: The wrapped ASGI application.
        fastapi_app: The FastAPI application: its routes make the table (built on the first
            request, after every router is included) and its ``state`` holds the settings, the
            database and the failed-login throttle.
    """

    def __init__(self, app: ASGIApp, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._table: RouteTable | None = None

    @property
    def table(self) -> RouteTable:
        """The route table (built once, on first use)."""
        if self._table is None:
            self._table = RouteTable.from_app(self.fastapi_app, self.fastapi_app.state.settings)
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.fastapi_app.state.settings
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
            len(name) + len(value) + 4 for name, value in headers)
        if head > settings.max_header_bytes:
            await _send_error(scope, send, 431, "request_header_fields_too_large",
                              f"Request headers too large: the limit is {settings.max_header_kb} KiB", close=True)
            return
        apply_trusted_proxy(scope, self.fastapi_app.state.trusted_proxies)
        rule = self.table.match(scope["method"], scope["path"])
        if rule.authenticated:
            try:
                await self._authenticate(scope, headers)
            except AppError as error:
                extra = {"retry-after": str(error.retry_after)} if isinstance(error, TooManyRequestsError) else {}
                close = not await _drain(receive, headers, settings.max_small_body_bytes)
                await _send_error(scope, send, error.status_code, error.code, error.message, close=close,
                                  headers=extra, shape=rule.errors)
                return
        await self._within_limit(scope, receive, send, headers, rule)

    async def _authenticate(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        """Authenticate the caller (in the thread pool: it reads the database)."""
        state = self.fastapi_app.state
        values = _header_values(headers)
        key = _api_key(values)
        cookies = cookie_parser(b"; ".join(values.get(b"cookie", [])).decode("latin-1"))

        cookie = cookies.get(web_sessions.COOKIE_NAME)
        csrf = _first(values, web_sessions.CSRF_HEADER.encode())
        client = scope_client_address(scope, state.trusted_proxies)
        principal = await run_in_threadpool(_authenticate_sync, state, client, key, cookie, scope["method"], csrf)
        request_state = scope.setdefault("state", {})
        request_state["principal"] = principal
        request_state["user_email"] = principal.email
        request_state["customer_id"] = principal.customer_id

    async def _within_limit(self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]],
                            rule: RouteRule) -> None:
        limit = rule.limit
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            # A client that sends its whole body before reading the answer would see a reset
            # connection instead of the 413 if the server closed at once, so a body of up to twice
            # the limit is read and thrown away first; larger ones are refused at once.
            drained = declared <= 2 * limit and await _drain(receive, headers, 2 * limit)
            await _send_error(scope, send, 413, PayloadTooLargeError.code, too_large(limit), close=not drained,
                              shape=rule.errors)
            return
        received = 0
        pending = _has_body(headers)

        async def limited_receive() -> Message:
            nonlocal received, pending
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body") or b"")
                if received > limit:
                    raise BodyTooLarge(limit)
                pending = bool(message.get("more_body"))
            return message

        async def closing_send(message: Message) -> None:
            # An answer given before the body was read in full (a route that takes none, a 404,
            # a refusal) closes the connection: the server stops receiving what nobody will read.
            if message["type"] == "http.response.start" and pending:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)


def _authenticate_sync(state: Any, client: str, key: str | None, cookie: str | None, method: str,
                       csrf: str | None) -> Any:
    """The caller of a request: throttle check, then API key or session cookie (see ``deps``)."""

    guard = state.auth_guard
    with state.database.session() as session:
        guard.check(client, session)
        try:
            if key is None and cookie:
                principal = web_sessions.authenticate_cookie(session, cookie, method, csrf)
            else:
                principal = authenticate(session, key)
        except AuthenticationFailedError:
            guard.record_failure(client)
            raise
        finally:
            session.rollback()
        unit_of_work.run_after_read(session)  # the key's "last used" time
    return principal


def _header_values(headers: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    values: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    return values


def _first(values: dict[bytes, list[bytes]], name: bytes) -> str | None:
    found = values.get(name)
    return found[0].decode("latin-1") if found else None


def _api_key(values: dict[bytes, list[bytes]]) -> str | None:
    """The API key sent as ``apikey: <key>`` or ``Authorization: Bearer <key>`` (as ``deps`` reads it)."""
    key = (_first(values, b"apikey") or "").strip()
    if key:
        return key
    scheme, _, token = (_first(values, b"authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return True
        if lowered == b"content-length":
            return value.strip() != b"0"
    return False


async def _drain(receive: Receive, headers: list[tuple[bytes, bytes]], bound: int) -> bool:
    """Read and discard the request body if it ends within ``bound`` bytes (nothing is kept).

    Returns:
        Whether the whole body was read (the connection can then be reused); ``False`` when the
        body is larger, or declared larger, than ``bound`` (the caller closes the connection).
    """
    if not _has_body(headers):
        return True
    declared = _content_length(headers)
    if declared is not None and declared > bound:
        return False
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        seen += len(message.get("body") or b"")
        if seen > bound:
            return False
        if not message.get("more_body"):
            return True


async def _send_error(scope: Scope, send: Send, status: int, code: str, message: str, *, close: bool,
                      headers: dict[str, str] | None = None, shape: ErrorShape | None = None) -> None:
    """Answer with the error envelope (:func:`datamint.server.errors.error_body`'s shape), or the
    route's own error ``shape``."""
    body = shape(status, message) if shape is not None else {
        "message": message, "code": code, "status_code": status,
        "request_id": (scope.get("state") or {}).get("request_id")}
    raw = json.dumps(body).encode()
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    out += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    if close:
        out.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": raw})


class BodyTooLarge(HTTPException):
    """A streamed body passed the route's limit while the route read it.

    An ``HTTPException`` because FastAPI re-raises those from body parsing unchanged (any other
    error becomes a 400); it carries :class:`PayloadTooLargeError`'s envelope code.
    """

    code = PayloadTooLargeError.code

    def __init__(self, limit: int) -> None:
        super().__init__(PayloadTooLargeError.status_code, detail=too_large(limit))


def too_large(limit: int) -> str:
    """The 413 message for a body above ``limit`` bytes."""
    if limit < 1024 * 1024:
        return f"Request body too large: the limit is {limit / 1024:g} KiB for this route"
    return f"Request body too large: the limit is {limit / (1024 * 1024):g} MiB for this route"


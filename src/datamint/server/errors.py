"""The one error family of the server and the one JSON envelope it is rendered as.

Every failure a client can cause is an :class:`AppError` subclass raised by a service; one handler
turns it into::

    {"message": "Project not found", "code": "not_found", "status_code": 404, "request_id": "..."}

404 messages always read ``"<Thing> not found"``: the official Datamint client maps a 404 to
``ItemNotFoundError`` only when the text contains `` not found`` (wire protocol §3.2). A 2xx body
never carries an ``error`` key, and this envelope is used only for 4xx/5xx.
"""

from __future__ import annotations

import logging
import re
import tempfile
import traceback
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

_LOG = logging.getLogger("datamint.server")


class AppError(Exception):
    """Base class of every error the server reports to a client.

    Args:
        message: What went wrong and, where possible, what to do about it.
        status_code: HTTP status code (class default when omitted).
        details: Optional JSON-serialisable extra information (e.g. per-field errors).
    """

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, status_code: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details


class BadRequestError(AppError):
    """The request is malformed (400)."""


class ValidationFailedError(AppError):
    """The request is well-formed but its values are not acceptable (422)."""

    status_code = 422
    code = "validation_error"


class AuthenticationFailedError(AppError):
    """No API key, or an unknown or revoked one (401)."""

    status_code = 401
    code = "unauthenticated"


class ForbiddenError(AppError):
    """Authenticated, but not allowed to do this (403)."""

    status_code = 403
    code = "forbidden"


class NotFoundError(AppError):
    """The entity does not exist, or belongs to somebody the caller may not see (404).

    Args:
        thing: The kind of entity, e.g. ``"Project"``; the message becomes ``"Project not found"``.
        message: Overrides the default message; keep the ``" not found"`` wording.
    """

    status_code = 404
    code = "not_found"

    def __init__(self, thing: str, message: str | None = None) -> None:
        super().__init__(message or f"{thing} not found")
        self.thing = thing


class ConflictError(AppError):
    """The entity already exists (409). ``existing`` is returned as the body's ``existing`` key."""

    status_code = 409
    code = "conflict"

    def __init__(self, message: str, existing: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.existing = existing


class NotAcceptableError(AppError):
    """None of the media types the client accepts can be produced (406)."""

    status_code = 406
    code = "not_acceptable"


class GoneError(AppError):
    """The thing existed but is no longer usable, e.g. an expired invitation (410)."""

    status_code = 410
    code = "gone"


class PayloadTooLargeError(AppError):
    """The request body is above the configured limit (413)."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaError(AppError):
    """The uploaded content is not a type the server accepts (415)."""

    status_code = 415
    code = "unsupported_media_type"


class TooManyRequestsError(AppError):
    """The caller is throttled (429); ``retry_after`` seconds go into the ``Retry-After`` header."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_body(request: Request, status_code: int, code: str, message: str, details: Any = None) -> dict:
    """Build the error envelope (the only shape of a 4xx/5xx body)."""
    body: dict[str, Any] = {
        "message": message,
        "code": code,
        "status_code": status_code,
        "request_id": getattr(request.state, "request_id", None),
    }
    if details is not None:
        body["details"] = details
    return body


#: ``<foo.Bar object at 0x7f...>`` and ``<_io.BufferedReader name='/tmp/...'>``: Python reprs that
#: libraries put into their messages.
_OBJECT_REPR = re.compile(r"<[^<>\n]*? at 0x[0-9a-fA-F]+>|<_io\.\w+ name=[^>]*>")


def public_message(message: str, internal_dirs: Iterable[str] = ()) -> str:
    """``message`` without what a client must not read: Python object reprs (``<... at 0x...>``)
    and paths inside the server's own folders (its data folder, spool and temp folders).

    Args:
        message: An error message, possibly carrying a library's text.
        internal_dirs: Absolute folders whose paths are replaced by ``<server file>``.
    """
    text = _OBJECT_REPR.sub("<object>", message)
    for folder in sorted({d.rstrip("/") for d in internal_dirs if d and d != "/"}, key=len, reverse=True):
        text = re.sub(re.escape(folder) + r"(?:/[^\s'\"<>,;:)\]]*|(?![\w.-]))", "<server file>", text)
    return text


def server_dirs(settings: Any = None, store: Any = None) -> list[str]:
    """The folders of this server whose paths never appear in an answer: the system's temp folder,
    the data folder of ``settings``, and the root and spool folder of a local blob ``store``."""
    folders = [tempfile.gettempdir()]
    if settings is not None:
        folders += [str(settings.data_dir), str(settings.data_dir.resolve())]
    for name in ("spool_dir", "root"):
        value = getattr(store, name, None)
        if value:
            folders.append(str(value))
    return folders


def internal_dirs(request: Request) -> list[str]:
    """:func:`server_dirs` of the application serving ``request``."""
    state = request.app.state
    return server_dirs(getattr(state, "settings", None), getattr(state, "blob_store", None))


def describe_database_error(exc: BaseException) -> str:
    """A log line for a database error that names its kind, SQLSTATE and constraint but none of
    the values: neither the statement's parameters nor PostgreSQL's ``DETAIL`` (which quotes key
    values and, for check violations, the whole failing row, password hashes included)."""
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or (str(orig).splitlines() or [""])[0]
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    constraint = getattr(diag, "constraint_name", None)
    return (f"{type(orig).__name__}" + (f" [{state}]" if state else "") + f": {primary}"
            + (f" (constraint {constraint})" if constraint else ""))


def _app_error_handler(request: Request, exc: AppError) -> JSONResponse:
    body = error_body(request, exc.status_code, exc.code, public_message(exc.message, internal_dirs(request)),
                      exc.details)
    headers: dict[str, str] = {}
    if isinstance(exc, ConflictError) and exc.existing is not None:
        body["existing"] = exc.existing
        body["id"] = exc.existing.get("id")
    if isinstance(exc, TooManyRequestsError):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str, list[dict[str, Any]]]:
    """Turn pydantic errors into (status, one readable sentence, per-field details)."""
    details = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        details.append({"field": ".".join(loc) or None,
                        "message": str(err.get("msg", "invalid")).removeprefix("Value error, ")})
    if any(err.get("type") == "json_invalid" for err in errors):
        ctx = errors[0].get("ctx", {}) or {}
        return 400, f"Malformed JSON body: {ctx.get('error', 'could not be parsed')}", details
    parts = [f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details]
    return 422, "Invalid request: " + "; ".join(parts), details


def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    status, message, details = _describe_validation(list(exc.errors()))
    code = "bad_request" if status == 400 else "validation_error"
    return JSONResponse(error_body(request, status, code, message, details), status_code=status)


def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        message = "Not Found: no route for this path"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on this path"
    else:
        message = public_message(str(exc.detail), internal_dirs(request))
    headers = dict(exc.headers or {})
    body = error_body(request, exc.status_code, getattr(exc, "code", "http_error"), message)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


#: SQLSTATEs (PostgreSQL) and result codes (SQLite) of a request that lost a race: it collided with
#: a concurrent one on a unique key or a foreign key, or a lock wait ended in a deadlock.
_CONFLICT_STATES = frozenset({"23505", "23503", "40001", "40P01", "55P03"})
_CONFLICT_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY",
                              "SQLITE_CONSTRAINT_FOREIGNKEY"})
_BUSY_SQLITE = frozenset({"SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"})
CONCURRENT_CHANGE = ("Another request changed the same data at the same time and this one could not be applied; "
                     "reload and retry")


def classify_database_error(exc: DBAPIError) -> str | None:
    """``"conflict"`` for a lost race (unique/foreign key, deadlock, serialization failure),
    ``"busy"`` for a database that stayed locked too long, ``None`` for anything else (a bug)."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _CONFLICT_STATES:
        return "conflict"
    name = getattr(orig, "sqlite_errorname", None)
    if name in _CONFLICT_SQLITE:
        return "conflict"
    if name in _BUSY_SQLITE:
        return "busy"
    return None


def _database_error_handler(request: Request, exc: DBAPIError) -> JSONResponse:
    """A request that lost a race the services did not foresee: 409 (or 503 when the database
    stayed locked), never 500. The message names no table, constraint or value."""
    kind = classify_database_error(exc)
    if kind is None:
        return _unhandled_handler(request, exc)
    rid = getattr(request.state, "request_id", None)
    _LOG.warning("database %s: %s", kind, type(exc.orig).__name__, extra={"request_id": rid})
    if kind == "busy":
        body = error_body(request, 503, "database_busy", "The database is busy with other writes; retry in a moment")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    return JSONResponse(error_body(request, 409, ConflictError.code, CONCURRENT_CHANGE), status_code=409)


def _deleted_meanwhile_handler(request: Request, exc: ObjectDeletedError | StaleDataError) -> JSONResponse:
    """A row this request had read was deleted by another request before this one could use or
    update it."""
    return JSONResponse(error_body(request, 409, ConflictError.code, CONCURRENT_CHANGE), status_code=409)


def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    if isinstance(exc, DBAPIError):  # its text would quote values (DETAIL); the frames say where
        frames = "".join(traceback.format_tb(exc.__traceback__))
        _LOG.error("unhandled database error %s\nTraceback (most recent call last):\n%s%s",
                   describe_database_error(exc), frames, describe_database_error(exc), extra={"request_id": rid})
    else:
        _LOG.error("unhandled error", exc_info=exc, extra={"request_id": rid})
    body = error_body(request, 500, "internal_error",
                      "Internal server error; the request id identifies it in the logs")
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error as the one envelope."""
    app.add_exception_handler(AppError, _app_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_handler)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ObjectDeletedError, _deleted_meanwhile_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StaleDataError, _deleted_meanwhile_handler)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled_handler)

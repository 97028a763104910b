"""Exceptions raised by the Datamint SDK.

Every error derives from :class:`DatamintException`. Errors that come from an HTTP response
also derive from :class:`httpx.HTTPStatusError` (so ``except httpx.HTTPStatusError`` keeps
working) and carry ``status_code``, the server's ``server_message`` and its ``request_id``::

    DatamintException
    ├── AuthenticationError          401, or no API key configured
    ├── PermissionDeniedError        403
    ├── ItemNotFoundError            404 (alias ResourceNotFoundError)
    ├── EntityAlreadyExistsError     409
    ├── ValidationError              400, 413, 422
    ├── RateLimitError               429
    ├── ServerError                  5xx
    ├── NetworkError                 connection failures
    │   └── RequestTimeoutError      timeouts (also a TimeoutError)
    ├── DefaultProjectNotSetError
    ├── ModelNotDeployedError
    └── JobTimeoutError              (also a TimeoutError)
"""

from __future__ import annotations

from typing import Any

import httpx


class DatamintException(Exception):
    """Base class of every Datamint error.

    Attributes:
        status_code: HTTP status of the failed response, if any.
        server_message: The server's own explanation, if any.
        request_id: The server's id for the request (quote it when reporting a problem).
    """

    status_code: int | None = None
    server_message: str | None = None
    request_id: str | None = None
    hint: str | None = None

    def _suffix(self) -> str:
        parts = []
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        text = f" ({', '.join(parts)})" if parts else ""
        if self.hint:
            text += f". {self.hint}"
        return text


class _HTTPError(DatamintException, httpx.HTTPStatusError):
    """An error built from an HTTP response."""

    default_hint: str | None = None

    def __init__(self, message: str, *, response: httpx.Response | None = None,
                 server_message: str | None = None, request_id: str | None = None,
                 hint: str | None = None) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.response = response  # type: ignore[assignment]
        self._request = response.request if response is not None and response._request is not None else None
        self.status_code = response.status_code if response is not None else None
        self.server_message = server_message
        self.request_id = request_id
        self.hint = hint or self.default_hint

    @property  # type: ignore[override]
    def request(self) -> httpx.Request | None:  # type: ignore[override]
        """The request that failed, when known."""
        return self._request

    def __str__(self) -> str:
        return f"{self.message}{self._suffix()}"


class AuthenticationError(_HTTPError):
    """The API key is missing, unknown or revoked."""

    default_hint = ("Check your key: run 'datamint config' or set DATAMINT_API_KEY; "
                    "an admin can issue a new one")


class PermissionDeniedError(_HTTPError):
    """The key is valid but its user may not do this."""

    default_hint = "Ask an admin or the project's manager for the role this needs"


class ItemNotFoundError(_HTTPError):
    """The requested item does not exist (or is not visible to you).

    Args:
        item_type: What was looked for, e.g. ``"project"``.
        params: How it was looked for, e.g. ``{"id": "..."}``.
    """

    default_hint = "Check the id or name; list what exists with the matching get_list()/get_all()"

    def __init__(self, item_type: str, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.item_type = item_type
        self.params = dict(params or {})
        super().__init__(f"{item_type} not found for {self.params}", **kwargs)

    @property
    def resource_type(self) -> str:
        """Alias of :attr:`item_type`."""
        return self.item_type

    def set_params(self, item_type: str, params: dict[str, Any]) -> None:
        """Describe the item that was not found."""
        self.item_type = item_type
        self.params = dict(params)
        self.message = f"{item_type} not found for {self.params}"


ResourceNotFoundError = ItemNotFoundError


class EntityAlreadyExistsError(_HTTPError):
    """An entity with the same unique key (e.g. a project name) already exists.

    Args:
        entity_type: What kind of entity, e.g. ``"project"``.
        params: Its unique key, e.g. ``{"name": "Liver"}``.
        existing: The existing entity's data, when the server returned it.
    """

    default_hint = "Pass exists_ok=True to get the existing one instead"

    def __init__(self, entity_type: str, params: dict[str, Any] | None = None,
                 existing: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.entity_type = entity_type
        self.params = dict(params or {})
        self.existing = existing
        super().__init__(f"{entity_type} already exists for {self.params}", **kwargs)


class ValidationError(_HTTPError):
    """The server rejected the request's values (400, 413 or 422)."""


class RateLimitError(_HTTPError):
    """Too many requests (429). ``retry_after`` says how many seconds to wait."""

    retry_after: float | None = None


class ServerError(_HTTPError):
    """The server failed (5xx). Retrying later may help; quote the request id if it persists."""

    def __init__(self, message: str, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if status_code is not None:
            self.status_code = status_code


class NetworkError(DatamintException):
    """The server could not be reached."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}{self._suffix()}"


class RequestTimeoutError(NetworkError, TimeoutError):
    """The server did not answer in time."""


class DefaultProjectNotSetError(DatamintException):
    """A method needs a project, none was given and no default project is selected."""

    def __init__(self, hint: str | None = None) -> None:
        super().__init__(hint or "No project given and no default project selected: pass project=...")


class ModelNotDeployedError(DatamintException):
    """Inference was requested for a model that has no deployed image."""

    def __init__(self, model_name: str, model_version: int | None = None, model_alias: str | None = None) -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.model_alias = model_alias
        ref = model_name + (f":{model_version}" if model_version is not None else
                            f":{model_alias}" if model_alias else "")
        super().__init__(f"Model {ref} is not deployed; deploy it first with api.deploy.start('{model_name}')")


class JobTimeoutError(DatamintException, TimeoutError):
    """A background job did not finish within the allowed time."""


__all__ = [
    "AuthenticationError",
    "DatamintException",
    "DefaultProjectNotSetError",
    "EntityAlreadyExistsError",
    "ItemNotFoundError",
    "JobTimeoutError",
    "ModelNotDeployedError",
    "NetworkError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResourceNotFoundError",
    "ServerError",
    "ValidationError",
]

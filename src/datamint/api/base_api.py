"""Transport of the SDK: configuration, one request method with retries, error mapping, paging.

Every endpoint handler derives from :class:`BaseApi` and only calls :meth:`BaseApi._request`
(or its async twin for bulk work), :meth:`BaseApi._iter_items` for listings, and the helpers
here. Retries and the status-code → exception mapping live in this module only.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import certifi
import httpx
import pydantic_core

from datamint.exceptions import (
    AuthenticationError,
    DatamintException,
    EntityAlreadyExistsError,
    ItemNotFoundError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ValidationError,
)

if TYPE_CHECKING:
    import cv2
    import pydicom
    from nibabel.filebasedimages import FileBasedImage
    from PIL import Image

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

#: Page size used to walk listings (the largest the server accepts).
PAGE_LIMIT = 5000
#: Status codes worth retrying: throttled, or a proxy/upstream that is briefly unavailable.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Methods that may be repeated without changing the outcome.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Concurrent requests of one bulk operation.
MAX_CONCURRENCY = 20
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 30.0


@dataclass
class ApiConfig:
    """Configuration for API client.

    Attributes:
        server_url: Base URL for the API.
        api_key: Optional API key for authentication.
        timeout: Request timeout in seconds.
        max_retries: Maximum number of retries for requests (connection errors, 429 and
            502/503/504 on idempotent requests), with exponential backoff and jitter.
        verify_ssl: Verify TLS certificates (or a path to a CA bundle).
    """

    server_url: str
    api_key: str | None = None
    timeout: float = 30.0
    max_retries: int = 3
    verify_ssl: bool | str = field(default=True)

    def __post_init__(self) -> None:
        self.server_url = self.server_url.rstrip("/")

    @property
    def web_app_url(self) -> str:
        """Get the base URL for the web application."""
        parsed = urlparse(self.server_url)
        host = parsed.hostname or ""
        if host in ("localhost", "127.0.0.1"):
            return f"{parsed.scheme or 'http'}://{host}:3000"
        if host.startswith("stagingapi."):
            return f"https://staging.{host[len('stagingapi.'):]}"
        if host.startswith("api."):
            return f"https://app.{host[len('api.'):]}"
        return self.server_url


def retry_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    A numeric ``Retry-After`` header wins (capped at 60 s); otherwise exponential backoff
    with full jitter.
    """
    if retry_after:
        try:
            return min(60.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * (2 ** attempt)))


def should_retry(method: str, attempt: int, max_retries: int, *, status: int | None = None,
                 error: Exception | None = None, keyed: bool = False) -> bool:
    """Whether a failed attempt may be repeated.

    Connection errors are retried for every method (nothing reached the server), 429 for
    every method (the server refused before doing anything), 502/503/504 and read timeouts
    only for idempotent methods and for requests that carry an ``Idempotency-Key`` (``keyed``:
    the server answers a repeat with what the first attempt did, e.g. uploads).
    """
    if attempt >= max_retries:
        return False
    idempotent = keyed or method.upper() in IDEMPOTENT_METHODS
    if error is not None:
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True
        return idempotent and isinstance(error, httpx.TransportError)
    if status == 429:
        return True
    return status in RETRY_STATUSES and idempotent


def _keyed(kwargs: dict[str, Any]) -> bool:
    """Whether request arguments carry an ``Idempotency-Key`` header."""
    return any(str(name).lower() == "idempotency-key" for name in (kwargs.get("headers") or {}))


def _server_message(response: httpx.Response) -> tuple[str, str | None]:
    """The server's message and request id from an error response."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:500] or response.reason_phrase), request_id
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error") or response.reason_phrase
        if not isinstance(message, str):
            message = str(message)
        return message, body.get("request_id") or request_id
    return str(body)[:500], request_id


def error_from_response(response: httpx.Response) -> DatamintException:
    """The exception that stands for a failed response (the only status → exception map)."""
    status = response.status_code
    message, request_id = _server_message(response)
    kwargs: dict[str, Any] = {"response": response, "server_message": message, "request_id": request_id}
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        err = ItemNotFoundError("item", {"url": str(response.request.url.path)}, **kwargs)
        err.message = message
        return err
    if status == 409:
        existing = None
        try:
            body = response.json()
            existing = body.get("existing") if isinstance(body, dict) else None
        except ValueError:
            pass
        # A 409 without the existing entity is a refusal by the current state (the last admin, a
        # concurrent change), where exists_ok cannot help.
        hint = None if existing is not None else "Nothing was changed: fix what the message names, or reload and retry"
        err409 = EntityAlreadyExistsError("entity", {}, existing=existing, hint=hint, **kwargs)
        err409.message = message
        return err409
    if status == 429:
        err429 = RateLimitError(message, hint="Slow down; the server throttles this client", **kwargs)
        retry_after = response.headers.get("retry-after")
        err429.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None
        return err429
    if status >= 500:
        return ServerError(message, status_code=status, **kwargs)
    return ValidationError(message, **kwargs)


def _network_error(exc: Exception, url: str) -> NetworkError:
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"Timed out talking to {url}: {exc}",
                                   hint="Raise timeout= in Api(...) for slow networks or big files")
    return NetworkError(f"Could not reach the Datamint server at {url}: {exc}",
                        hint="Check the URL (datamint config) and that the server is running")


def _rewind(files: Any) -> None:
    """Seek file objects in an httpx ``files`` argument back to their start before a retry."""
    if not files:
        return
    values = files.values() if isinstance(files, dict) else [v for _, v in files]
    for value in values:
        fobj = value[1] if isinstance(value, tuple) and len(value) > 1 else value
        if hasattr(fobj, "seek"):
            try:
                fobj.seek(0)
            except (OSError, ValueError):
                pass


def items_from(payload: Any, return_field: str | None = None) -> list[Any]:
    """The items of a list response, whatever its accepted shape (wire protocol §2)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        data = payload.get("data", payload.get("items"))
        if (return_field and "totalCount" in payload and isinstance(data, list) and len(data) == 1
                and isinstance(data[0], dict) and return_field in data[0]):
            return list(data[0][return_field])
        if isinstance(data, list):
            return data
    raise ValidationError(f"Unexpected list response: {str(payload)[:200]}")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a listing's entities are built; restore it after.

    Every entity is a handful of containers (the pydantic model, its dicts and lists) that all stay
    alive. The collector's full passes, triggered each time the heap grew by a quarter, walk every
    object built so far: listing 99,000 resources they took 2.5 of the SDK's 4.8 CPU seconds.
    Entities hold no reference cycles, so the pause leaves nothing behind; a collector another
    thread paused stays paused.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code, also inside a running event loop
    (e.g. Jupyter), where it runs on a private loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    result: dict[str, Any] = {}

    def _target() -> None:
        try:
            result["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=_target, daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS settings of the SDK's clients for a ``verify_ssl`` value, made once per process.

    Building them loads the whole CA bundle (~20 ms of CPU); httpx did that for every client it
    made, so every bulk call (a new asynchronous client each) paid it, and a loop of one-file
    uploads spent most of its client time there. The same rules as httpx: ``True`` trusts
    ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set, else certifi's bundle; a path is a CA bundle
    file or a folder of certificates; ``False`` checks nothing.
    """
    return _tls_context(verify, os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@functools.lru_cache(maxsize=16)
def _tls_context(verify: bool | str, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(**{"capath" if os.path.isdir(verify) else "cafile": verify})
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    return ssl.create_default_context(cafile=certifi.where())


class BaseApi:
    """Base class for all API endpoint handlers.

    Args:
        config: Connection settings.
        client: An ``httpx.Client`` to share with other handlers; one is created when omitted
            (and re-created in a forked process, e.g. a DataLoader worker).
    """

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._client = client
        self._client_pid = os.getpid()
        self._api_instance: Any = None
        self._siblings: dict[str, Any] = {}

    # -- sibling handlers --------------------------------------------------------------------

    def _sibling(self, name: str, make: Callable[[], T]) -> T:
        """The handler ``name`` (an attribute of ``Api``: ``"projects"``, ``"resources"``...) that
        this one works with: the one passed to the constructor, else its ``Api``'s own, else one
        made by ``make`` on the same connection (made once, then kept).

        This is the one way a handler reaches a sibling handler.
        """
        handler = self._siblings.get(name)
        if handler is None:
            handler = getattr(self._api_instance, name) if self._api_instance is not None else make()
            self._siblings[name] = handler
        return handler

    # -- clients -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.config.api_key:
            headers["apikey"] = self.config.api_key
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    @staticmethod
    def _create_client(config: ApiConfig) -> httpx.Client:
        """A synchronous client for ``config`` (keep-alive pool, auth headers, timeout)."""
        api = BaseApi(config)
        return httpx.Client(base_url=config.server_url, headers=api._headers(), timeout=config.timeout,
                            verify=tls_context(config.verify_ssl),
                            limits=httpx.Limits(max_connections=MAX_CONCURRENCY, max_keepalive_connections=10))

    @property
    def client(self) -> httpx.Client:
        """The synchronous HTTP client, rebuilt after a fork so sockets are never shared."""
        if self._client is None or self._client_pid != os.getpid():
            self._client = self._create_client(self.config)
            self._client_pid = os.getpid()
        return self._client

    def _async_client(self) -> httpx.AsyncClient:
        """A new asynchronous client for one bulk operation (close it with ``async with``)."""
        return httpx.AsyncClient(base_url=self.config.server_url, headers=self._headers(),
                                 timeout=self.config.timeout, verify=tls_context(self.config.verify_ssl),
                                 limits=httpx.Limits(max_connections=MAX_CONCURRENCY))

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()

    # -- requests ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, stream: bool = False, raise_errors: bool = True,
                 **kwargs: Any) -> httpx.Response:
        """Send one request, retrying as :func:`should_retry` allows, and map failures.

        Args:
            method: HTTP method.
            path: Path relative to the server URL (or an absolute URL).
            stream: Return without reading the body (the caller must close the response).
            raise_errors: Raise the mapped exception for 4xx/5xx responses.
            **kwargs: Passed to ``httpx.Client.build_request`` (params, json, files, ...).

        Raises:
            DatamintException: The mapped error of a failed response or connection.
        """
        attempt = 0
        while True:
            _rewind(kwargs.get("files"))
            try:
                request = self.client.build_request(method, path, **kwargs)
                response = self.client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if should_retry(method, attempt, self.config.max_retries, error=exc, keyed=_keyed(kwargs)):
                    time.sleep(retry_delay(attempt))
                    attempt += 1
                    continue
                raise _network_error(exc, self.config.server_url) from exc
            if response.status_code >= 400 and should_retry(method, attempt, self.config.max_retries,
                                                            status=response.status_code, keyed=_keyed(kwargs)):
                delay = retry_delay(attempt, response.headers.get("retry-after"))
                response.close()
                _LOGGER.debug("retrying %s %s after %s in %.2fs", method, path, response.status_code, delay)
                time.sleep(delay)
                attempt += 1
                continue
            if raise_errors and response.status_code >= 400:
                if stream:
                    response.read()
                raise error_from_response(response)
            return response

    async def _arequest(self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The asynchronous twin of :meth:`_request` (same retry and error rules), for bulk work."""
        attempt = 0
        while True:
            _rewind(kwargs.get("files"))
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if should_retry(method, attempt, self.config.max_retries, error=exc, keyed=_keyed(kwargs)):
                    await asyncio.sleep(retry_delay(attempt))
                    attempt += 1
                    continue
                raise _network_error(exc, self.config.server_url) from exc
            if response.status_code >= 400 and should_retry(method, attempt, self.config.max_retries,
                                                            status=response.status_code, keyed=_keyed(kwargs)):
                await asyncio.sleep(retry_delay(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise error_from_response(response)
            return response

    def _run_concurrently(self, jobs: Sequence[Callable[[httpx.AsyncClient], Awaitable[T]]],
                          *, limit: int = MAX_CONCURRENCY, return_exceptions: bool = False,
                          on_done: Callable[[], None] | None = None) -> list[T | BaseException]:
        """Run async jobs (each receives a shared ``AsyncClient``) at most ``limit`` at a time.

        Results keep the order of ``jobs``. With ``return_exceptions`` a failed job's exception
        takes its place in the result list instead of being raised.
        """

        async def _main() -> list[T | BaseException]:
            semaphore = asyncio.Semaphore(limit)
            async with self._async_client() as client:

                async def _one(job: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
                    async with semaphore:
                        try:
                            return await job(client)
                        finally:
                            if on_done is not None:
                                on_done()

                return await asyncio.gather(*(_one(j) for j in jobs), return_exceptions=return_exceptions)

        return run_sync(_main)

    def _iter_items(self, path: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
                    return_field: str | None = None, method: str = "GET",
                    body: dict[str, Any] | None = None) -> Iterator[Any]:
        """Walk every page of a listing and yield its items (at most ``limit``); see :meth:`_iter_pages`."""
        for items in self._iter_pages(path, params, limit=limit, return_field=return_field, method=method, body=body):
            yield from items

    def _iter_pages(self, path: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
                    return_field: str | None = None, method: str = "GET",
                    body: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Walk every page of a listing and yield each page's items (at most ``limit`` in all).

        GET listings page with ``offset``/``limit`` query parameters; POST search listings put
        them in the JSON body as strings (wire protocol §2). When a page carries ``nextCursor``
        (our server's keyset paging), the next page is asked for with ``after=<cursor>`` instead
        of an offset, which costs the server the same for every page. While the caller works on a
        full page, the next one is already being fetched (one request ahead, in a worker thread):
        the server's work on the next page overlaps the caller's on this one. The worker only
        sends and receives; each page is decoded here, in the thread that then works on its items.
        A caller that holds the interpreter lock for long (validating thousands of entities in one
        call) should work in slices, so the worker gets to send its request.
        """

        def fetch(offset: int, cursor: str | None, page_size: int) -> bytes:
            if method == "GET":
                query = {k: v for k, v in (params or {}).items() if v is not None}
                query.update({"after": cursor} if cursor else {"offset": offset})
                query["limit"] = page_size
                response = self._request("GET", path, params=query)
            else:
                payload = dict(body or {})
                payload.update(offset=str(offset), limit=str(page_size))
                response = self._request(method, path, params=params, json=payload)
            return response.content

        def next_size(returned: int) -> int:
            return PAGE_LIMIT if limit is None else min(PAGE_LIMIT, limit - returned)

        page_size = next_size(0)
        if page_size <= 0:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamint-pages") as pool:
            pending: Future[bytes] | None = pool.submit(fetch, 0, None, page_size)
            returned = 0
            while pending is not None:
                # pydantic's JSON reader: a page of 5,000 resources in about two thirds of json.loads' time
                data = pydantic_core.from_json(pending.result(), cache_strings="keys")
                cursor = data.get("nextCursor") if method == "GET" and isinstance(data, dict) else None
                items = items_from(data, return_field)
                returned += len(items)
                pending = None
                if len(items) >= page_size:
                    page_size = next_size(returned)
                    if page_size > 0:
                        pending = pool.submit(fetch, returned, cursor, page_size)
                yield items

    # -- conversions -------------------------------------------------------------------------

    @staticmethod
    def convert_format(bytes_array: bytes, mimetype: str | None = None, file_path: str | None = None
                       ) -> pydicom.Dataset | Image.Image | cv2.VideoCapture | FileBasedImage | bytes:
        """Convert the bytes array to the appropriate format based on the mimetype.

        Args:
            bytes_array: Raw file content bytes.
            mimetype: Optional MIME type of the content; sniffed from the bytes when omitted.
            file_path: Deprecated, ignored.

        Returns:
            A ``pydicom.Dataset`` (DICOM), ``PIL.Image.Image`` (images), ``cv2.VideoCapture``
            (video), a nibabel image (NIfTI), or the bytes unchanged for other content.

        Example:
            >>> with open('path/to/file.dcm', 'rb') as f:
            ...     dicom = BaseApi.convert_format(f.read())
        """
        from datamint.imaging.convert import convert_bytes

        return convert_bytes(bytes_array, mimetype)

    @staticmethod
    def get_status_code(e: httpx.HTTPStatusError | Exception) -> int:
        """The HTTP status code carried by an HTTP error (``-1`` when it has none)."""
        status = getattr(e, "status_code", None)
        if isinstance(status, int):
            return status
        response = getattr(e, "response", None)
        if response is not None and hasattr(response, "status_code"):
            return int(response.status_code)
        status = getattr(e, "status", None)
        return int(status) if isinstance(status, int) else -1

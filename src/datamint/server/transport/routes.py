"""What each route may receive: whether it needs a caller, and how large its body may be.

The request gate (:mod:`datamint.server.transport.gate`) looks a request up in a
:class:`RouteTable` **before** the application sees it, so it can refuse an anonymous caller
and bound the body without reading a byte of it. The table is built from the application's own
routes, so a new route is covered the moment it is included:

* **who**: a route needs a caller when its dependencies include the ``CurrentUser`` dependency
  (:func:`datamint.server.deps._principal`), or when it is marked ``body_kind(..., caller=True)``
  (routes that authenticate the caller themselves, such as MLflow's REST API);
* **body kind**, chosen by the route, never by the client's ``Content-Type``:

  - ``"upload"`` — routes with ``File(...)`` parameters, or marked with :func:`body_kind` (routes
    that stream their body themselves: ``POST /resources``, DICOMweb STOW): ``max_upload_mb``;
  - ``"json"`` — routes with a JSON body parameter: ``max_json_mb``;
  - ``"small"`` — everything else (no body expected): ``max_small_body_kb``.

  A route without a caller (sign-in, invitation acceptance, pages) never takes more than
  ``max_small_body_kb``, whatever its kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import FastAPI
from fastapi.params import File
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

from datamint.server.config import Settings
from datamint.server.deps import _principal

BodyKind = Literal["upload", "json", "small"]
F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__datamint_body_kind__"
_CALLER = "__datamint_needs_caller__"
_ERRORS = "__datamint_error_shape__"
#: Renders the gate's refusals for a route whose clients expect another error shape:
#: ``(status, message) -> JSON object``.
ErrorShape = Callable[[int, str], dict[str, Any]]


def body_kind(kind: BodyKind, *, caller: bool = False, errors: ErrorShape | None = None) -> Callable[[F], F]:
    """Declare the body kind of a route that reads its body itself (``request.stream()``).

    Put it under the router's decorator::

        @router.post("/studies")
        @body_kind("upload")
        async def store_instances(request: Request, ...): ...

    Args:
        kind: The route's body kind.
        caller: The route needs a caller but does not depend on ``CurrentUser`` (it authenticates
            itself): the gate then authenticates it too, before the body, and hands the caller
            over in ``request.state.principal``.
        errors: How the gate's refusals (401, 403, 413, 429) of this route are rendered, for
            clients that expect another error shape than the server's envelope (MLflow's).
    """

    def mark(endpoint: F) -> F:
        setattr(endpoint, _MARK, kind)
        if caller:
            setattr(endpoint, _CALLER, True)
        if errors is not None:
            setattr(endpoint, _ERRORS, errors)
        return endpoint

    return mark


@dataclass(frozen=True)
class RouteRule:
    """The gate's rule for one route.

    Attributes:
        path: The route's path template (for messages and tests).
        methods: HTTP methods the route answers.
        authenticated: The route needs a caller (API key or web session).
        kind: The route's body kind.
        limit: Largest body accepted, in bytes.
        errors: How the gate renders its refusals for this route (``None``: the server's envelope).
    """

    path: str
    methods: frozenset[str]
    authenticated: bool
    kind: BodyKind
    limit: int
    errors: ErrorShape | None = None


#: The rule of a path no route answers (404/405 are answered without reading the body).
def _fallback(settings: Settings) -> RouteRule:
    return RouteRule("*", frozenset(), False, "small", settings.max_small_body_bytes)


class RouteTable:
    """Rules for every route of an application, matched like the application's router matches.

    Args:
        rules: ``(compiled path regex, rule)`` in the application's route order.
        fallback: The rule for requests no route matches.
    """

    def __init__(self, rules: list[tuple[re.Pattern[str], RouteRule]], fallback: RouteRule) -> None:
        self.rules = rules
        self.fallback = fallback
        # Candidates by the path's first segment (rules whose first segment is a parameter are
        # candidates for every path), in the application's order: a lookup scans a few rules.
        segments = {_first_segment(rule.path) for _, rule in rules} - {None}
        self._wildcard = [(rx, rule) for rx, rule in rules if _first_segment(rule.path) is None]
        self._by_segment = {seg: [(rx, rule) for rx, rule in rules if _first_segment(rule.path) in (seg, None)]
                            for seg in segments}

    @classmethod
    def from_app(cls, app: FastAPI, settings: Settings) -> RouteTable:
        """Build the table from ``app``'s routes (call it after every router is included)."""
        limits: dict[BodyKind, int] = {"upload": settings.max_upload_bytes, "json": settings.max_json_bytes,
                                       "small": settings.max_small_body_bytes}
        rules: list[tuple[re.Pattern[str], RouteRule]] = []
        for route in iter_routes(app.router.routes):
            if isinstance(route, APIRoute):
                authenticated = needs_caller(route)
                kind = route_body_kind(route)
                limit = limits[kind] if authenticated else min(limits[kind], settings.max_small_body_bytes)
                rules.append((route.path_regex, RouteRule(route.path, frozenset(route.methods or ()),
                                                          authenticated, kind, limit,
                                                          getattr(route.endpoint, _ERRORS, None))))
            elif isinstance(route, (Route, Mount)):  # openapi.json, static files: anonymous, GET
                methods = frozenset(getattr(route, "methods", None) or ())
                rules.append((route.path_regex, RouteRule(route.path, methods, False, "small",
                                                          settings.max_small_body_bytes)))
        return cls(rules, _fallback(settings))

    def match(self, method: str, path: str) -> RouteRule:
        """The rule of the route that would answer ``method path`` (the fallback when none does).

        A path whose routes all answer other methods gets the fallback (the app answers 405).
        """
        candidates = self._by_segment.get(path.split("/", 2)[1] if path.startswith("/") else "", self._wildcard)
        for regex, rule in candidates:
            if regex.match(path) and (not rule.methods or method in rule.methods
                                      or (method == "HEAD" and "GET" in rule.methods)):
                return rule
        return self.fallback

    def __iter__(self) -> Iterator[RouteRule]:
        return (rule for _, rule in self.rules)


def _first_segment(template: str) -> str | None:
    """The literal first segment of a path template (``None`` when it is a parameter)."""
    first = template.split("/", 2)[1] if template.startswith("/") else ""
    return None if "{" in first else first


def iter_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of an application, descending into included routers, in matching order."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            if prefix:  # app.py includes routers without a prefix; a prefix would need re-compiled paths
                raise RuntimeError(f"RouteTable: routers included with a prefix ({prefix!r}) are not supported")
            yield from iter_routes(included.routes)
        else:
            yield route


def needs_caller(route: APIRoute) -> bool:
    """Whether ``route`` depends (directly or through other dependencies) on ``CurrentUser``, or
    is marked as needing a caller (:func:`body_kind`)."""

    if getattr(route.endpoint, _CALLER, False):
        return True

    def walk(dependant: Any) -> bool:
        return dependant.call is _principal or any(walk(sub) for sub in dependant.dependencies)

    return walk(route.dependant)


def route_body_kind(route: APIRoute) -> BodyKind:
    """The body kind of ``route``: its :func:`body_kind` mark, else what its parameters declare."""
    marked = getattr(route.endpoint, _MARK, None)
    if marked is not None:
        return marked  # type: ignore[no-any-return]
    params = _all_body_params(route.dependant)
    if any(isinstance(param.field_info, File) for param in params):
        return "upload"
    if params:
        return "json"
    return "small"


def _all_body_params(dependant: Any) -> list[Any]:
    found = list(dependant.body_params)
    for sub in dependant.dependencies:
        found.extend(_all_body_params(sub))
    return found

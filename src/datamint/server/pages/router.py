"""Routes of the server-rendered pages (see the package docstring).

The invitation form posts to ``POST /invitations/accept``, the same URL as the JSON API. A browser
form's body is ``application/x-www-form-urlencoded``; :class:`FormPostRoute` claims exactly those
requests (its router is included before the API's), so JSON clients reach the API route as before
and browsers get HTML back. The token in the form is the secret: there is no cookie, so there is
nothing a cross-site form could ride on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.routing import Match
from starlette.types import Scope

from datamint import __version__
from datamint.server.auth import invitation_service
from datamint.server.auth.schemas import InvitationAccept
from datamint.server.deps import SessionDep, client_address
from datamint.server.errors import AppError, NotFoundError, TooManyRequestsError
from datamint.server.pages import html

#: The Swagger UI and ReDoc assets (swagger-ui-dist 5, redoc 2), shipped by the fastapi-offline package.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs-assets"
#: Largest invitation form body (a token, two names and two passwords fit in far less).
MAX_FORM_BYTES = 16 * 1024
_FORM = b"application/x-www-form-urlencoded"


class FormPostRoute(APIRoute):
    """A route that matches only requests whose body is an HTML form."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        if content_type.split(b";")[0].strip().lower() != _FORM:
            return Match.NONE, {}
        return match, child


router = APIRouter(include_in_schema=False)
form_router = APIRouter(include_in_schema=False, route_class=FormPostRoute)


@router.get("/")
def home() -> HTMLResponse:
    """What this server is, its version, and links to the API docs."""
    return html.home(__version__)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI with local assets (renders without Internet access)."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(openapi_url=f"{root}{request.app.openapi_url}", title="Datamint API",
                               swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
                               oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
                               swagger_ui_parameters={"validatorUrl": None})


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect helper page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc with local assets and no web fonts."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title="Datamint API",
                          redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png", with_google_fonts=False)


@router.get("/invitations/accept")
def invitation_page(request: Request, session: SessionDep, token: str = "") -> HTMLResponse:
    """The page an invitation link opens: who is invited, and a password form.

    Unknown tokens count as failed authentications for the client's address, as on the API route.
    """
    try:
        invitation = _describe(request, session, token)
    except AppError as exc:
        return _problem(exc)
    return html.invitation_form(token, invitation)


@form_router.post("/invitations/accept")
async def accept_form(request: Request, session: SessionDep) -> HTMLResponse:
    """The invitation form: create the account and show its first API key once."""
    body = bytearray()
    async for chunk in request.stream():  # read no more than the cap, whatever the client sends
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return html.problem("Form too large", f"The form is larger than {MAX_FORM_BYTES // 1024} KiB", 413)
    fields = {k: v[0] for k, v in parse_qs(bytes(body).decode("utf-8", "replace"), keep_blank_values=True).items()}
    token = fields.get("token", "")
    values = {k: fields.get(k, "").strip() for k in ("firstname", "lastname")}
    try:
        invitation = _describe(request, session, token)
    except AppError as exc:
        return _problem(exc)
    password = fields.get("password", "")
    if password != fields.get("password_again", ""):
        return html.invitation_form(token, invitation, "The two passwords differ; type the same one twice.",
                                    values, 422)
    try:
        accept = InvitationAccept(token=token, password=password, firstname=values["firstname"] or None,
                                  lastname=values["lastname"] or None)
    except ValidationError as exc:
        return html.invitation_form(token, invitation, _first_problem(exc), values, 422)
    try:
        result = invitation_service.accept(session, accept)
    except AppError as exc:
        session.rollback()
        return html.invitation_form(token, invitation, exc.message, values, exc.status_code)
    session.commit()
    return html.accepted(result, str(request.base_url).rstrip("/"))


def _describe(request: Request, session: Any, token: str) -> dict[str, Any]:
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    if not token.strip() or len(token) > 200:
        guard.record_failure(client)
        raise NotFoundError("Invitation", "This link has no valid invitation token; open the link exactly "
                                          "as you received it")
    try:
        return invitation_service.describe(session, token)
    except NotFoundError:
        guard.record_failure(client)
        raise


def _problem(exc: AppError) -> HTMLResponse:
    titles = {404: "Invitation not found", 410: "Invitation expired", 429: "Too many attempts"}
    response = html.problem(titles.get(exc.status_code, "Cannot open this invitation"), exc.message,
                            exc.status_code)
    if isinstance(exc, TooManyRequestsError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error.get("loc", ()))
    if field == "password":
        return "The password must have 8 to 200 characters."
    return f"{field}: {error.get('msg')}"

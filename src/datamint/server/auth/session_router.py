"""``/auth/session``: the web app signs in (a cookie session), asks who it is, signs out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from datamint.server.audit import recorder
from datamint.server.auth import service, web_sessions
from datamint.server.auth.schemas import SignInBody
from datamint.server.db.base import iso
from datamint.server.deps import CurrentUser, SessionDep, SettingsDep, UnitOfWork, client_address
from datamint.server.errors import AuthenticationFailedError

router = APIRouter(prefix="/auth", tags=["sessions"])


def _set_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(web_sessions.COOKIE_NAME, token, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


@router.post("/session", status_code=201)
def sign_in(body: SignInBody, request: Request, response: Response, session: UnitOfWork,
            settings: SettingsDep) -> dict[str, Any]:
    """Sign in with email and password (or an API key): sets the HttpOnly session cookie.

    The answer carries the user and the session's CSRF token, which cookie-authenticated writes
    send back in the ``X-CSRF-Token`` header. Failures count as failed authentications for the
    client's address (429 after too many).
    """
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    ttl = timedelta(hours=settings.session_hours)
    try:
        signed = web_sessions.sign_in(session, email=body.email, password=body.password, api_key=body.api_key,
                                      ttl=ttl, organization=body.organization)
    except AuthenticationFailedError:
        guard.record_failure(client)
        raise
    # the caller had no identity before this request: the audit event names the signed-in user
    recorder.describe(session, actor=signed.user, entity_type="web_session", entity_id=signed.web_session_id,
                      details={"method": signed.method})
    _set_cookie(response, request, signed.token, int(ttl.total_seconds()))
    return {"user": service.user_to_wire(signed.user), "csrf_token": signed.csrf_token,
            "expires_at": iso(signed.expires_at)}


@router.get("/session")
def current_session(request: Request, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The signed-in user and, for a cookie session, its CSRF token (``null`` for API keys)."""
    cookie = request.cookies.get(web_sessions.COOKIE_NAME) if me.web_session_id else None
    return {"user": service.user_to_wire(service.get_user(session, me, me.user_id)),
            "csrf_token": web_sessions.csrf_token_for(cookie) if cookie else None}


@router.delete("/session", status_code=204)
def sign_out(request: Request, session: UnitOfWork, me: CurrentUser) -> Response:
    """Sign out: the cookie session ends on the server and the cookie is cleared."""
    if me.web_session_id:
        web_sessions.sign_out(session, request.cookies.get(web_sessions.COOKIE_NAME))
    response = Response(status_code=204)
    response.delete_cookie(web_sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response

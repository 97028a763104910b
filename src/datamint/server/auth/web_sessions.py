"""Web app sessions: sign in with email + password (or an API key), a cookie, CSRF tokens.

A browser signs in once (``POST /auth/session``) and then carries an HttpOnly, ``SameSite=Lax``
cookie holding a random token; only the token's SHA-256 hash is stored (``web_sessions``).
Writes authenticated by that cookie must also send the session's CSRF token in the
``X-CSRF-Token`` header: an HMAC of the cookie's token (:func:`security.csrf_token_for`), which
the page learns from the sign-in response or ``GET /auth/session`` and a page of another site
can neither read nor compute. Requests that carry an API key never use the cookie, so scripts
and the SDK are unaffected.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from datamint.server.auth import repository as repo
from datamint.server.auth.models import User, WebSession
from datamint.server.auth.security import csrf_token_for, generate_session_token, hash_api_key, verify_password
from datamint.server.auth.service import Principal, authenticate
from datamint.server.db.base import utcnow
from datamint.server.errors import AuthenticationFailedError, ConflictError, ForbiddenError, ValidationFailedError

#: Name of the session cookie.
COOKIE_NAME = "datamint_session"
#: Header that carries the CSRF token on cookie-authenticated writes.
CSRF_HEADER = "x-csrf-token"
#: Methods that never change anything and so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SignedIn:
    """A new web session: the cookie's token (set once, never stored), its CSRF token, the user,
    and the session row's id and sign-in method (``"password"`` or ``"api_key"``) for the audit trail."""

    token: str
    csrf_token: str
    user: User
    expires_at: datetime
    web_session_id: str
    method: str


def sign_in(session: Session, *, email: str | None, password: str | None, api_key: str | None,
            ttl: timedelta, organization: str | None = None) -> SignedIn:
    """Open a web session for a user who proves who they are with a password or an API key.

    Args:
        session: The database session.
        email: The user's email (with ``password``).
        password: The user's password.
        api_key: An API key of the user (instead of email and password); the session ends when
            the key is revoked.
        ttl: How long the session lasts.
        organization: The organization's id or name, needed only when the same email and password
            open accounts in several organizations.

    Returns:
        The new session's tokens and user.

    Raises:
        ValidationFailedError: Neither email + password nor an API key was given (422).
        AuthenticationFailedError: Wrong email/password or an unknown/revoked key (401).
        ConflictError: The email and password open accounts in several organizations and
            ``organization`` does not choose one (409).
    """
    if api_key:
        principal = authenticate(session, api_key)
        user = repo.get_user(session, principal.user_id)
        key_id = principal.key_id
    elif email and password:
        user = _password_user(session, email.strip(), password, organization)
        key_id = None
    else:
        raise ValidationFailedError("Sign in with 'email' and 'password', or with 'api_key'")
    assert user is not None
    now = utcnow()
    repo.delete_expired_web_sessions(session, user.id, now)
    token = generate_session_token()
    row = WebSession(user_id=user.id, api_key_id=key_id, token_hash=hash_api_key(token), expires_at=now + ttl)
    session.add(row)
    session.flush()
    return SignedIn(token, csrf_token_for(token), user, row.expires_at, row.id, "api_key" if key_id else "password")


def _password_user(session: Session, email: str, password: str, organization: str | None) -> User:
    """The one account that ``email`` and ``password`` open (an email is unique per organization only)."""
    candidates = repo.users_with_email(session, email)
    if not candidates:
        verify_password(None, password)  # the same cost as a wrong password
    matches = [user for user in candidates if verify_password(user.password_hash, password)]
    if organization:
        chosen = {org.id for org in repo.get_organization_by_name(session, organization.strip())}
        matches = [user for user in matches if user.customer_id in chosen or user.customer_id == organization.strip()]
    if not matches:
        raise AuthenticationFailedError("Wrong email or password")
    if len(matches) > 1:
        raise ConflictError("This email and password open accounts in several organizations: "
                            "give 'organization' (its name or id) to choose one")
    return matches[0]


def authenticate_cookie(session: Session, token: str, method: str, csrf_header: str | None) -> Principal:
    """Resolve a session cookie to a :class:`Principal`, checking CSRF on writes.

    Raises:
        AuthenticationFailedError: The session is unknown, expired, or its API key was revoked (401).
        ForbiddenError: A write (not GET/HEAD/OPTIONS) without the session's CSRF token (403).
    """
    found = repo.get_web_session(session, hash_api_key(token))
    if found is None:
        raise AuthenticationFailedError("Your session has ended: sign in again")
    web, user, key = found
    if web.expires_at <= utcnow() or (key is not None and key.revoked_at is not None):
        raise AuthenticationFailedError("Your session has expired: sign in again")
    if method.upper() not in SAFE_METHODS and not hmac.compare_digest(csrf_header or "", csrf_token_for(token)):
        raise ForbiddenError(f"Missing or wrong CSRF token: send the session's token in the "
                             f"'{CSRF_HEADER.title()}' header (GET /auth/session gives it)")
    return Principal(user.id, user.email, user.customer_id, tuple(user.roles or ()), web.api_key_id, web.id)


def sign_out(session: Session, token: str | None) -> None:
    """End the web session of ``token`` (nothing happens when there is none)."""
    if token:
        repo.delete_web_session(session, hash_api_key(token))

"""Secrets: API key generation and hashing, password hashing (argon2).

API keys are long random tokens, so a fast SHA-256 digest is a safe way to store them (the
same reasoning as GitHub's tokens); passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_PREFIX = "dmk_"
INVITATION_PREFIX = "dmi_"
#: argon2 hashes one process computes at once. Each takes 64 MiB (and four lanes of CPU), and a
#: sign-in needs one before anything is known about the caller: unbounded, forty anonymous
#: sign-ins at once grew the server's peak memory by 1.3 GiB. Further ones wait their turn.
PASSWORD_HASHES_AT_ONCE = 2
_hasher = PasswordHasher()
_hash_slots = threading.BoundedSemaphore(PASSWORD_HASHES_AT_ONCE)


def generate_api_key() -> str:
    """A new API key: ``dmk_`` followed by 43 URL-safe random characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The hex SHA-256 digest under which a key (or invitation token) is stored and looked up."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_invitation_token() -> str:
    """A new one-time invitation token: ``dmi_`` followed by 43 URL-safe random characters."""
    return INVITATION_PREFIX + secrets.token_urlsafe(32)


def key_prefix(key: str) -> str:
    """The first characters of a key, safe to show in listings to tell keys apart."""
    return key[:12]


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (at most :data:`PASSWORD_HASHES_AT_ONCE` at a time)."""
    with _hash_slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches an argon2 hash (``None`` hashes are checked against a dummy,
    so that an unknown email costs the same time as a wrong password); at most
    :data:`PASSWORD_HASHES_AT_ONCE` at a time."""
    try:
        with _hash_slots:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_session_token() -> str:
    """A new web session token (the cookie's value): 43 URL-safe random characters."""
    return secrets.token_urlsafe(32)


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a web session: an HMAC of its (HttpOnly) cookie token.

    Only someone who can read the session's cookie can compute it, and the cookie is HttpOnly,
    so a page of another site can neither read nor forge it (signed double-submit pattern).
    """
    return hmac.new(session_token.encode("utf-8"), b"datamint-csrf", hashlib.sha256).hexdigest()


def random_password() -> str:
    """A random password for accounts created without one."""
    return secrets.token_urlsafe(18)


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(18))

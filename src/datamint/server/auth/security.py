"""Secrets: API key generation and hashing, password hashing (argon2).

API keys are long random tokens, so a fast SHA-256 digest is a safe way to store them (the
same reasoning as GitHub's tokens); passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher

KEY_PREFIX = "dmk_"
INVITATION_PREFIX = "dmi_"
_hasher = PasswordHasher()


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
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def random_password() -> str:
    """A random password for accounts created without one."""
    return secrets.token_urlsafe(18)

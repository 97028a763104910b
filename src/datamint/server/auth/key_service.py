"""Rules for API keys: a user holds several, sees them by prefix only, and revokes them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth import repository as repo
from datamint.server.auth import service as users
from datamint.server.auth.models import ApiKey, User
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import NotFoundError

#: The path segment that stands for the caller in ``/users/{email}/api-keys``.
ME = "me"


def key_owner(session: Session, me: Principal, email: str) -> User:
    """The user whose keys a request addresses: the caller for ``me``, else a user of the
    caller's organization (managing other users' keys needs ``users.manage``).

    Raises:
        ForbiddenError: Another user's keys, without ``users.manage``.
        NotFoundError: No such user in the caller's organization.
    """
    if email == ME:
        policy.require(me, policy.Action.KEYS_MANAGE_OWN)
        return users.get_user(session, me, me.user_id)
    policy.require(me, policy.Action.USERS_MANAGE)
    return users.get_user(session, me, email)


def list_keys(session: Session, me: Principal, owner: User) -> list[dict[str, Any]]:
    """Every key of ``owner``, newest first, revoked ones included (never the hash)."""
    return [key_to_wire(k, me) for k in repo.list_keys(session, owner.id)]


def create_key(session: Session, me: Principal, owner: User, name: str | None) -> dict[str, Any]:
    """Issue a new key to ``owner``; the response is the only time its plaintext is shown."""
    key, plaintext = users.issue_key(session, owner, name=(name or "").strip() or None)
    return {**key_to_wire(key, me), "key": plaintext}


def revoke_key(session: Session, owner: User, key_id: str) -> None:
    """Revoke one of ``owner``'s keys; revoking twice is harmless.

    Raises:
        NotFoundError: ``owner`` has no key with this id.
    """
    key = repo.get_key(session, check_uuid(key_id, "API key"))
    if key is None or key.user_id != owner.id:
        raise NotFoundError("API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()


def key_to_wire(key: ApiKey, me: Principal | None = None) -> dict[str, Any]:
    """The listing shape of a key: enough to recognise it, nothing to use it."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked": key.revoked_at is not None,
        "revoked_at": iso(key.revoked_at),
        "current": me is not None and key.id == me.key_id,
    }

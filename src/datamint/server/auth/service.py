"""Rules for organizations, users and API keys: authentication, first-start bootstrap, user CRUD."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from datamint.server.auth import repository as repo
from datamint.server.auth.models import ApiKey, Organization, User
from datamint.server.auth.security import (
    generate_api_key,
    hash_api_key,
    hash_password,
    key_prefix,
    random_password,
)
from datamint.server.db import locks, unit_of_work
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import (
    AuthenticationFailedError,
    ConflictError,
    NotFoundError,
    ValidationFailedError,
)
from datamint.server.identity import Principal

_LOG = logging.getLogger("datamint.server")
ORG_ROLES = ("admin", "member")
_EMAIL_RE = re.compile(r"^[^@\s/]+@[^@\s/]+$")
_LAST_USED_RESOLUTION = timedelta(minutes=1)

#: Checks run (under the organization's lock) before a user is deleted; each raises
#: :class:`ConflictError` to refuse. Higher areas register theirs at import time (the projects area
#: refuses to delete the last manager of a project), so this module depends on none of them.
USER_REMOVAL_CHECKS: list[Callable[[Session, User], None]] = []


def authenticate(session: Session, api_key: str | None) -> Principal:
    """Resolve an API key to a :class:`Principal`.

    The key's "last used" time (kept to the minute) is written after the request's answer is
    built, best effort (``unit_of_work.after_read``): the caller's session is not committed.

    Raises:
        AuthenticationFailedError: The key is missing, unknown or revoked.
    """
    if not api_key:
        raise AuthenticationFailedError(
            "Missing API key: send it in the 'apikey' header or as 'Authorization: Bearer <key>'"
        )
    found = repo.get_key_with_user(session, hash_api_key(api_key))
    if found is None or found[0].revoked_at is not None:
        raise AuthenticationFailedError("Invalid API key: it is unknown or has been revoked")
    key, user = found
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        key_id = key.id
        unit_of_work.after_read(session, lambda apart: repo.touch_key(apart, key_id, now,
                                                                      older_than=now - _LAST_USED_RESOLUTION))
    return Principal(user.id, user.email, user.customer_id, tuple(user.roles or ()), key.id)


def issue_key(
    session: Session, user: User, name: str | None = None, plaintext: str | None = None
) -> tuple[ApiKey, str]:
    """Create an API key for ``user``; returns the stored row and the plaintext (shown once).

    Raises:
        ConflictError: ``user`` has a key with this name that is not revoked (attached as
            ``existing``, without any secret).
    """
    if name is not None:
        locks.serialize(session, "api-key-name", user.id, name)
        taken = repo.active_key_named(session, user.id, name)
        if taken is not None:
            raise ConflictError(f"{user.email} already has an API key named {name!r}; revoke it or choose "
                                "another name", existing=_key_listing(taken))
    plaintext = plaintext or generate_api_key()
    key = ApiKey(
        user_id=user.id,
        customer_id=user.customer_id,
        name=name,
        prefix=key_prefix(plaintext),
        key_hash=hash_api_key(plaintext),
    )
    session.add(key)
    session.flush()
    return key, plaintext


def create_organization(
    session: Session, name: str, admin_email: str, admin_api_key: str | None = None
) -> tuple[Organization, User, str]:
    """Create an organization with its first admin user and an API key for that admin.

    Returns:
        The organization, the admin user and the admin's plaintext API key.
    """
    org = Organization(name=name)
    session.add(org)
    session.flush()
    admin = new_user(session, org.id, admin_email, None, "Admin", None, ["admin"])
    _, plaintext = issue_key(session, admin, name="bootstrap", plaintext=admin_api_key)
    return org, admin, plaintext


def bootstrap(session: Session, org_name: str, admin_email: str, admin_api_key: str | None) -> str | None:
    """On a fresh installation create the first organization and admin (in the caller's unit of
    work, which commits them).

    Returns:
        The admin's plaintext API key when this call created it, else ``None``.
    """
    locks.serialize(session, "bootstrap")  # several processes may start on a fresh database at once
    if repo.count_organizations(session) > 0:
        return None
    _, _, plaintext = create_organization(session, org_name, admin_email, admin_api_key)
    unit_of_work.after_commit(session, lambda: _LOG.info("bootstrapped organization %r with admin %s",
                                                         org_name, admin_email))
    return plaintext


def _check_roles(roles: list[str] | None) -> list[str]:
    roles = list(roles) if roles else ["member"]
    bad = [r for r in roles if r not in ORG_ROLES]
    if bad:
        raise ValidationFailedError(f"Unknown organization role(s) {bad}; allowed: {list(ORG_ROLES)}")
    return sorted(set(roles))


def _invisible(char: str) -> bool:
    """Whether ``char`` is a control, format (zero-width space, soft hyphen, direction mark),
    private-use or unassigned character: one that would make an address look like another's."""
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn", "Cs")


def check_email(email: str) -> str:
    """``email`` stripped and in Unicode NFC (how emails are stored: a decomposed accent would
    make a second account for one address), or a 422 when it is not a plausible address (or holds
    an invisible character, see :func:`_invisible`)."""
    email = unicodedata.normalize("NFC", (email or "").strip())
    if not _EMAIL_RE.match(email) or len(email) > 320 or any(_invisible(c) for c in email):
        raise ValidationFailedError(f"Invalid email address: {email!r}")
    return email


def new_user(
    session: Session,
    customer_id: str,
    email: str,
    password: str | None,
    firstname: str | None,
    lastname: str | None,
    roles: list[str] | None,
) -> User:
    """Add a user to organization ``customer_id`` (no permission check; callers do that).

    A random password is set when ``password`` is empty; only its argon2 hash is stored. The
    email is unique within the organization, letter case aside: creation is serialized per
    organization and lower-cased email, and the database holds the exact-case uniqueness.

    Raises:
        ConflictError: The organization has a user with this email (no details attached).
    """
    email = check_email(email)
    locks.serialize(session, "user-email", customer_id, repo.email_key(email))
    if repo.get_user_by_email(session, customer_id, email) is not None:
        raise ConflictError(f"A user with email {email!r} already exists")
    user = User(
        customer_id=customer_id,
        email=email,
        firstname=firstname,
        lastname=lastname,
        roles=_check_roles(roles),
        password_hash=hash_password(password or random_password()),
    )
    session.add(user)
    session.flush()
    return user


def create_user(
    session: Session,
    principal: Principal,
    email: str,
    password: str | None = None,
    firstname: str | None = None,
    lastname: str | None = None,
    roles: list[str] | None = None,
) -> User:
    """Create a user in the caller's organization.

    Whether the email has an account in another organization plays no part (and is never told).

    Raises:
        ConflictError: The caller's organization has a user with this email (attached).
    """
    email = check_email(email)
    locks.serialize(session, "user-email", principal.customer_id, repo.email_key(email))
    existing = repo.get_user_by_email(session, principal.customer_id, email)
    if existing is not None:
        raise ConflictError(f"A user with email {email!r} already exists", existing=user_to_wire(existing))
    return new_user(session, principal.customer_id, email, password, firstname, lastname, roles)


def get_user(session: Session, principal: Principal, email_or_id: str) -> User:
    """A user of the caller's organization, addressed by email or id.

    Raises:
        NotFoundError: No such user in the caller's organization.
    """
    if "@" in email_or_id:
        user = repo.get_user_by_email(session, principal.customer_id, email_or_id)
    else:
        user = repo.get_user(session, email_or_id)
    if user is None or user.customer_id != principal.customer_id:
        raise NotFoundError("User")
    return user


def lock_admins(session: Session, principal: Principal) -> set[str]:
    """Lock the caller's organization (its set of admins) until the transaction ends.

    Returns:
        The ids of the organization's admins, read under the lock.

    Raises:
        ConflictError: The caller stopped being an admin (or was deleted) by a request that was
            granted the lock first: a decision taken with its old role must not go through.
    """
    locks.lock_row(session, Organization, principal.customer_id)
    admins = repo.admin_ids(session, principal.customer_id)
    if principal.user_id not in admins:
        raise ConflictError("Another request removed your admin role while this one waited; it was not applied")
    return admins


def _keep_an_admin(admins: set[str], user: User) -> None:
    if admins == {user.id}:
        raise ConflictError(f"{user.email} is the organization's last admin; make another user admin first")


def update_user(session: Session, principal: Principal, email_or_id: str, changes: dict[str, Any]) -> User:
    """Change a user's names, roles or password. A new password ends the user's web sessions,
    but the one the caller makes this request with.

    Raises:
        ConflictError: The change would leave the organization without an admin.
    """
    user = get_user(session, principal, email_or_id)
    if "firstname" in changes:
        user.firstname = changes["firstname"]
    if "lastname" in changes:
        user.lastname = changes["lastname"]
    if changes.get("roles") is not None:
        roles = _check_roles(changes["roles"])
        admins = lock_admins(session, principal)
        if "admin" not in roles:
            _keep_an_admin(admins, user)
        user.roles = roles
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
        # whoever signed in with the old password is signed out (the caller keeps the session it
        # uses); without a flush, so the user's row is written at the commit as one change
        with session.no_autoflush:
            repo.delete_web_sessions_of(session, user.id, keep=principal.web_session_id)
    user.updated_at = utcnow()
    return user


def delete_user(session: Session, principal: Principal, email_or_id: str) -> None:
    """Delete a user and its keys. An admin cannot delete itself (the organization needs one).

    Raises:
        ConflictError: The user is the organization's last admin, or a check of
            :data:`USER_REMOVAL_CHECKS` refuses (e.g. the last manager of a project).
    """
    user = get_user(session, principal, email_or_id)
    if user.id == principal.user_id:
        raise ValidationFailedError("You cannot delete your own account; ask another admin")
    admins = lock_admins(session, principal)
    _keep_an_admin(admins, user)
    for check in USER_REMOVAL_CHECKS:
        check(session, user)
    session.delete(user)


def _key_listing(key: ApiKey) -> dict[str, Any]:
    """A key as listings show it (never the hash); ``key_service.key_to_wire`` adds ``current``."""
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": iso(key.created_at),
            "revoked": key.revoked_at is not None}


def user_to_wire(user: User) -> dict[str, Any]:
    """The wire shape of a user (wire protocol §5.4). Never includes secrets."""
    return {
        "id": user.id,
        "email": user.email,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "roles": list(user.roles or []),
        "customer_id": user.customer_id,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }

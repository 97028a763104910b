"""What the operator of a server does from its machine, without an API key: restore an admin.

An organization must keep an admin (the server refuses to demote or delete the last one), but an
operator may still need to give one back: after an admin left, lost every key, or when data
predates that rule. ``datamint server make-admin EMAIL`` calls :func:`make_admin`; access to the
server's database is the authority, and the change is written to the audit trail as done by the
operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from datamint.server.audit.models import AuditEvent
from datamint.server.auth import repository as repo
from datamint.server.auth import service as users
from datamint.server.auth.models import Organization, User
from datamint.server.db import locks
from datamint.server.db.base import utcnow
from datamint.server.errors import NotFoundError, ValidationFailedError

_UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")


@dataclass
class RestoredAdmin:
    """The outcome of :func:`make_admin`."""

    organization: Organization
    user: User
    created: bool
    """The user did not exist and was created."""
    promoted: bool
    """The user was not an admin before."""
    api_key: str | None
    """A new API key of the user (shown once), when one was asked for."""


def find_organization(session: Session, email: str, org: str | None) -> Organization:
    """The organization meant by ``org`` (a name or an id) or, without it, by ``email``.

    Without ``org``: the one organization where ``email`` has an account, or the only
    organization of the server.

    Raises:
        NotFoundError: No such organization.
        ValidationFailedError: ``org`` is ambiguous, or needed and missing.
    """
    if org:
        by_id = session.get(Organization, org) if _UUID_RE.match(org) else None
        if by_id is not None:
            return by_id
        named = repo.get_organization_by_name(session, org)
        if len(named) == 1:
            return named[0]
        if named:
            raise ValidationFailedError(f"{len(named)} organizations are named {org!r}; give the id of one: "
                                        + ", ".join(o.id for o in named))
        raise NotFoundError("Organization", f"Organization not found: {org!r}; known: {_known(session)}")
    found = repo.organizations_of_email(session, email)
    if len(found) == 1:
        return found[0]
    if found:
        raise ValidationFailedError(f"{email} has an account in {len(found)} organizations "
                                    f"({', '.join(repr(o.name) for o in found)}); choose one with --org")
    every = repo.get_organizations(session)
    if len(every) == 1:
        return every[0]
    raise ValidationFailedError(f"{email} has no account yet; choose its organization with --org "
                                f"(known: {_known(session)})")


def make_admin(session: Session, email: str, org: str | None = None, *, create: bool = False,
               issue_api_key: bool = False) -> RestoredAdmin:
    """Make ``email`` an admin of its organization (the caller commits).

    Args:
        email: The user's email (letter case does not matter).
        org: The organization's name or id; needed when the email has accounts in several
            organizations, or none yet and the server holds several organizations.
        create: Create the user (as an admin) when the organization has none with this email.
        issue_api_key: Also issue a new API key to the user and return it.

    Raises:
        NotFoundError: No such organization, or no such user without ``create``.
        ValidationFailedError: A bad email, or an ambiguous organization.
    """
    email = users.check_email(email)
    organization = find_organization(session, email, org)
    locks.lock_row(session, Organization, organization.id)  # the same lock as the users endpoints
    user = repo.get_user_by_email(session, organization.id, email)
    created = promoted = False
    if user is None:
        if not create:
            raise NotFoundError("User", f"User not found: {email} has no account in organization "
                                f"{organization.name!r}; pass --create to create it as an admin")
        user = users.new_user(session, organization.id, email, None, None, None, ["admin"])
        created = promoted = True
    elif "admin" not in (user.roles or []):
        user.roles = sorted({*(user.roles or []), "admin"})
        user.updated_at = utcnow()
        promoted = True
    key = None
    if issue_api_key:
        key = users.issue_key(session, user, name=f"make-admin {utcnow():%Y-%m-%d %H:%M:%S.%f}")[1]
    session.add(AuditEvent(customer_id=organization.id, user_id=None, user_email=None, action="make_admin",
                           entity_type="user", entity_id=user.id, request_id=None, method="CLI",
                           path="datamint server make-admin", status=0,
                           details={"created": created, "promoted": promoted, "api_key_issued": key is not None}))
    session.flush()
    return RestoredAdmin(organization, user, created, promoted, key)


def _known(session: Session) -> str:
    names = [repr(o.name) for o in repo.get_organizations(session)]
    return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none"

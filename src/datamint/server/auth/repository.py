"""SQL for organizations, users and API keys."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from datamint.server.auth.models import ApiKey, Invitation, Organization, User, WebSession


def email_key(email: str) -> str:
    """The form two emails are compared in: Unicode NFC (a composed and a decomposed accent are
    one letter), lower case. Stored emails are NFC (``service.check_email``), so comparing
    ``lower(email)`` in SQL with this finds an address however it was typed."""
    return unicodedata.normalize("NFC", email).lower()


def count_organizations(session: Session) -> int:
    """Number of organizations (0 on a fresh installation)."""
    return session.scalar(select(func.count()).select_from(Organization)) or 0


def get_user_by_email(session: Session, customer_id: str, email: str) -> User | None:
    """The user of this organization with this email (case-insensitive).

    An email is unique within an organization only: other organizations may have a user with
    the same address, and must never find out.
    """
    return session.scalar(select(User)
                          .where(User.customer_id == customer_id, func.lower(User.email) == email_key(email))
                          .order_by(User.created_at, User.id).limit(1))


def get_user(session: Session, user_id: str) -> User | None:
    """The user with this id, in any organization."""
    return session.get(User, user_id)


def list_users(session: Session, customer_id: str, offset: int, limit: int) -> tuple[Sequence[User], int]:
    """One page of an organization's users, ordered by email, and the total count."""
    where = User.customer_id == customer_id
    total = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = session.scalars(select(User).where(where).order_by(User.email).offset(offset).limit(limit)).all()
    return rows, total


def get_key_with_user(session: Session, key_hash: str) -> tuple[ApiKey, User] | None:
    """The API key stored under ``key_hash`` (revoked or not) and its user, in one query."""
    row = session.execute(select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                          .where(ApiKey.key_hash == key_hash)).first()
    return (row[0], row[1]) if row else None


def touch_key(session: Session, key_id: str, now: datetime, *, older_than: datetime) -> bool:
    """Record that a key was used at ``now`` unless it was recorded since ``older_than`` (by a
    concurrent request: the database keeps one write per interval) or the key was revoked or
    deleted meanwhile; returns whether the key was touched."""
    recorded_before = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < older_than)
    result = session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None), recorded_before)
                             .values(last_used_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def list_keys(session: Session, user_id: str) -> Sequence[ApiKey]:
    """Every key of a user, newest first."""
    stmt = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return session.scalars(stmt).all()


def get_key(session: Session, key_id: str) -> ApiKey | None:
    """The API key with this id."""
    return session.get(ApiKey, key_id)


def admin_ids(session: Session, customer_id: str) -> set[str]:
    """Ids of the admins of an organization."""
    rows = session.execute(select(User.id, User.roles).where(User.customer_id == customer_id)).all()
    return {uid for uid, roles in rows if "admin" in (roles or [])}


def active_key_named(session: Session, user_id: str, name: str) -> ApiKey | None:
    """The user's key with this name that is not revoked."""
    return session.scalar(select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.name == name,
                                               ApiKey.revoked_at.is_(None)))


def get_organizations(session: Session) -> list[Organization]:
    """Every organization, oldest first."""
    return list(session.scalars(select(Organization).order_by(Organization.created_at, Organization.id)))


def get_organization_by_name(session: Session, name: str) -> list[Organization]:
    """Organizations with this exact name (names are not unique), oldest first."""
    return list(session.scalars(select(Organization).where(Organization.name == name)
                                .order_by(Organization.created_at, Organization.id)))


def users_with_email(session: Session, email: str) -> list[User]:
    """Every account with this email (case-insensitive), in any organization, oldest first.

    Only for a sign-in that proves a password before it reveals anything about the accounts.
    """
    return list(session.scalars(select(User).where(func.lower(User.email) == email_key(email))
                                .order_by(User.created_at, User.id)))


def organizations_of_email(session: Session, email: str) -> list[Organization]:
    """Organizations that have a user with this email (case-insensitive), oldest first."""
    return list(session.scalars(select(Organization).join(User, User.customer_id == Organization.id)
                                .where(func.lower(User.email) == email_key(email))
                                .order_by(Organization.created_at, Organization.id)))


def get_invitation_by_token_hash(session: Session, token_hash: str) -> Invitation | None:
    """The invitation whose token hashes to ``token_hash``."""
    return session.scalar(select(Invitation).where(Invitation.token_hash == token_hash))


def claim_invitation(session: Session, invitation_id: str, user_id: str, now: datetime) -> bool:
    """Mark an open invitation accepted by ``user_id``; False when another request was first."""
    result = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.accepted_at.is_(None),
               Invitation.revoked_at.is_(None))
        .values(accepted_at=now, accepted_user_id=user_id)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def open_invitations(
    session: Session, customer_id: str, email: str | None = None, project_id: str | None = None
) -> Sequence[Invitation]:
    """An organization's invitations neither accepted nor revoked (expired ones included), oldest first."""
    stmt = select(Invitation).where(
        Invitation.customer_id == customer_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    )
    if email is not None:
        stmt = stmt.where(func.lower(Invitation.email) == email_key(email))
    if project_id is not None:
        stmt = stmt.where(Invitation.project_id == project_id)
    return session.scalars(stmt.order_by(Invitation.created_at, Invitation.id)).all()


def get_web_session(session: Session, token_hash: str) -> tuple[WebSession, User, ApiKey | None] | None:
    """The web session stored under ``token_hash``, its user and the API key it was opened with."""
    row = session.execute(select(WebSession, User, ApiKey).join(User, User.id == WebSession.user_id)
                          .outerjoin(ApiKey, ApiKey.id == WebSession.api_key_id)
                          .where(WebSession.token_hash == token_hash)).first()
    return (row[0], row[1], row[2]) if row is not None else None


def delete_web_session(session: Session, token_hash: str) -> int:
    """Delete the web session stored under ``token_hash``; the number of rows deleted (0 or 1)."""
    return session.execute(delete(WebSession).where(WebSession.token_hash == token_hash)).rowcount or 0


def delete_web_sessions_of(session: Session, user_id: str, *, keep: str | None = None) -> int:
    """Delete every web session of a user but ``keep`` (a session's id); the number deleted."""
    where = [WebSession.user_id == user_id]
    if keep is not None:
        where.append(WebSession.id != keep)
    return session.execute(delete(WebSession).where(*where)).rowcount or 0


def delete_expired_web_sessions(session: Session, user_id: str, now: datetime) -> None:
    """Delete a user's expired web sessions (called when the user signs in again)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id, WebSession.expires_at <= now))

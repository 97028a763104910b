"""SQL for organizations, users and API keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamint.server.auth.models import ApiKey, Organization, User


def count_organizations(session: Session) -> int:
    """Number of organizations (0 on a fresh installation)."""
    return session.scalar(select(func.count()).select_from(Organization)) or 0


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with this email (case-insensitive), in any organization."""
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def get_user(session: Session, user_id: str) -> User | None:
    """The user with this id, in any organization."""
    return session.get(User, user_id)


def list_users(session: Session, customer_id: str, offset: int, limit: int) -> tuple[Sequence[User], int]:
    """One page of an organization's users, ordered by email, and the total count."""
    where = User.customer_id == customer_id
    total = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = session.scalars(select(User).where(where).order_by(User.email).offset(offset).limit(limit)).all()
    return rows, total


def get_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The API key stored under ``key_hash``, revoked or not."""
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


def list_keys(session: Session, user_id: str) -> Sequence[ApiKey]:
    """Every key of a user, newest first."""
    return session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())).all()

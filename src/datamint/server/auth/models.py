"""Tables of organizations, users and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class Organization(Base):
    """A customer: every record belongs to exactly one (its id is the wire's ``customer_id``)."""

    __tablename__ = "organizations"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()


#: The condition of an invitation that is neither accepted nor revoked (expired ones included).
OPEN_INVITATION = text("accepted_at IS NULL AND revoked_at IS NULL")


class User(Base):
    """A person who signs in with API keys. Users are addressed by email, unique within their
    organization: the same address may hold an account in several organizations, and one
    organization cannot learn whether it does."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    firstname: Mapped[str | None] = mapped_column(String(200))
    lastname: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key. Only its SHA-256 hash is stored; ``prefix`` identifies it in listings.

    A user's keys that are not revoked have distinct names (unnamed keys aside).
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_user_id", "user_id"),
        Index("uq_api_keys_user_id_name_active", "user_id", "name", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to join an organization (and optionally a project).

    Only the SHA-256 hash of its one-time token is stored. ``accepted_at`` or ``revoked_at``
    end it; so does ``expires_at``. Inviting the same email again replaces the token: an
    organization holds at most one open invitation per email.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_customer_id_email", "customer_id", "email"),
        Index("uq_invitations_customer_id_email_open", "customer_id", "email", unique=True,
              sqlite_where=OPEN_INVITATION, postgresql_where=OPEN_INVITATION),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    firstname: Mapped[str | None] = mapped_column(String(200))
    lastname: Mapped[str | None] = mapped_column(String(200))
    return_url: Mapped[str | None] = mapped_column(String(2000))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    project_roles: Mapped[list[Any]] = mapped_column(default=list)
    annotation_worklist_id: Mapped[str | None] = mapped_column(String(36))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invited_by_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser session of the web app, carried by an HttpOnly cookie.

    Only the SHA-256 hash of the cookie's token is stored (the CSRF token is derived from the
    token, see ``auth.web_sessions``). Signing out deletes the row, deleting the user deletes its
    sessions, and a session opened with an API key (``api_key_id``) ends when that key is revoked.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]


class AuthFailure(Base):
    """One failed authentication from a client address (a bad key, cookie, password or invitation
    token), kept for the throttle's window (:mod:`datamint.server.auth.throttle`).

    In the database, not in a process, so every worker of the server counts the same failures.
    """

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_client_failed_at", "client", "failed_at"),
                      Index("ix_auth_failures_failed_at", "failed_at"))

    id: Mapped[str] = id_column()
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = created_at_column()

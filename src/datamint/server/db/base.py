"""Declarative base and the column helpers every table uses.

Ids are UUID strings (``String(36)``) on both SQLite and PostgreSQL: the official client refuses
other id formats. Times are stored in UTC and always read back timezone-aware (:class:`UtcDateTime`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON stored as JSONB on PostgreSQL and as JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def new_id() -> str:
    """A new random UUID in its canonical string form."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """Render a stored time as ISO 8601 in UTC with a ``Z`` suffix (naive values are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    elif value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that hands back timezone-aware UTC values on every backend.

    PostgreSQL keeps the offset; SQLite stores the text without it and returns naive values,
    which could not be compared with :func:`utcnow`. Values are written in UTC (naive ones are
    taken as UTC) and read back with ``tzinfo=UTC``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names follow :data:`NAMING_CONVENTION`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UtcDateTime(),
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
    }


def id_column(**kwargs: Any) -> Mapped[str]:
    """A UUID primary-key column that fills itself."""
    return mapped_column(String(36), primary_key=True, default=new_id, **kwargs)


def created_at_column() -> Mapped[datetime]:
    """A creation-time column filled with the current UTC time."""
    return mapped_column(UtcDateTime(), default=utcnow, nullable=False)

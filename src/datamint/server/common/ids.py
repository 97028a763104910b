"""Validation of the UUID ids that appear in paths and bodies."""

from __future__ import annotations

import uuid

from datamint.server.errors import ValidationFailedError


def check_uuid(value: str, thing: str) -> str:
    """Return ``value`` in canonical lowercase form, or raise a 422 naming the bad id.

    Args:
        value: The id as received.
        thing: What it identifies, e.g. ``"project"``, for the error message.
    """
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise ValidationFailedError(f"Invalid {thing} id {value!r}: expected a UUID such as "
                                    "'123e4567-e89b-12d3-a456-426614174000'")


def check_uuids(values: list[str], thing: str) -> list[str]:
    """:func:`check_uuid` for each value, keeping order and dropping duplicates."""
    seen: dict[str, None] = {}
    for value in values:
        seen[check_uuid(value, thing)] = None
    return list(seen)

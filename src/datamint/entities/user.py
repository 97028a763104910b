"""The User entity (wire protocol §5.4)."""

from __future__ import annotations

from typing import Any

from datamint.entities.base_entity import BaseEntity


class User(BaseEntity):
    """A user of the platform. Users are addressed by email; ``id`` is their UUID.

    Attributes:
        email: Email address (unique).
        firstname: First name.
        lastname: Last name.
        roles: Organization roles, e.g. ``['admin']`` or ``['member']``.
        customer_id: The user's organization.
        created_at: ISO 8601 creation time.
    """

    email: str
    firstname: str | None
    lastname: str | None
    roles: list[str]
    customer_id: str
    created_at: str

    def __init__(self, **data: Any) -> None:
        data.setdefault("id", data.get("email"))
        super().__init__(**data)

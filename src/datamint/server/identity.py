"""Who is calling: the :class:`Principal` a request acts as, resolved by ``auth`` from an API key
or a web session. A leaf module, so that ``policy`` and every area can name the caller without
depending on how it was authenticated."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the authenticated user, its organization and the key (or web session) used."""

    user_id: str
    email: str
    customer_id: str
    roles: tuple[str, ...]
    key_id: str | None = None
    web_session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the user is an administrator of its organization."""
        return "admin" in self.roles

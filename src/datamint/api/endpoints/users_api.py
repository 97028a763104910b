"""Users endpoint handler (``api.users``). Users are addressed by email."""

from __future__ import annotations

from typing import Any

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.entity_base_api import CreatableEntityApi
from datamint.entities.user import User
from datamint.exceptions import ItemNotFoundError


class UsersApi(CreatableEntityApi[User]):
    """API handler for the users of your organization.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
    """

    return_field = "users"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, User, "users", client)

    def _validate_entity_id(self, entity_id: str) -> None:
        if not entity_id or not isinstance(entity_id, str):
            raise ValueError("User email cannot be empty.")

    def _entid(self, entity: Any) -> str:
        return entity if isinstance(entity, str) else entity.email

    def create(self, email: str, password: str | None = None, firstname: str | None = None,
               lastname: str | None = None, roles: list[str] | None = None, exists_ok: bool = False) -> str:
        """Create a new user.

        Args:
            email: The user's email address.
            password: The user's password. If None, a random password will be generated.
            firstname: The user's first name.
            lastname: The user's last name.
            roles: List of roles to assign to the user (``'admin'`` or ``'member'``; default member).
            exists_ok: If ``True``, do not raise an error when a user with the same email
                already exists. Instead, the existing user's id is returned when possible.

        Returns:
            The id of the created user.

        Raises:
            EntityAlreadyExistsError: The email is taken and ``exists_ok`` is false.
        """
        payload = {"email": email, "password": password, "firstname": firstname, "lastname": lastname,
                   "roles": roles}
        return self._create(payload, return_entity=False, exists_ok=exists_ok, unique_key={"email": email})

    def get_by_email(self, email: str) -> User:
        """Get a user by email address.

        Args:
            email: The user's email address.

        Returns:
            The User instance.

        Raises:
            ItemNotFoundError: No such user in your organization.
        """
        try:
            return self.get_by_id(email)
        except ItemNotFoundError as err:
            err.set_params("user", {"email": email})
            raise

    def update_user(self, email: str, **kwargs: Any) -> None:
        """Partially update a user's profile.

        Args:
            email: The user's email address.
            **kwargs: Fields to update (e.g. ``firstname``, ``lastname``, ``roles``, ``password``).
        """
        payload = {k: v for k, v in kwargs.items() if v is not None}
        self._make_entity_request("PATCH", email, json=payload)

    def delete_user(self, email: str) -> None:
        """Delete a user by email address.

        Args:
            email: The user's email address.
        """
        self._make_entity_request("DELETE", email)

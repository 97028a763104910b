"""Users endpoint handler (``api.users``): users, invitations and API keys. Users are addressed
by email.

Accepting an invitation needs no API key yet, so it is the module function
:func:`accept_invitation` rather than a method.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from datamint import configs
from datamint.api.base_api import ApiConfig, BaseApi
from datamint.api.entity_base_api import CreatableEntityApi
from datamint.entities.user import User
from datamint.exceptions import ItemNotFoundError


def _seg(value: str) -> str:
    """``value`` quoted as one path segment (emails keep their ``@``)."""
    return quote(value, safe="@")


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

    # -- invitations -------------------------------------------------------------------------

    def invite(self, email: str, firstname: str | None = None, lastname: str | None = None,
               return_url: str | None = None, project_id: str | None = None,
               project_roles: list[str] | None = None, annotation_worklist_id: str | None = None) -> dict:
        """Send an invitation email to a new user.

        This server has no mail transport: the returned dict carries the one-time
        ``invitation_link`` (and its ``token``), shown only this once; pass it on to the
        invitee, who accepts with :func:`accept_invitation`. Inviting the same email again
        replaces the link.

        Args:
            email: The invitee's email address.
            firstname: The invitee's first name.
            lastname: The invitee's last name.
            return_url: URL the invite link should redirect to after acceptance.
            project_id: Optional project to add the invitee to.
            project_roles: Roles to assign in the given project (default ``['PROJECT_ANNOTATOR']``).
            annotation_worklist_id: Optional annotation worklist to associate.

        Returns:
            The server response as a dict: the invitation (``email``, ``status``,
            ``expires_at``, ...) plus ``token`` and ``invitation_link``.

        Raises:
            EntityAlreadyExistsError: A user with this email exists already.
            PermissionDeniedError: You are not an admin.

        Example:
            >>> inv = api.users.invite('ana@lab.org', project_id=project.id,
            ...                        project_roles=['PROJECT_REVIEWER'])
            >>> inv['invitation_link']
        """
        payload: dict[str, Any] = {"email": email}
        optional = {"firstname": firstname, "lastname": lastname, "return_url": return_url,
                    "project_id": project_id, "project_roles": project_roles,
                    "annotation_worklist_id": annotation_worklist_id}
        payload.update({k: v for k, v in optional.items() if v is not None})
        return self._request("POST", f"/{self.endpoint_base}/invite", json=payload).json()

    def get_invitations(self, project_id: str | None = None) -> list[dict]:
        """List pending user invitations.

        Args:
            project_id: Optional project ID to filter invitations.

        Returns:
            List of invitation dicts (``status`` is ``'pending'`` or ``'expired'``; tokens are
            never listed).
        """
        params = {"project_id": project_id} if project_id else None
        return self._request("GET", f"/{self.endpoint_base}/invitations", params=params).json()

    def revoke_invitation(self, email: str) -> None:
        """Revoke a pending invitation by the invitee's email.

        Args:
            email: The invitee's email address.

        Raises:
            ItemNotFoundError: No pending invitation for this email.
        """
        self._request("DELETE", f"/{self.endpoint_base}/invitations/{_seg(email)}/revoke")

    # -- API keys ----------------------------------------------------------------------------

    def _keys_path(self, email: str | None) -> str:
        return f"/{self.endpoint_base}/{_seg(email) if email else 'me'}/api-keys"

    def create_api_key(self, name: str | None = None, email: str | None = None) -> str:
        """Issue a new API key.

        Args:
            name: A label to recognise the key by (e.g. ``'laptop'``).
            email: Whose key; default yourself. Other users' keys need the admin role.

        Returns:
            The key itself. It is shown only this once: store it now.

        Example:
            >>> key = api.users.create_api_key('ci-runner')
        """
        body = {"name": name} if name else None
        return self._request("POST", self._keys_path(email), json=body).json()["key"]

    def list_api_keys(self, email: str | None = None) -> list[dict]:
        """List API keys, newest first, revoked ones included.

        Args:
            email: Whose keys; default yours. Other users' keys need the admin role.

        Returns:
            One dict per key: ``id``, ``name``, ``prefix``, ``created_at``, ``last_used_at``,
            ``revoked``, ``revoked_at`` and ``current`` (the key of this session). Never the key.
        """
        return self._request("GET", self._keys_path(email)).json()

    def revoke_api_key(self, key_id: str, email: str | None = None) -> None:
        """Revoke an API key; requests with it fail with 401 from now on.

        Args:
            key_id: The key's ``id`` (see :meth:`list_api_keys`).
            email: Whose key; default yours. Other users' keys need the admin role.

        Raises:
            ItemNotFoundError: No such key for this user.
        """
        self._request("DELETE", f"{self._keys_path(email)}/{_seg(key_id)}")


def accept_invitation(token: str, server_url: str | None = None, password: str | None = None,
                      firstname: str | None = None, lastname: str | None = None,
                      verify_ssl: bool | str = True) -> dict:
    """Accept an invitation: create your account and receive its first API key.

    Needs no API key. Give the invitation link as you received it, or just its ``token``
    parameter. (Opened in a browser, the link shows a page that does the same.)

    Args:
        token: The invitation link, or the one-time token from it.
        server_url: The server; default: the link's, then ``DATAMINT_API_URL``, then the config file.
        password: Your password (at least 8 characters); a random one when omitted.
        firstname: Your first name (default: the one given in the invitation).
        lastname: Your last name (default: the one given in the invitation).
        verify_ssl: Verify TLS certificates, or a path to a CA bundle.

    Returns:
        ``{'user': {...}, 'api_key': 'dmk_...', 'project_id': ..., 'project_roles': [...], ...}``.
        The key is shown only this once.

    Raises:
        ItemNotFoundError: The token is unknown, already used or revoked.
        ValidationError: The invitation expired, or the password is too short.

    Example:
        >>> from datamint.api.endpoints.users_api import accept_invitation
        >>> account = accept_invitation('http://localhost:5000/invitations/accept?token=dmi_...',
        ...                             password='a long secret')
        >>> api = Api('http://localhost:5000', account['api_key'])
    """
    if token.startswith(("http://", "https://")):
        link = urlsplit(token)
        token = (parse_qs(link.query).get("token") or [""])[0]
        if not token:
            raise ValueError("The invitation link has no token=... parameter; paste the whole link")
        server_url = server_url or f"{link.scheme}://{link.netloc}"
    url = server_url or configs.get_value(configs.APIURL_KEY)
    api = BaseApi(ApiConfig(server_url=url, api_key=None, verify_ssl=verify_ssl))
    body = {"token": token, "password": password, "firstname": firstname, "lastname": lastname}
    try:
        return api._request("POST", "/invitations/accept", json={k: v for k, v in body.items() if v}).json()
    finally:
        api.close()

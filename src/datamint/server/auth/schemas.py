"""Request bodies of the users endpoints (wire protocol §4.5)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from datamint.server.common.values import Line, RequestBody, line


class UserCreate(RequestBody):
    """Body of ``POST /users``; the official client sends every key, nulls included."""

    model_config = ConfigDict(extra="ignore")

    email: line(320, min_length=3)
    password: line(200) | None = None
    firstname: line(200) | None = None
    lastname: line(200) | None = None
    roles: list[line(50)] | None = None


class UserUpdate(RequestBody):
    """Body of ``PATCH /users/{email}``: only the keys present are changed."""

    model_config = ConfigDict(extra="forbid")

    firstname: line(200) | None = None
    lastname: line(200) | None = None
    roles: list[line(50)] | None = None
    password: line(200, min_length=8) | None = None


class InvitationCreate(RequestBody):
    """Body of ``POST /users/invite`` (wire protocol §4.5)."""

    model_config = ConfigDict(extra="ignore")

    email: line(320, min_length=3)
    firstname: line(200) | None = None
    lastname: line(200) | None = None
    return_url: line(2000) | None = None
    project_id: Line | None = None
    project_roles: list[line(50)] | None = None
    annotation_worklist_id: line(36) | None = None


class InvitationToken(RequestBody):
    """Body of ``POST /invitations/describe``: the one-time token."""

    model_config = ConfigDict(extra="forbid")

    token: line(200, min_length=1)


class InvitationAccept(RequestBody):
    """Body of ``POST /invitations/accept``: the one-time token and the new account's details."""

    model_config = ConfigDict(extra="forbid")

    token: line(200, min_length=1)
    password: line(200, min_length=8) | None = None
    firstname: line(200) | None = None
    lastname: line(200) | None = None


class ApiKeyCreate(RequestBody):
    """Body of ``POST /users/me/api-keys`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    name: line(200) | None = None


class SignInBody(RequestBody):
    """Body of ``POST /auth/session``: email and password, or an API key."""

    model_config = ConfigDict(extra="forbid")

    email: line(320) | None = None
    password: line(200) | None = None
    api_key: line(200) | None = None
    organization: line(200) | None = Field(default=None,
                                     description="Organization id or name: only when the same email and password "
                                                 "open accounts in several organizations")

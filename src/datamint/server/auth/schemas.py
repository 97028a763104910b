"""Request bodies of the users endpoints (wire protocol §4.5)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UserCreate(BaseModel):
    """Body of ``POST /users``; the official client sends every key, nulls included."""

    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=3, max_length=320)
    password: str | None = Field(default=None, max_length=200)
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    roles: list[str] | None = None


class UserUpdate(BaseModel):
    """Body of ``PATCH /users/{email}``: only the keys present are changed."""

    model_config = ConfigDict(extra="forbid")

    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    roles: list[str] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)


class InvitationCreate(BaseModel):
    """Body of ``POST /users/invite`` (wire protocol §4.5)."""

    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=3, max_length=320)
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    return_url: str | None = Field(default=None, max_length=2000)
    project_id: str | None = None
    project_roles: list[str] | None = None
    annotation_worklist_id: str | None = None


class InvitationToken(BaseModel):
    """Body of ``POST /invitations/describe``: the one-time token."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class InvitationAccept(BaseModel):
    """Body of ``POST /invitations/accept``: the one-time token and the new account's details."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=200)
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)


class ApiKeyCreate(BaseModel):
    """Body of ``POST /users/me/api-keys`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)


class SignInBody(BaseModel):
    """Body of ``POST /auth/session``: email and password, or an API key."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=200)
    api_key: str | None = Field(default=None, max_length=200)
    organization: str | None = Field(default=None, max_length=200,
                                     description="Organization id or name: only when the same email and password "
                                                 "open accounts in several organizations")

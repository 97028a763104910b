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

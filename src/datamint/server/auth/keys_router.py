"""API key endpoints: one's own keys under ``/users/me``, any user's keys for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from datamint.server.auth import key_service as service
from datamint.server.auth.schemas import ApiKeyCreate
from datamint.server.deps import CurrentUser, SessionDep, UnitOfWork

router = APIRouter(prefix="/users", tags=["api keys"])


@router.get("/me/api-keys")
def list_my_api_keys(session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """The caller's keys by prefix, newest first (a bare list; never the keys themselves)."""
    return service.list_keys(session, me, service.key_owner(session, me, service.ME))


@router.post("/me/api-keys", status_code=201)
def create_my_api_key(session: UnitOfWork, me: CurrentUser,
                      body: ApiKeyCreate | None = None) -> dict[str, Any]:
    """Issue a new key to the caller; ``key`` in the response is shown only this once."""
    owner = service.key_owner(session, me, service.ME)
    result = service.create_key(session, me, owner, body.name if body else None)
    return result


@router.delete("/me/api-keys/{key_id}", status_code=204)
def revoke_my_api_key(key_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Revoke one of the caller's keys (also the one in use)."""
    service.revoke_key(session, service.key_owner(session, me, service.ME), key_id)
    return Response(status_code=204)


@router.get("/{email}/api-keys")
def list_api_keys(email: str, session: SessionDep, me: CurrentUser) -> list[dict[str, Any]]:
    """A user's keys by prefix (admins)."""
    return service.list_keys(session, me, service.key_owner(session, me, email))


@router.post("/{email}/api-keys", status_code=201)
def create_api_key(email: str, session: UnitOfWork, me: CurrentUser,
                   body: ApiKeyCreate | None = None) -> dict[str, Any]:
    """Issue a new key to a user (admins); ``key`` is shown only this once."""
    owner = service.key_owner(session, me, email)
    result = service.create_key(session, me, owner, body.name if body else None)
    return result


@router.delete("/{email}/api-keys/{key_id}", status_code=204)
def revoke_api_key(email: str, key_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Revoke one of a user's keys (admins)."""
    service.revoke_key(session, service.key_owner(session, me, email), key_id)
    return Response(status_code=204)

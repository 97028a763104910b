"""Users endpoints (wire protocol §4.5): users are addressed by email (their id works too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from datamint.server import policy
from datamint.server.auth import repository as repo
from datamint.server.auth import service
from datamint.server.auth.schemas import UserCreate, UserUpdate
from datamint.server.common.pagination import PageDep, envelope
from datamint.server.deps import CurrentUser, SessionDep, UnitOfWork

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def list_users(session: SessionDep, me: CurrentUser, page: PageDep) -> dict[str, Any]:
    """Users of the caller's organization, paginated."""
    policy.require(me, policy.Action.USERS_READ)
    rows, total = repo.list_users(session, me.customer_id, page.offset, page.limit)
    return envelope([service.user_to_wire(u) for u in rows], total)


@router.post("", status_code=201)
def create_user(body: UserCreate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Create a user in the caller's organization; 409 with the existing user on a duplicate email."""
    policy.require(me, policy.Action.USERS_MANAGE)
    user = service.create_user(session, me, body.email, body.password, body.firstname, body.lastname,
                               body.roles)
    return service.user_to_wire(user)


@router.get("/me")
def whoami(session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The calling user."""
    return service.user_to_wire(service.get_user(session, me, me.user_id))


@router.get("/{email}")
def get_user(email: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One user of the caller's organization."""
    policy.require(me, policy.Action.USERS_READ)
    return service.user_to_wire(service.get_user(session, me, email))


@router.patch("/{email}")
def update_user(email: str, body: UserUpdate, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Change a user's names, roles or password."""
    policy.require(me, policy.Action.USERS_MANAGE)
    user = service.update_user(session, me, email, body.model_dump(exclude_unset=True))
    return service.user_to_wire(user)


@router.delete("/{email}", status_code=204)
def delete_user(email: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Delete a user and revoke its keys."""
    policy.require(me, policy.Action.USERS_MANAGE)
    service.delete_user(session, me, email)
    return Response(status_code=204)

"""Invitation endpoints: invite, list, revoke (admins), and the public accept."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from datamint.server import policy
from datamint.server.auth.schemas import InvitationAccept, InvitationCreate, InvitationToken
from datamint.server.deps import CurrentUser, SessionDep, SettingsDep, UnitOfWork, client_address
from datamint.server.errors import NotFoundError
from datamint.server.invitations import service

router = APIRouter(tags=["invitations"])


@router.post("/users/invite", status_code=201)
def invite_user(body: InvitationCreate, session: UnitOfWork, settings: SettingsDep,
                me: CurrentUser) -> dict[str, Any]:
    """Invite a person by email; the response carries the one-time link (no email is sent)."""
    policy.require(me, policy.Action.USERS_MANAGE)
    ttl = timedelta(hours=settings.invitation_ttl_hours)
    result = service.invite(session, me, body, settings.public_base_url, ttl)  # never the Host header
    return result


@router.get("/users/invitations")
def list_invitations(
    session: SessionDep,
    me: CurrentUser,
    project_id: Annotated[str | None, Query(description="Only invitations into this project")] = None,
) -> list[dict[str, Any]]:
    """Open invitations of the organization (a bare list)."""
    policy.require(me, policy.Action.USERS_MANAGE)
    return service.list_invitations(session, me, project_id)


@router.delete("/users/invitations/{email}/revoke", status_code=204)
def revoke_invitation(email: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Revoke the open invitation of ``email``."""
    policy.require(me, policy.Action.USERS_MANAGE)
    service.revoke(session, me, email)
    return Response(status_code=204)


@router.post("/invitations/accept", status_code=201)
def accept_invitation(body: InvitationAccept, request: Request, session: UnitOfWork) -> dict[str, Any]:
    """Create an account from an invitation token (no API key needed); returns its first key once.

    Unknown tokens count as failed authentications for the client's address.
    """
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    try:
        result = service.accept(session, body)
    except NotFoundError:
        guard.record_failure(client)
        raise
    return result


@router.post("/invitations/describe")
def describe_invitation(body: InvitationToken, request: Request, session: SessionDep) -> dict[str, Any]:
    """Who an invitation is for (email, names, organization, expiry), before it is accepted: the
    web app's accept page shows it. The token travels in the body, never in a URL. Unknown tokens
    count as failed authentications for the client's address."""
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    try:
        return service.describe(session, body.token)
    except NotFoundError:
        guard.record_failure(client)
        raise

"""Invitations through the real SDK: invite, list, revoke, accept (one-time, expiring)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from datamint import Api
from datamint.api.endpoints.users_api import accept_invitation
from datamint.exceptions import (
    EntityAlreadyExistsError,
    ItemNotFoundError,
    PermissionDeniedError,
    ValidationError,
)

from conftest import unique


def _email() -> str:
    return f"{unique('inv')}@example.test"


def test_invite_then_accept_creates_the_account_in_the_project(server, api):
    project = api.projects.create(unique("p"), "invitations")
    email = _email()
    invitation = api.users.invite(email, firstname="Ana", project_id=project.id,
                                  project_roles=["PROJECT_REVIEWER"], return_url="https://lab.example/welcome")
    assert invitation["status"] == "pending" and invitation["email"] == email
    assert invitation["project_roles"] == ["PROJECT_REVIEWER"]
    token = invitation["token"]
    assert token.startswith("dmi_") and f"token={token}" in invitation["invitation_link"]

    listed = api.users.get_invitations(project_id=project.id)
    assert [i["email"] for i in listed] == [email]
    assert token not in str(listed) and "token" not in listed[0]

    account = accept_invitation(token, server.url, password="a long enough secret", lastname="Lima")
    assert account["user"]["email"] == email and account["user"]["firstname"] == "Ana"
    assert account["user"]["lastname"] == "Lima" and account["user"]["roles"] == ["member"]
    assert account["project_id"] == project.id and account["return_url"] == "https://lab.example/welcome"
    assert account["user"]["customer_id"] == api.users.get_all(limit=1)[0].customer_id

    invitee = Api(server.url, account["api_key"])
    members = {m["email"]: m["roles"] for m in invitee.projects.get_members(project.id)}
    assert members[email] == ["PROJECT_REVIEWER"]
    assert email not in {i["email"] for i in api.users.get_invitations()}

    with pytest.raises(ItemNotFoundError):
        accept_invitation(token, server.url)


def test_a_token_is_accepted_once_even_concurrently(server, api):
    token = api.users.invite(_email())["token"]

    def accept(_: int) -> int:
        return httpx.post(f"{server.url}/invitations/accept", json={"token": token}, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(accept, range(4)))
    assert sorted(statuses)[0] == 201 and statuses.count(201) == 1
    assert set(statuses) <= {201, 404, 409}


def test_inviting_again_replaces_the_link(server, api):
    email = _email()
    first = api.users.invite(email)["token"]
    second = api.users.invite(email, lastname="Again")["token"]
    assert first != second
    assert [i["lastname"] for i in api.users.get_invitations() if i["email"] == email] == ["Again"]
    with pytest.raises(ItemNotFoundError):
        accept_invitation(first, server.url)
    assert accept_invitation(second, server.url)["user"]["email"] == email


def test_revoked_invitation_cannot_be_accepted(server, api):
    email = _email()
    token = api.users.invite(email)["token"]
    api.users.revoke_invitation(email)
    assert email not in {i["email"] for i in api.users.get_invitations()}
    with pytest.raises(ItemNotFoundError):
        accept_invitation(token, server.url)
    with pytest.raises(ItemNotFoundError):
        api.users.revoke_invitation(email)


def test_expired_invitation_is_refused(server, api):
    from datamint.server.auth.models import Invitation

    email = _email()
    token = api.users.invite(email)["token"]
    with server.database.transaction() as session:
        row = session.query(Invitation).filter_by(email=email).one()
        row.expires_at = row.created_at - timedelta(seconds=1)
    assert [i["status"] for i in api.users.get_invitations() if i["email"] == email] == ["expired"]
    with pytest.raises(ValidationError, match="expired") as info:
        accept_invitation(token, server.url)
    assert info.value.status_code == 410


def test_bad_invitations_are_rejected(server, api):
    existing = f"{unique('exists')}@example.test"
    api.users.create(existing)
    with pytest.raises(EntityAlreadyExistsError):
        api.users.invite(existing)
    with pytest.raises(ValidationError, match="project_id"):
        api.users.invite(_email(), project_roles=["PROJECT_ANNOTATOR"])
    project = api.projects.create(unique("p"), "d")
    with pytest.raises(ValidationError, match="role"):
        api.users.invite(_email(), project_id=project.id, project_roles=["OWNER"])
    with pytest.raises(ValidationError, match="return_url"):
        api.users.invite(_email(), return_url="javascript:alert(1)")
    with pytest.raises(ValidationError, match="email"):
        api.users.invite("not-an-email")
    outsider = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError):
        outsider.users.invite(_email(), project_id=project.id)
    token = api.users.invite(_email())["token"]
    with pytest.raises(ValidationError):
        accept_invitation(token, server.url, password="short")
    assert accept_invitation(token, server.url)["api_key"].startswith("dmk_")


def test_members_cannot_invite_or_list_invitations(server):
    _, key = server.new_user(roles=["member"])
    member = Api(server.url, key)
    with pytest.raises(PermissionDeniedError):
        member.users.invite(_email())
    with pytest.raises(PermissionDeniedError):
        member.users.get_invitations()


def test_invitations_of_other_organizations_are_invisible(server, api):
    email = _email()
    api.users.invite(email)
    outsider = Api(server.url, server.new_org())
    assert email not in {i["email"] for i in outsider.users.get_invitations()}
    with pytest.raises(ItemNotFoundError):
        outsider.users.revoke_invitation(email)

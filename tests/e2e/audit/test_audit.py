"""The audit trail: every change recorded once with who, when, what and the request id."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest

from datamint import Api
from datamint.exceptions import PermissionDeniedError, ValidationError

from conftest import unique


def _send(server, key: str, method: str, path: str, **kwargs) -> tuple[httpx.Response, str]:
    request_id = f"audit-{uuid.uuid4().hex}"
    headers = {"apikey": key, "x-request-id": request_id}
    response = httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs)
    return response, request_id


def test_changes_are_recorded_with_who_what_and_request_id(server, api):
    created, create_rid = _send(server, server.admin_key, "POST", "/projects",
                                json={"name": unique("audited")})
    assert created.status_code == 201
    pid = created.json()["id"]
    patched, patch_rid = _send(server, server.admin_key, "PATCH", f"/projects/{pid}",
                               json={"description": "x"})
    assert patched.status_code == 200
    email, _ = server.new_user(roles=["member"])
    user_id = api.users.get_by_email(email).id
    api.projects.set_member(pid, user_id, ["PROJECT_REVIEWER"])

    events = api.audit.get_list(entity_type="project", entity_id=pid)
    assert [e["action"] for e in events] == ["set_project_member", "update_project", "create_project"]
    create_event = events[-1]
    assert create_event["request_id"] == create_rid and create_event["method"] == "POST"
    assert create_event["path"] == "/projects" and create_event["status"] == 201
    assert create_event["user_email"] in {u.email for u in api.users.get_all() if "admin" in u.roles}
    created_types = {c["type"] for c in create_event["details"]["changes"] if c["op"] == "create"}
    assert created_types == {"project", "dataset", "project_member", "worklist"}  # the default worklist
    assert [e["id"] for e in api.audit.get_list(request_id=create_rid)] == [create_event["id"]]
    update_event = events[1]
    assert update_event["request_id"] == patch_rid
    assert update_event["details"]["changes"] == [{"op": "update", "type": "project", "id": pid,
                                                   "fields": ["description", "updated_at"]}]
    member_event = events[0]
    assert member_event["details"]["params"] == {"project_id": pid, "user_id": user_id}


def test_failed_and_read_only_requests_leave_no_event(server, api):
    project = api.projects.create(unique("quiet"), "d")
    _, key = server.new_user(roles=["member"])
    forbidden, _ = _send(server, key, "PATCH", f"/projects/{project.id}", json={"description": "no"})
    assert forbidden.status_code == 404
    invalid, _ = _send(server, server.admin_key, "PATCH", f"/projects/{project.id}", json={"name": ""})
    assert invalid.status_code == 422
    api.projects.get_by_id(project.id)
    api.projects.get_members(project)
    assert [e["action"] for e in api.audit.get_list(entity_id=project.id)] == ["create_project"]


def test_user_and_key_events(server, api):
    email = f"{unique('aud')}@example.test"
    user_id = api.users.create(email, password="initial password")
    api.users.update_user(email, password="another password")
    api.users.create_api_key("audited", email=email)
    key_id = next(k["id"] for k in api.users.list_api_keys(email=email) if k["name"] == "audited")
    api.users.revoke_api_key(key_id, email=email)
    api.users.delete_user(email)
    events = api.audit.get_list(entity_type="user", entity_id=user_id)
    assert [e["action"] for e in events] == ["delete_user", "revoke_api_key", "create_api_key", "update_user",
                                             "create_user"]
    assert events[3]["details"]["changes"][0]["fields"] == ["password_hash", "updated_at"]
    revoked = {"op": "update", "type": "api_key", "id": key_id, "fields": ["revoked_at"]}
    assert revoked in events[1]["details"]["changes"]
    for event in events:
        assert "argon2" not in str(event) and "dmk_" not in str(event)


def test_own_key_and_invitation_events(server, api):
    email, key = server.new_user(roles=["member"])
    me = Api(server.url, key)
    me.users.create_api_key("mine")
    mine = api.audit.get_list(user=email, action="create_my_api_key")
    assert len(mine) == 1 and mine[0]["entity_type"] == "api_key" and mine[0]["user_email"] == email

    invited = f"{unique('inv')}@example.test"
    invitation = api.users.invite(invited)
    invite_events = api.audit.get_list(action="invite_user", entity_id=invitation["id"])
    assert [e["entity_type"] for e in invite_events] == ["invitation"]
    from datamint.api.endpoints.users_api import accept_invitation

    account = accept_invitation(invitation["token"], server.url)
    accepted = api.audit.get_list(action="accept_invitation", entity_id=invitation["id"])
    assert len(accepted) == 1 and accepted[0]["user_email"] == invited
    assert accepted[0]["user_id"] == account["user"]["id"]
    assert invitation["token"] not in str(api.audit.get_list(limit=50))


def test_filters_and_access(server, api):
    project = api.projects.create(unique("filters"), "d")
    today = date.today()
    assert api.audit.get_list(entity_id=project.id, from_date=today - timedelta(days=1), to_date=today)
    assert not api.audit.get_list(entity_id=project.id, from_date=today + timedelta(days=2))
    assert not api.audit.get_list(entity_id=project.id, to_date=today - timedelta(days=2))
    assert not api.audit.get_list(entity_id=project.id, user="nobody@example.test")
    assert len(api.audit.get_list(limit=3)) == 3
    with pytest.raises(ValidationError, match="from"):
        api.audit.get_list(from_date="yesterday")
    with pytest.raises(ValidationError):
        api.audit.get_list(from_date=today, to_date=today - timedelta(days=3))

    _, key = server.new_user(roles=["member"])
    with pytest.raises(PermissionDeniedError):
        Api(server.url, key).audit.get_list()
    outsider = Api(server.url, server.new_org())
    assert not outsider.audit.get_list(entity_id=project.id)
    assert all(e["customer_id"] != project.customer_id for e in outsider.audit.get_list())

"""API keys through the real SDK: several per user, listed by prefix only, revocable."""

from __future__ import annotations

import pytest

from datamint import Api
from datamint.exceptions import AuthenticationError, ItemNotFoundError, PermissionDeniedError, ValidationError

from conftest import unique


def test_a_user_holds_several_keys_and_revokes_them(server):
    email, first_key = server.new_user(roles=["member"])
    me = Api(server.url, first_key)
    second_key = me.users.create_api_key("laptop")
    assert second_key.startswith("dmk_") and second_key != first_key

    keys = me.users.list_api_keys()
    assert len(keys) == 2
    by_name = {k["name"]: k for k in keys}
    assert by_name["laptop"]["prefix"] == second_key[:12] and not by_name["laptop"]["revoked"]
    current = [k for k in keys if k["current"]]
    assert len(current) == 1 and current[0]["prefix"] == first_key[:12]
    assert current[0]["last_used_at"] is not None
    assert first_key not in str(keys) and second_key not in str(keys)
    assert set(keys[0]) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked", "revoked_at",
                            "current"}

    laptop = Api(server.url, second_key)
    laptop.users.revoke_api_key(current[0]["id"])
    with pytest.raises(AuthenticationError):
        Api(server.url, first_key, check_connection=False).users.list_api_keys()
    listed = {k["id"]: k for k in laptop.users.list_api_keys()}
    assert listed[current[0]["id"]]["revoked"] and listed[current[0]["id"]]["revoked_at"]
    laptop.users.revoke_api_key(current[0]["id"])  # twice is harmless


def test_admins_manage_other_users_keys(server, api):
    email, key = server.new_user(roles=["member"])
    issued = api.users.create_api_key("ci", email=email)
    assert {k["name"] for k in api.users.list_api_keys(email=email)} == {None, "ci"}
    user = Api(server.url, issued)
    assert len(user.users.list_api_keys()) == 2
    ci_id = next(k["id"] for k in api.users.list_api_keys(email=email) if k["name"] == "ci")
    api.users.revoke_api_key(ci_id, email=email)
    with pytest.raises(AuthenticationError):
        Api(server.url, issued, check_connection=False).users.list_api_keys()
    assert Api(server.url, key).users.list_api_keys()


def test_keys_of_others_are_guarded(server, api):
    email, key = server.new_user(roles=["member"])
    other_email, _ = server.new_user(roles=["member"])
    member = Api(server.url, key)
    with pytest.raises(PermissionDeniedError):
        member.users.list_api_keys(email=other_email)
    with pytest.raises(PermissionDeniedError):
        member.users.create_api_key(email=other_email)
    outsider = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError):
        outsider.users.list_api_keys(email=email)
    other_key_id = api.users.list_api_keys(email=other_email)[0]["id"]
    with pytest.raises(ItemNotFoundError):
        member.users.revoke_api_key(other_key_id)
    with pytest.raises(ValidationError):
        member.users.revoke_api_key("not-a-uuid")
    assert not any(k["revoked"] for k in api.users.list_api_keys(email=other_email))


def test_deleting_a_user_ends_its_keys(server, api):
    email = f"{unique('gone')}@example.test"
    api.users.create(email)
    key = api.users.create_api_key(email=email)
    assert Api(server.url, key).users.list_api_keys()
    api.users.delete_user(email)
    with pytest.raises(AuthenticationError):
        Api(server.url, key, check_connection=False).users.list_api_keys()

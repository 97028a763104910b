"""Project membership through the real SDK: list, set, remove, and the last-manager rule."""

from __future__ import annotations

import pytest

from datamint import Api
from datamint.exceptions import EntityAlreadyExistsError, ItemNotFoundError, PermissionDeniedError, ValidationError

from conftest import unique


def _user(server, api):
    email, key = server.new_user(roles=["member"])
    return api.users.get_by_email(email), Api(server.url, key)


def test_members_lifecycle(server, api):
    project = api.projects.create(unique("p"), "members")
    creator = api.projects.get_members(project)
    assert len(creator) == 1 and creator[0]["roles"] == ["PROJECT_MANAGER"]
    assert set(creator[0]) >= {"project_id", "user_id", "email", "roles", "expertise_level", "status",
                               "firstname", "lastname"}

    user, client = _user(server, api)
    with pytest.raises(ItemNotFoundError):
        client.projects.get_by_id(project.id)
    api.projects.set_member(project, user.id, ["PROJECT_ANNOTATOR"])
    assert client.projects.get_by_id(project.id).id == project.id
    with pytest.raises(PermissionDeniedError):
        client.projects.get_members(project)

    api.projects.set_member(project.id, user.email, ["PROJECT_REVIEWER", "PROJECT_ANNOTATOR"])
    members = {m["user_id"]: m for m in client.projects.get_members(project)}
    assert members[user.id]["roles"] == ["PROJECT_REVIEWER", "PROJECT_ANNOTATOR"]
    assert members[user.id]["status"] == "active" and members[user.id]["project_id"] == project.id

    api.projects.remove_member(project, user.id)
    with pytest.raises(ItemNotFoundError):
        client.projects.get_by_id(project.id)
    with pytest.raises(ItemNotFoundError):
        api.projects.remove_member(project, user.id)


def test_managers_manage_members_but_not_the_last_manager(server, api):
    manager, manager_api = _user(server, api)
    project = manager_api.projects.create(unique("p"), "managed by a member")
    helper, _ = _user(server, api)
    manager_api.projects.set_member(project, helper.id, ["PROJECT_ANNOTATOR"])

    with pytest.raises(EntityAlreadyExistsError, match="last PROJECT_MANAGER"):
        manager_api.projects.remove_member(project, manager.id)
    with pytest.raises(EntityAlreadyExistsError, match="last PROJECT_MANAGER"):
        manager_api.projects.set_member(project, manager.id, ["PROJECT_ANNOTATOR"])
    manager_api.projects.set_member(project, helper.id, ["PROJECT_MANAGER"])
    manager_api.projects.remove_member(project, manager.id)
    assert [m["user_id"] for m in api.projects.get_members(project)] == [helper.id]


def test_bad_member_requests(server, api):
    project = api.projects.create(unique("p"), "d")
    user, _ = _user(server, api)
    with pytest.raises(ValidationError, match="role"):
        api.projects.set_member(project, user.id, ["OWNER"])
    with pytest.raises(ValidationError, match="at least one"):
        api.projects.set_member(project, user.id, [])
    with pytest.raises(ValidationError):
        api.projects.set_member(project, "not-a-uuid", ["PROJECT_ANNOTATOR"])
    outsider_email = Api(server.url, server.new_org()).users.get_all()[0].email
    with pytest.raises(ItemNotFoundError):
        api.projects.set_member(project, outsider_email, ["PROJECT_ANNOTATOR"])
    with pytest.raises(ItemNotFoundError):
        api.projects.set_member(project, "00000000-0000-4000-8000-000000000000", ["PROJECT_ANNOTATOR"])


def test_reviewers_and_annotators_cannot_change_members(server, api):
    project = api.projects.create(unique("p"), "d")
    reviewer, reviewer_api = _user(server, api)
    api.projects.set_member(project, reviewer.id, ["PROJECT_REVIEWER"])
    target, _ = _user(server, api)
    with pytest.raises(PermissionDeniedError):
        reviewer_api.projects.set_member(project, target.id, ["PROJECT_ANNOTATOR"])
    with pytest.raises(PermissionDeniedError):
        reviewer_api.projects.set_member(project, reviewer.id, ["PROJECT_MANAGER"])
    assert target.id not in {m["user_id"] for m in api.projects.get_members(project)}

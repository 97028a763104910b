"""Projects through the real SDK against the real server, on every backend."""

from __future__ import annotations

import pytest

from datamint import Api
from datamint.entities.project import Project
from datamint.exceptions import AuthenticationError, EntityAlreadyExistsError, ItemNotFoundError

from conftest import unique


def test_connect_with_valid_key(server, monkeypatch):
    monkeypatch.setattr(Api, "_verified", set())  # other tests already verified this URL and key
    api = Api(server.url, server.admin_key)
    assert (server.url, server.admin_key, True) in Api._verified  # the check ran and passed
    project = api.projects.create(unique("connect"), "d")
    assert project.id in {p.id for p in api.projects.get_list()}


def test_wrong_key_raises_authentication_error(server):
    with pytest.raises(AuthenticationError) as info:
        Api(server.url, "dmk_not_a_real_key", check_connection=True)
    assert info.value.status_code == 401
    assert info.value.request_id


def test_project_crud(api):
    name = unique("proj")
    project = api.projects.create(name, "first description")
    assert isinstance(project, Project)
    assert project.name == name and project.description == "first description"
    assert project.archived is False and project.resource_count == 0

    fetched = api.projects.get_by_id(project.id)
    assert fetched.id == project.id and fetched.dataset_id == project.dataset_id
    assert api.projects.get_by_name(name).id == project.id
    assert project.id in {p.id for p in api.projects.get_all()}

    updated = api.projects.patch(project, {"description": "second", "pinned_metrics": ["dice"]})
    assert updated.description == "second"
    assert api.projects.get_by_id(project.id).pinned_metrics == ["dice"]
    assert api.projects.partial_update(project.id, {"name": name + "-renamed"}).name == name + "-renamed"

    api.projects.delete(project)
    archived = api.projects.get_by_id(project.id)
    assert archived.archived is True
    assert project.id not in {p.id for p in api.projects.get_list()}
    assert project.id in {p.id for p in api.projects.get_deleted()}
    assert api.projects.get_by_name(name + "-renamed", include_archived=False) is None

    restored = api.projects.restore(project.id)
    assert restored.archived is False
    assert project.id in {p.id for p in api.projects.get_list()}


def test_create_returns_id_when_asked(api):
    project_id = api.projects.create(unique("proj"), "d", return_entity=False)
    assert isinstance(project_id, str) and api.projects.get_by_id(project_id).id == project_id


def test_duplicate_name_follows_exists_ok(api):
    name = unique("dup")
    first = api.projects.create(name, "d")
    with pytest.raises(EntityAlreadyExistsError) as info:
        api.projects.create(name, "again")
    assert info.value.status_code == 409 and info.value.params == {"name": name}
    again = api.projects.create(name, "again", exists_ok=True)
    assert again.id == first.id and again.description == "d"
    assert api.projects.create(name, "x", exists_ok=True, return_entity=False) == first.id


def test_other_organization_cannot_see_project(server, api):
    project = api.projects.create(unique("private"), "secret")
    outsider = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError) as info:
        outsider.projects.get_by_id(project.id)
    assert info.value.status_code == 404
    assert project.id not in {p.id for p in outsider.projects.get_all()}
    with pytest.raises(ItemNotFoundError):
        outsider.projects.delete(project.id)
    assert api.projects.get_by_id(project.id).archived is False


def test_member_sees_only_own_projects(server, api):
    admins_project = api.projects.create(unique("admin-only"), "d")
    _, key = server.new_user(roles=["member"])
    member = Api(server.url, key)
    own = member.projects.create(unique("mine"), "d")
    visible = {p.id for p in member.projects.get_all()}
    assert own.id in visible and admins_project.id not in visible
    with pytest.raises(ItemNotFoundError):
        member.projects.get_by_id(admins_project.id)
    assert own.id in {p.id for p in api.projects.get_all()}


def test_listing_walks_pages(api, monkeypatch):
    import datamint.api.base_api as base_api

    names = {unique("page") for _ in range(5)}
    for name in names:
        api.projects.create(name, "d")
    monkeypatch.setattr(base_api, "PAGE_LIMIT", 2)
    listed = [p.name for p in api.projects.get_all()]
    assert names <= set(listed)
    assert len(listed) == len(set(listed))
    assert len(api.projects.get_list(limit=3)) == 3


def test_get_by_id_rejects_non_uuid_client_side(api):
    with pytest.raises(ValueError, match="UUID"):
        api.projects.get_by_id("not-a-uuid")

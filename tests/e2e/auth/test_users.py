"""Users through the real SDK against the real server."""

from __future__ import annotations

import pytest

from datamint import Api
from datamint.exceptions import (
    EntityAlreadyExistsError,
    ItemNotFoundError,
    PermissionDeniedError,
    ValidationError,
)

from conftest import unique


def test_user_lifecycle(api):
    email = f"{unique('u')}@example.test"
    user_id = api.users.create(email, firstname="Ada", lastname="Lovelace")
    user = api.users.get_by_email(email)
    assert user.id == user_id and user.firstname == "Ada" and user.roles == ["member"]
    assert email in {u.email for u in api.users.get_all()}

    api.users.update_user(email, lastname="Byron", roles=["admin"])
    changed = api.users.get_by_email(email)
    assert changed.lastname == "Byron" and changed.roles == ["admin"]

    api.users.delete_user(email)
    with pytest.raises(ItemNotFoundError):
        api.users.get_by_email(email)


def test_duplicate_email(api):
    email = f"{unique('dup')}@example.test"
    first = api.users.create(email)
    with pytest.raises(EntityAlreadyExistsError):
        api.users.create(email)
    assert api.users.create(email, exists_ok=True) == first


def test_invalid_role_and_email_are_rejected(api):
    with pytest.raises(ValidationError, match="role"):
        api.users.create(f"{unique('r')}@example.test", roles=["superuser"])
    with pytest.raises(ValidationError, match="email"):
        api.users.create("not-an-email")


def test_members_cannot_manage_users(server):
    _, key = server.new_user(roles=["member"])
    member = Api(server.url, key)
    with pytest.raises(PermissionDeniedError) as info:
        member.users.create(f"{unique('x')}@example.test")
    assert info.value.status_code == 403


def test_other_organization_users_are_invisible(server, api):
    email = f"{unique('hidden')}@example.test"
    api.users.create(email)
    outsider = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError):
        outsider.users.get_by_email(email)
    assert email not in {u.email for u in outsider.users.get_all()}
    with pytest.raises(ItemNotFoundError):
        outsider.users.delete_user(email)


def test_an_organization_keeps_its_last_admin(server):
    admin = Api(server.url, server.new_org())
    me = next(u for u in admin.users.get_all() if "admin" in u.roles)
    with pytest.raises(EntityAlreadyExistsError, match="last admin") as refused:
        admin.users.update_user(me.email, roles=["member"])
    assert refused.value.status_code == 409 and refused.value.existing is None
    assert "exists_ok" not in str(refused.value) and "reload and retry" in str(refused.value)
    other = f"{unique('second')}@example.test"
    admin.users.create(other, roles=["admin"])
    admin.users.update_user(me.email, roles=["member"])
    assert admin.users.get_by_email(me.email).roles == ["member"]


def test_members_cannot_raise_their_own_role(server, api):
    email, key = server.new_user(roles=["member"])
    with pytest.raises(PermissionDeniedError):
        Api(server.url, key).users.update_user(email, roles=["admin"])
    assert api.users.get_by_email(email).roles == ["member"]


def test_deleting_an_annotator_keeps_their_work(server, tmp_path):
    from fixtures.files import png_file

    admin_key = server.new_org()
    admin = Api(server.url, admin_key)
    email, key = server.new_user(roles=["member"], admin_key=admin_key)
    user = Api(server.url, key)
    project = user.projects.create(unique("p"), "d")
    rid = user.resources.upload_resource(str(png_file(tmp_path / "a.png")), publish_to=project.id)
    aid = user.annotations.add_box_annotation((1, 1), (5, 5), rid, "box")
    with pytest.raises(EntityAlreadyExistsError, match=f"last PROJECT_MANAGER of project\\(s\\) '{project.name}'"):
        admin.users.delete_user(email)  # the project would be left without a manager
    admin_id = next(u.id for u in admin.users.get_all() if "admin" in u.roles)
    admin.projects.set_member(project, admin_id, ["PROJECT_MANAGER"])
    admin.users.delete_user(email)
    assert admin.annotations.get_by_id(aid).created_by == email
    assert admin.resources.get_by_id(rid).created_by == email
    assert admin.projects.get_by_id(project.id).resource_count == 1

"""Publishing, tagging, soft delete/restore, permissions and project membership of resources."""

from __future__ import annotations

import httpx
import pytest

from datamint import Api
from datamint.exceptions import ItemNotFoundError, PermissionDeniedError, ValidationError
from fixtures.files import png_file, pydicom_file

from conftest import unique


@pytest.fixture
def org(server):
    """(admin SDK, server) of a fresh organization."""
    client = Api(server.url, server.new_org())
    yield client
    client.close()


def _pngs(api: Api, folder, n: int, **kwargs) -> list[str]:
    return [api.resources.upload_resource(str(png_file(folder / f"img{i}.png")), **kwargs) for i in range(n)]


def test_publish_one_many_and_again(org, tmp_path):
    ids = _pngs(org, tmp_path, 3)
    org.resources.publish_resources(ids[0])
    published = org.resources.get_by_id(ids[0])
    assert published.status == "published" and published.published and published.published_by
    org.resources.publish_resources(ids[0])  # already published: tolerated
    org.resources.publish_resources([ids[1], org.resources.get_by_id(ids[2])])
    assert {r.status for r in org.resources.get_list()} == {"published"}
    org.resources.bulk_publish(ids)
    with pytest.raises(ItemNotFoundError):
        org.resources.publish_resources("123e4567-e89b-12d3-a456-426614174000")


def test_set_and_add_tags(org, tmp_path):
    a, b = _pngs(org, tmp_path, 2, tags=["old"])
    org.resources.set_tags(a, ["n1", "n1", "n2"])
    assert org.resources.get_by_id(a).tags == ["n1", "n2"]
    resource_b = org.resources.get_by_id(b)
    org.resources.add_tags([a, resource_b], ["extra", "n1"])
    assert org.resources.get_by_id(a).tags == ["n1", "n2", "extra"]
    assert org.resources.get_by_id(b).tags == ["old", "extra", "n1"] == resource_b.tags
    org.resources.set_tags([a, b], ["same"])
    assert [org.resources.get_by_id(i).tags for i in (a, b)] == [["same"], ["same"]]
    org.resources.add_tags(a, ["one-more"])
    assert org.resources.get_by_id(a).tags == ["same", "one-more"]
    assert {r.id for r in org.resources.get_list(tags=["one-more"])} == {a}
    with pytest.raises(ValidationError):
        org.resources.set_tags(a, ["x" * 300])


def test_delete_restore_and_bulk(org, server, tmp_path):
    ids = _pngs(org, tmp_path, 4)
    org.resources.delete(ids[0])
    gone = org.resources.get_by_id(ids[0])
    assert gone.deleted and gone.deleted_at and gone.deleted_by
    assert ids[0] not in {r.id for r in org.resources.get_list()}
    assert [r.id for r in org.resources.get_deleted()] == [ids[0]]
    assert {r.id for r in org.resources.get_list(deleted="include")} == set(ids)
    assert [r.id for r in org.resources.get_list(status="archived")] == [ids[0]]
    restored = org.resources.restore(ids[0])
    assert restored.deleted is False and restored.deleted_at is None
    org.resources.bulk_delete([ids[1], org.resources.get_by_id(ids[2])])
    assert {r.id for r in org.resources.get_list()} == {ids[0], ids[3]}
    with pytest.raises(ItemNotFoundError):
        org.resources.bulk_delete([ids[3], "123e4567-e89b-12d3-a456-426614174000"])
    assert ids[3] in {r.id for r in org.resources.get_list()}  # all or nothing
    result = org.resources.bulk_restore([ids[1], ids[2], ids[3], "123e4567-e89b-12d3-a456-426614174000"])
    assert set(result["restored"]) == {ids[1], ids[2]}
    assert {(s["id"], s["reason"]) for s in result["skipped"]} == {
        (ids[3], "not_deleted"), ("123e4567-e89b-12d3-a456-426614174000", "not_found")}
    with pytest.raises(ValidationError, match="not deleted"):
        org.resources.restore(ids[3])
    # a deleted resource whose blob is gone cannot come back
    org.resources.delete(ids[3])
    resource = org.resources.get_by_id(ids[3])
    (server.data_dir / "blobs" / resource.location).unlink()
    assert org.resources.bulk_restore([ids[3]])["skipped"] == [{"id": ids[3], "reason": "file_missing"}]


def test_members_read_upload_tag_and_publish_but_only_admins_delete(server, org, tmp_path):
    admin_id = _pngs(org, tmp_path, 1)[0]
    _, member_key = server.new_user(roles=["member"], admin_key=org.config.api_key)
    member = Api(server.url, member_key)
    own = member.resources.upload_resource(str(png_file(tmp_path / "mine.png")), tags=["m"])
    assert {r.id for r in member.resources.get_list()} == {admin_id, own}
    member.resources.add_tags(admin_id, ["seen-by-member"])
    member.resources.publish_resources([admin_id, own])
    assert {r.status for r in member.resources.get_list()} == {"published"}
    for call in (lambda: member.resources.delete(own), lambda: member.resources.bulk_delete([own]),
                 lambda: member.resources.bulk_restore([own])):
        with pytest.raises(PermissionDeniedError):
            call()
    org.resources.delete(own)
    with pytest.raises(PermissionDeniedError):
        member.resources.restore(own)
    assert org.resources.restore(own).deleted is False


def test_project_membership_edits(org, tmp_path):
    ids = _pngs(org, tmp_path, 3)
    project = org.projects.create(unique("p"), "d", resources_ids=ids[:2])
    assert project.resource_count == 2
    org.projects.add_resources(ids, project.name)
    assert org.projects.get_by_id(project.id).resource_count == 3
    org.projects.remove_resources(ids[0], project)
    assert {r.id for r in project.fetch_resources()} == set(ids[1:])
    org.resources.delete(ids[1])
    assert org.projects.get_by_id(project.id).resource_count == 1
    with pytest.raises(ItemNotFoundError):
        org.projects.add_resources(["123e4567-e89b-12d3-a456-426614174000"], project)
    with pytest.raises(ItemNotFoundError):
        org.projects.create(unique("p"), "d", resources_ids=["123e4567-e89b-12d3-a456-426614174000"])
    with pytest.raises(ValidationError, match="deleted"):
        org.projects.add_resources([ids[1]], project)
    org.projects.delete(project)
    with pytest.raises(ValidationError, match="archived"):
        org.resources.upload_resource(pydicom_file("CT_small.dcm"), publish_to=project.id)


def test_official_project_resources_body(server, org, tmp_path):
    ids = _pngs(org, tmp_path, 2)
    project = org.projects.create(unique("p"), "d")
    with httpx.Client(base_url=server.url, headers={"apikey": org.config.api_key}) as http:
        response = http.post(f"/projects/{project.id}/resources",
                             json={"resource_ids_to_add": ids, "all_files_selected": False})
        assert response.status_code == 200 and response.json()["resource_count"] == 2
        listed = http.get(f"/projects/{project.id}/resources").json()
        assert isinstance(listed, list) and {r["id"] for r in listed} == set(ids)
        other = org.projects.create(unique("p"), "d")
        response = http.post(f"/projects/{other.id}/resources", json={"all_files_selected": True})
        assert response.json()["resource_count"] == 2


def test_changes_and_downloads_are_audited(org, tmp_path):
    rid = _pngs(org, tmp_path, 1)[0]
    org.resources.set_tags(rid, ["audited"])
    org.resources.download_resource_file(rid, auto_convert=False)
    # an audited read is committed before its response is sent
    assert "download_file" in {e["action"] for e in org.audit.get_list(entity_type="resource", entity_id=rid)}
    org.resources.delete(rid)
    events = org.audit.get_list(entity_type="resource", entity_id=rid)
    assert sorted(e["action"] for e in events) == ["delete_resource", "download_file", "set_tags", "upload_resource"]
    upload = next(e for e in events if e["action"] == "upload_resource")
    assert upload["status"] == 201 and {"op": "create", "type": "resource", "id": rid} in upload["details"]["changes"]
    assert not [c for c in upload["details"]["changes"] if c["type"] == "upload_intent"]

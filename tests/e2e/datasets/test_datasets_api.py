"""Datasets (wire §4.6) and their versions through the SDK: DatasetInfo, resources, delete,
versions (create, resolve latest/number/name, delete, Segments-style aliases), permissions."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from datamint import Api
from datamint.exceptions import (
    EntityAlreadyExistsError,
    ItemNotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from fixtures.projects import add_member, png_image

from conftest import unique


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    """A project with two PNG resources (the sha256 of each file is kept)."""
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("datasets-api")
    paths = [png_image(folder / f"p{i}.png", i) for i in range(2)]
    ids = [api.resources.upload_resource(str(p)) for p in paths]
    project = api.projects.create(unique("ds-api"), "datasets api", resources_ids=ids)
    hashes = {rid: hashlib.sha256(p.read_bytes()).hexdigest() for rid, p in zip(ids, paths, strict=True)}
    yield project, ids, hashes, folder
    api.close()


def test_dataset_info_of_a_project(api, project):
    proj, ids, _, _ = project
    info = api.datasets.get_by_id(proj.dataset_id)
    assert (info.id, info.name, info.project_id, info.total_resource) == (proj.dataset_id, proj.name, proj.id, 2)
    assert sorted(info.resource_ids) == sorted(ids)
    assert info.description == "datasets api" and info.customer_id and info.created_by
    assert api._datasetsinfo is api.datasets
    listed = {d.id: d for d in api.datasets.get_list()}
    assert listed[proj.dataset_id].total_resource == 2
    assert api.datasets.get_by_name(proj.name).id == proj.dataset_id


def test_resources_now_and_in_a_version_carry_hashes(api, project, tmp_path):
    proj, ids, hashes, folder = project
    now = api.datasets.get_resources(proj.dataset_id)
    assert sorted(r["id"] for r in now) == sorted(ids)
    version = api.datasets.create_version(proj.dataset_id, unique("r"))
    frozen = api.datasets.get_resources(proj.dataset_id, version=version.number)
    assert {r["id"]: r["sha256"] for r in frozen} == hashes
    extra = api.resources.upload_resource(str(png_image(tmp_path / "extra.png", 9)))
    api.datasets.update_resources(proj.dataset_id, resource_ids_to_add=[extra], project=proj.id)
    assert api.datasets.get_by_id(proj.dataset_id).total_resource == 3
    assert len(api.datasets.get_resources(proj.dataset_id, version=version.name)) == 2  # the version did not move
    api.datasets.update_resources(proj.dataset_id, resource_ids_to_delete=[extra])
    assert api.projects.get_by_id(proj.id).resource_count == 2
    other = api.projects.create(unique("other"), "x")
    with pytest.raises(ValidationError, match="belongs to project"):
        api.datasets.update_resources(proj.dataset_id, resource_ids_to_add=[extra], project=other.id)


def test_versions_are_numbered_named_and_resolved(api, project):
    proj, _, _, _ = project
    did = proj.dataset_id
    first = api.datasets.create_version(did, description="default name")
    named = api.datasets.add_release(did, unique("release"), "Segments-style alias")
    assert first.name == f"v{first.number}" and named.number == first.number + 1
    assert api.datasets.get_version(did, "latest").id == named.id
    assert api.datasets.get_version(did, first.number).id == first.id
    assert api.datasets.get_release(did, named.name).id == named.id
    assert [v.id for v in api.datasets.get_releases(did)][-2:] == [first.id, named.id]
    with pytest.raises(EntityAlreadyExistsError):
        api.datasets.create_version(did, named.name)
    for bad in ("123", "latest", "-x", "a/b", "x" * 101):
        with pytest.raises(ValidationError):
            api.datasets.create_version(did, bad)
    api.datasets.delete_release(did, named.name)
    with pytest.raises(ItemNotFoundError, match="version"):
        api.datasets.get_version(did, named.name)
    assert api.datasets.get_version(did, "latest").id == first.id
    assert api.datasets.create_version(did).number == named.number + 1  # numbers are not reused


def test_latest_without_versions_says_how_to_create_one(api):
    proj = api.projects.create(unique("empty"), "no versions")
    with pytest.raises(ItemNotFoundError, match="no version yet"):
        api.datasets.get_version(proj.dataset_id, "latest")
    assert api.datasets.get_versions(proj.dataset_id) == []


def test_deleting_a_dataset_archives_its_project(api):
    proj = api.projects.create(unique("del"), "to delete")
    api.datasets.create_version(proj.dataset_id)
    api.datasets.delete(proj.dataset_id)
    assert api.projects.get_by_id(proj.id).archived
    assert proj.dataset_id not in {d.id for d in api.datasets.get_list()}
    assert proj.dataset_id in {d.id for d in api.datasets.get_list(include_archived=True)}
    api.projects.restore(proj.id)
    assert api.datasets.get_version(proj.dataset_id, "latest").number == 1  # versions survived


def test_visibility_and_roles(server, api, project):
    proj, _, _, _ = project
    other_org = Api(server.url, server.new_org())
    with pytest.raises(ItemNotFoundError) as err:
        other_org.datasets.get_by_id(proj.dataset_id)
    assert err.value.server_message == "Dataset not found"
    assert proj.dataset_id not in {d.id for d in other_org.datasets.get_list()}
    email, key = server.new_user()
    outsider = Api(server.url, key)
    with pytest.raises(ItemNotFoundError):
        outsider.datasets.get_versions(proj.dataset_id)
    add_member(server, proj.id, email, "PROJECT_ANNOTATOR")
    assert outsider.datasets.get_by_id(proj.dataset_id).id == proj.dataset_id
    with pytest.raises(PermissionDeniedError):
        outsider.datasets.create_version(proj.dataset_id)
    with pytest.raises(PermissionDeniedError):
        outsider.datasets.download(proj.dataset_id, "/tmp/never.zip", progress_bar=False)
    with pytest.raises(PermissionDeniedError):
        outsider.datasets.delete(proj.dataset_id)


def test_bad_ids_and_refs(api, project):
    proj, _, _, _ = project
    with pytest.raises(ValueError):
        api.datasets.get_by_id("not-a-uuid")
    with pytest.raises(ValidationError):
        api.datasets._request("GET", "/datasets/not-a-uuid")
    with pytest.raises(ItemNotFoundError) as err:
        api.datasets.get_by_id("123e4567-e89b-12d3-a456-426614174000")
    assert err.value.server_message == "Dataset not found"
    with pytest.raises(ItemNotFoundError):
        api.datasets.get_version(proj.dataset_id, 999999)
    with pytest.raises(ItemNotFoundError):
        api.datasets.get_resources(proj.dataset_id, version="no-such-version")


def test_deleting_a_version_deletes_only_the_mask_copies_no_other_version_holds(server, api, tmp_path):
    from sqlalchemy import select

    from datamint.server.datasets.models import ContentBlob

    store = server.app.state.blob_store
    rid = api.resources.upload_resource(str(png_image(tmp_path / "m.png", 5)))
    did = api.projects.create(unique("mask-blobs"), "mask copies", resources_ids=[rid]).dataset_id
    mask = np.zeros((16, 24), np.uint8)
    mask[2:5, 3:9] = 1
    (aid,) = api.annotations.upload_segmentations(rid, mask, "lesion")
    for name in ("first", "same"):
        api.datasets.create_version(did, name)
    mask[10:12, 1:4] = 1
    buf = io.BytesIO()
    Image.fromarray(mask * 255).save(buf, format="PNG")
    api.annotations.upload_annotation_file(rid, aid, io.BytesIO(buf.getvalue()))
    api.datasets.create_version(did, "changed")

    def mask_blob(version):
        (annotation,) = api.datasets.get_manifest(did, version)["annotations"]
        with server.database.transaction() as session:
            key = session.scalar(select(ContentBlob.blob_key).where(ContentBlob.sha256 == annotation["mask"]["sha256"]))
        return key if key is not None and store.exists(key) else None

    old, new = mask_blob("first"), mask_blob("changed")
    assert old and new and old != new and mask_blob("same") == old
    api.datasets.delete_version(did, "same")  # "first" still holds the old copy
    api.datasets.delete_version(did, "changed")  # nothing else holds the new one
    assert mask_blob("first") == old and not store.exists(new)
    with server.database.transaction() as session:
        assert session.scalar(select(ContentBlob.sha256).where(ContentBlob.blob_key == new)) is None

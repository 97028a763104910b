"""Project splits over HTTP (bare arrays, 404 when a resource has no split) and the datasets area's
answers to bad input: clear 4xx, never a 500, nothing half-written."""

from __future__ import annotations

import pytest

from datamint import Api
from datamint.exceptions import ItemNotFoundError, PermissionDeniedError, ValidationError
from fixtures.projects import add_member, png_image

from conftest import unique

NO_SUCH = "123e4567-e89b-12d3-a456-426614174000"


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("splits")
    ids = [api.resources.upload_resource(str(png_image(folder / f"s{i}.png", i))) for i in range(3)]
    project = api.projects.create(unique("splits"), "splits", resources_ids=ids[:2])
    yield project, ids
    api.close()


def test_split_wire_shapes(api, project):
    proj, ids = project
    assert api.projects._request("GET", f"/projects/{proj.id}/splits").json() == []
    assert api.projects.get_resource_split(ids[0], project=proj) is None
    missing = api.projects._request("GET", f"/projects/{proj.id}/resources/{ids[0]}/split", raise_errors=False)
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
    api.projects.assign_splits(ids[:2], "val", project=proj.id)
    rows = api.projects._request("GET", f"/projects/{proj.id}/splits", params={"split_name": "val"}).json()
    assert isinstance(rows, list) and {r["resource_id"] for r in rows} == set(ids[:2])
    assert set(rows[0]) >= {"id", "split_name", "project_id", "resource_id", "created_at", "created_by",
                            "deleted_at", "deleted_by"}
    api.projects.assign_splits(ids[:1], "val", project=proj.id)  # unchanged: no new row
    assert len(api.projects.get_splits(proj)) == 2


def test_bad_split_requests(server, api, project):
    proj, ids = project
    before = api.projects.get_splits(proj)
    with pytest.raises(ValidationError, match="not in project"):
        api.projects.assign_splits([ids[2]], "train", project=proj.id)
    for body in ({"resource_ids": ids[:1], "split_name": "  "}, {"resource_ids": [], "split_name": "x"},
                 {"resource_ids": ["nope"], "split_name": "x"}, {"split_name": "x"}):
        response = api.projects._request("POST", f"/projects/{proj.id}/splits", json=body, raise_errors=False)
        assert response.status_code == 422, body
    with pytest.raises(ValidationError, match="as_of_timestamp"):
        api.projects.get_splits(proj, as_of_timestamp="yesterday")
    assert api.projects.get_splits(proj) == before  # nothing was half-written
    email, key = server.new_user()
    outsider = Api(server.url, key)
    with pytest.raises(ItemNotFoundError):
        outsider.projects.get_splits(proj.id)
    add_member(server, proj.id, email, "PROJECT_ANNOTATOR")
    assert outsider.projects.get_splits(proj.id) == before
    with pytest.raises(PermissionDeniedError):
        outsider.projects.assign_splits(ids[:1], "train", project=proj.id)


def test_bad_dataset_requests_are_clear_4xx(api, project):
    proj, _ = project
    did = proj.dataset_id
    cases = [
        ("GET", f"/datasets/{NO_SUCH}", None, 404), ("GET", "/datasets/x", None, 422),
        ("DELETE", f"/datasets/{NO_SUCH}", None, 404), ("GET", f"/datasets/{did}/versions/latest", None, 404),
        ("GET", f"/datasets/{did}/versions/1/manifest", None, 404),
        ("GET", f"/datasets/{did}/versions/latest/blobs/{'a' * 64}", None, 404),
        ("POST", f"/datasets/{did}/versions", {"name": "latest"}, 422),
        ("POST", f"/datasets/{did}/versions", {"name": 5}, 422),
        ("POST", f"/datasets/{did}/resources", {"resource_ids_to_add": [NO_SUCH]}, 404),
        ("POST", f"/datasets/{did}/resources", {"resource_ids_to_add": "x"}, 422),
        ("POST", f"/datasets/{did}/resources", {"project_id": "nope"}, 422),
        ("GET", f"/datasets/{did}/download/gif", None, 422), ("GET", f"/datasets/{did}/resources?version=9", None, 404),
        ("GET", "/datasets?limit=0", None, 422), ("GET", f"/datasets/download/{'x' * 43}", None, 404),
    ]
    for method, path, body, status in cases:
        response = api.datasets._request(method, path, json=body, raise_errors=False)
        assert response.status_code == status, (method, path, response.text)
        assert response.json()["message"]
    assert api.datasets.get_versions(did) == []  # no partial version was recorded


def test_version_refs_of_non_ascii_digits_are_404_not_500(api, project):
    """'²' and '①' are digits to str.isdigit() but not to int(): every route taking a version
    reference answered 500 for them. Numbers are ASCII digits; anything else is looked up as a name."""
    proj, _ = project
    did = proj.dataset_id
    version = api.datasets.create_version(did, "refs", progress_bar=False)
    assert api.datasets.get_version(did, "1").id == version.id
    for ref in ("²", "①", "٣"):
        for method, path in (("GET", f"/datasets/{did}/versions/{ref}"),
                             ("GET", f"/datasets/{did}/versions/{ref}/manifest"),
                             ("GET", f"/datasets/{did}/versions/{ref}/blobs/{'a' * 64}"),
                             ("GET", f"/datasets/{did}/resources?version={ref}"),
                             ("GET", f"/datasets/{did}/download/dicom?version={ref}"),
                             ("DELETE", f"/datasets/{did}/versions/{ref}")):
            response = api.datasets._request(method, path, raise_errors=False)
            assert (response.status_code, response.json()["message"]) == (
                404, f"Dataset version not found: {ref!r}"), (method, path, response.text)
    assert [v.id for v in api.datasets.get_versions(did)] == [version.id]

"""Listing resources with every filter of wire §4.2, over real HTTP, on every backend."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from datamint import Api
from datamint.exceptions import ItemNotFoundError, ValidationError
from fixtures.files import image_bytes, jpeg_file, png_file, pydicom_file

from conftest import unique


class Catalog:
    """Six resources with known attributes, in an organization of their own."""

    def __init__(self, api: Api, folder: Path) -> None:
        self.api = api
        self.p1 = api.projects.create(unique("p1"), "first")
        self.p2 = api.projects.create(unique("p2"), "second")
        up = api.resources.upload_resource
        self.a_png = str(png_file(folder / "a.png"))
        self.r = [
            up(self.a_png, tags=["x"], channel="c1", modality="US"),
            up(str(png_file(folder / "b.png")), tags=["y"], channel="c1", publish=True),
            up(pydicom_file("CT_small.dcm"), tags=["x", "y"], channel="c2", publish_to=self.p1),
            up(pydicom_file("MR_small.dcm"), publish_to=self.p1.id),
            up(str(jpeg_file(folder / "c.jpg")), tags=["z"]),
        ]
        api.projects.add_resources([self.r[3], api.resources.get_by_id(self.r[4])], self.p2)

    def ids(self, resources) -> set[str]:
        return {r.id for r in resources}

    def idx(self, *indexes: int) -> set[str]:
        return {self.r[i] for i in indexes}


@pytest.fixture(scope="module")
def catalog(server, tmp_path_factory):
    api = Api(server.url, server.new_org())
    yield Catalog(api, tmp_path_factory.mktemp("catalog"))
    api.close()


def test_every_filter(catalog):
    get, c = catalog.api.resources.get_list, catalog
    assert c.ids(get()) == c.idx(0, 1, 2, 3, 4)
    assert c.ids(get(status="inbox")) == c.idx(0, 4) and c.ids(get(status="new")) == c.idx(0, 4)
    assert c.ids(get(status="published")) == c.idx(1, 2, 3)
    assert c.ids(get(tags=["x"])) == c.idx(0, 2) and c.ids(get(tags=["x", "z"])) == c.idx(0, 2, 4)
    assert c.ids(get(modality="CT")) == c.idx(2) and c.ids(get(modality="US")) == c.idx(0)
    assert c.ids(get(mimetype="image/png")) == c.idx(0, 1)
    assert c.ids(get(channel="c1")) == c.idx(0, 1)
    assert c.ids(get(project_name=c.p1.name)) == c.idx(2, 3)
    assert c.ids(get(project_name=c.p1)) == c.idx(2, 3)
    assert c.ids(get(project_name=[c.p1.name, c.p2.name])) == c.idx(3)
    assert get(project_name=unique("nope")) == []
    assert c.ids(get(filename="b.png")) == c.idx(1)
    assert c.ids(get(source_filepath=c.a_png)) == c.idx(0)
    assert c.ids(get(from_date=date.today() - timedelta(days=1))) == c.idx(0, 1, 2, 3, 4)
    assert get(to_date=date.today() - timedelta(days=1)) == []
    assert get(from_date=(date.today() + timedelta(days=1)).isoformat()) == []
    assert len(get(limit=2)) == 2


def test_project_filter_sees_only_the_callers_projects(server, catalog):
    c = catalog
    email, key = server.new_user(roles=["member"], admin_key=c.api.config.api_key)
    c.api.projects.set_member(c.p1, c.api.users.get_by_email(email).id, ["PROJECT_ANNOTATOR"])
    with Api(server.url, key) as member:
        get = member.resources.get_list
        assert c.ids(get(project_name=c.p1.name)) == c.idx(2, 3)
        assert get(project_name=c.p2.name) == []  # exists, but the caller is not a member
        assert get(project_name=[c.p1.name, c.p2.name]) == []


def test_order_and_paging(server, catalog):
    names = [r.filename for r in catalog.api.resources.get_list(order_field="filename", order_ascending=True)]
    assert names == sorted(names)
    newest_first = [r.id for r in catalog.api.resources.get_list()]
    assert newest_first == catalog.r[::-1]
    oldest_first = [r.id for r in catalog.api.resources.get_list(order_field="created_at", order_ascending=True)]
    assert oldest_first == catalog.r
    with httpx.Client(base_url=server.url, headers={"apikey": catalog.api.config.api_key}) as http:
        page = http.get("/resources", params={"status": "", "offset": 1, "limit": 2,
                                              "order_field": "created_at", "order_by_asc": "true"}).json()
        assert page["totalCount"] == 5 and [r["id"] for r in page["data"]] == catalog.r[1:3]
        tags = json.dumps({"items": ["x", "y"], "filterType": "intersection"})
        assert [r["id"] for r in http.get("/resources", params={"tags": tags}).json()["data"]] == [catalog.r[2]]
        # The count of a union tag filter is driven from the tag index: a resource with both tags counts once.
        union = http.get("/resources", params={"tags": json.dumps({"items": ["x", "y"], "filterType": "union"}),
                                                "status": ""}).json()
        assert union["totalCount"] == 3 and {r["id"] for r in union["data"]} == catalog.idx(0, 1, 2)
        both = http.get("/resources", params={"status": "published", "modality": "CT"}).json()
        assert both["totalCount"] == 1 and [r["id"] for r in both["data"]] == [catalog.r[2]]
        for bad in ({"order_field": "size"}, {"deleted": "maybe"}, {"status": "lost"}, {"from": "yesterday"},
                    {"tags": "{not json"}):
            response = http.get("/resources", params=bad)
            assert response.status_code == 422, bad
            assert response.json()["message"]


def test_wire_shape_of_a_resource(server, catalog):
    with httpx.Client(base_url=server.url, headers={"apikey": catalog.api.config.api_key}) as http:
        item = http.get(f"/resources/{catalog.r[2]}").json()
        stored = http.get(f"/resources/{catalog.r[2]}/file").content
    required = {"id", "storage", "location", "filename", "mimetype", "status", "created_at", "created_by",
                "resource_uri", "upload_channel", "customer_id", "published", "deleted"}
    assert required <= item.keys()
    assert item["upload_channel"] == "c2" and item["user_info"].keys() == {"firstname", "lastname"}
    assert item["projects"] == [{"id": catalog.p1.id, "name": catalog.p1.name}]
    assert item["size"] == len(stored) > 0 and item["tags"] == ["x", "y"]
    with httpx.Client(base_url=server.url, headers={"apikey": catalog.api.config.api_key}) as http:
        untagged = http.get(f"/resources/{catalog.r[3]}").json()
    assert untagged["upload_channel"] == "" and untagged["tags"] == []


def test_unknown_bad_and_foreign_ids(server, catalog):
    with pytest.raises(ItemNotFoundError):
        catalog.api.resources.get_by_id("123e4567-e89b-12d3-a456-426614174000")
    with pytest.raises(ValueError):
        catalog.api.resources.get_by_id("not-a-uuid")
    stranger = Api(server.url, server.new_org())
    assert stranger.resources.get_list() == []
    for call in (lambda: stranger.resources.get_by_id(catalog.r[0]),
                 lambda: stranger.resources.download_resource_file(catalog.r[0]),
                 lambda: stranger.resources.download_resource_frame(catalog.r[2], 0),
                 lambda: stranger.resources.delete(catalog.r[0]),
                 lambda: stranger.resources.set_tags(catalog.r[0], ["mine"]),
                 lambda: stranger.projects.add_resources([catalog.r[0]], stranger.projects.create(unique("s"), ""))):
        with pytest.raises(ItemNotFoundError):
            call()
    assert catalog.api.resources.get_by_id(catalog.r[0]).tags == ["x"]


def test_channels(catalog):
    channels = {c.channel_name: c for c in catalog.api.channels.get_list()}
    assert set(channels) == {"c1", "c2", None}
    assert set(channels["c1"].get_resource_ids()) == catalog.idx(0, 1)
    assert channels["c1"].resource_count == 2 and channels["c1"].created_at <= channels["c1"].updated_at
    assert channels[None].id == "" and set(channels[None].get_resource_ids()) == catalog.idx(3, 4)
    assert catalog.api.channels.get_by_name("c2").get_resource_ids() == [catalog.r[2]]
    assert catalog.ids(catalog.api.channels.get_by_id("c1").fetch_resources()) == catalog.idx(0, 1)
    assert catalog.ids(channels[None].fetch_resources()) == catalog.idx(3, 4)
    assert [c.channel_name for c in catalog.api.channels.get_list(project_name=catalog.p1.name)] == [None, "c2"]
    with pytest.raises(ItemNotFoundError):
        catalog.api.channels.get_by_name("no-such-channel")


def test_projects_see_their_resources(catalog):
    projects = catalog.api.projects
    assert projects.get_by_id(catalog.p1.id).resource_count == 2
    assert projects.get_by_id(catalog.p2.id).resource_count == 2
    assert catalog.ids(projects.get_project_resources(catalog.p2.name)) == catalog.idx(3, 4)
    assert catalog.ids(projects.get_by_id(catalog.p1.id).fetch_resources()) == catalog.idx(2, 3)
    counts = {p.id: p.resource_count for p in projects.get_all()}
    assert counts[catalog.p1.id] == 2 and counts[catalog.p2.id] == 2


def test_not_annotated_accepts_the_listing_filters(catalog):
    assert catalog.ids(catalog.api.resources.get_not_annotated(channel_name="c1")) == catalog.idx(0, 1)
    assert len(catalog.api.resources.get_not_annotated(limit=3)) == 3


def test_listing_needs_a_valid_key(server):
    response = httpx.get(f"{server.url}/resources", headers={"apikey": "dmk_wrong"})
    assert response.status_code == 401
    with pytest.raises(ValidationError):
        Api(server.url, server.admin_key).resources.get_list(status="lost")  # type: ignore[arg-type]


def test_keyset_cursor_walks_every_resource_once_in_order(server, monkeypatch):
    """``nextCursor``/``after`` pages through the listing; the SDK follows it; bad cursors are 422."""
    from datamint import Api

    key = server.new_org()
    with Api(server.url, key) as org_api:
        ids = org_api.resources.upload_resources([io.BytesIO(image_bytes("PNG", (4 + i, 4))) for i in range(7)])
        with httpx.Client(base_url=server.url, headers={"apikey": key}) as http:
            first = http.get("/resources", params={"limit": 3}).json()
            assert first["totalCount"] == 7 and "totalCountCapped" not in first
            seen = [r["id"] for r in first["data"]]
            cursor = first["nextCursor"]
            while cursor:
                page = http.get("/resources", params={"limit": 3, "after": cursor}).json()
                seen += [r["id"] for r in page["data"]]
                cursor = page.get("nextCursor")
            assert seen == [r["id"] for r in http.get("/resources", params={"limit": 100}).json()["data"]]
            assert sorted(seen) == sorted(ids)
            bad = http.get("/resources", params={"after": "not-a-cursor"})
            assert bad.status_code == 422 and "cursor" in bad.json()["message"]
            other_order = http.get("/resources", params={"after": first["nextCursor"], "order_field": "filename"})
            assert other_order.status_code == 422
        from datamint.api import base_api

        asked = []
        monkeypatch.setattr(base_api, "PAGE_LIMIT", 3)  # several pages, so the SDK follows nextCursor
        real = org_api.resources._request
        monkeypatch.setattr(org_api.resources, "_request",
                            lambda *a, **k: asked.append(k.get("params")) or real(*a, **k))
        assert [r.id for r in org_api.resources.get_list(limit=None)] == seen
        assert [("after" in p, "offset" in p) for p in asked] == [(False, True), (True, False), (True, False)]

"""Tag filters of ``GET /resources`` answered from the tag rows' copies of their resource's
organization, deleted flag and creation time (migration 0019_listing_tags): counts and pages stay
exact while tags change and resources are deleted and restored, on every backend."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from datamint import Api
from fixtures.files import image_bytes


class Org:
    """An organization of its own with resources tagged as given, over HTTP and the SDK."""

    def __init__(self, server, tags: list[list[str]]) -> None:
        self.key = server.new_org()
        self.api = Api(server.url, self.key)
        self.http = httpx.Client(base_url=server.url, headers={"apikey": self.key})
        self.r = [self.api.resources.upload_resource(io.BytesIO(image_bytes("PNG", (4 + i, 4))), tags=t or None)
                  for i, t in enumerate(tags)]

    def listing(self, tags: list[str], kind: str = "union", **params) -> tuple[int, list[str]]:
        """(totalCount, ids of the first page) of a tag filter."""
        body = self.http.get("/resources", params={"tags": json.dumps({"items": tags, "filterType": kind}),
                                                   "limit": 100, **params}).json()
        assert "totalCountCapped" not in body
        return body["totalCount"], [r["id"] for r in body["data"]]

    def newest_first(self, wanted: set[str], deleted: str = "exclude") -> list[str]:
        """The ids of ``wanted`` in the order of the unfiltered listing."""
        ids = [r["id"] for r in self.http.get("/resources", params={"limit": 100, "deleted": deleted}).json()["data"]]
        return [rid for rid in ids if rid in wanted]

    def expect(self, tags: list[str], wanted: set[str], kind: str = "union", deleted: str = "exclude") -> None:
        expected = self.newest_first(wanted, deleted)
        assert self.listing(tags, kind, deleted=deleted) == (len(expected), expected), (tags, kind, deleted)

    def close(self) -> None:
        self.http.close()
        self.api.close()


@pytest.fixture
def orgs(server):
    mine = Org(server, [["a"], ["b"], ["a", "b"], ["c"], ["a"], []])
    other = Org(server, [["a", "b"], ["b"], ["c"]])
    yield mine, other
    mine.close()
    other.close()


def test_counts_and_pages_follow_tag_changes_deletes_and_restores(orgs):
    org, other = orgs
    r = org.r
    org.expect(["a", "b"], {r[0], r[1], r[2], r[4]})  # r[2] has both tags: counted once
    org.expect(["a"], {r[0], r[2], r[4]})
    org.expect(["c", "nothing"], {r[3]})
    org.expect(["a", "b"], {r[2]}, kind="intersection")
    org.expect(["nothing"], set())

    org.api.resources.add_tags(r[0], ["b"])
    org.expect(["a", "b"], {r[0], r[1], r[2], r[4]})
    org.expect(["b", "a"], {r[0], r[1], r[2], r[4]})
    org.expect(["a", "b"], {r[0], r[2]}, kind="intersection")

    org.api.resources.set_tags(r[1], ["c"])  # b removed
    org.expect(["a", "b"], {r[0], r[2], r[4]})
    org.expect(["b"], {r[0], r[2]})
    org.expect(["c"], {r[1], r[3]})

    org.api.resources.bulk_delete([r[2], r[3]])
    org.expect(["a", "b"], {r[0], r[4]})
    org.expect(["a", "b"], {r[2]}, deleted="only")
    org.expect(["a", "b"], {r[0], r[2], r[4]}, deleted="include")
    org.expect(["a", "b"], {r[0]}, kind="intersection")
    assert org.listing(["c"], status="archived") == (1, [r[3]])

    org.api.resources.set_tags(r[2], ["a"])  # tags of a deleted resource change too
    org.expect(["b"], {r[0]}, deleted="include")
    org.api.resources.bulk_restore([r[2]])
    org.expect(["a", "b"], {r[0], r[2], r[4]})
    org.expect(["b"], {r[0]})
    org.expect(["c"], {r[1]})

    # another organization's tag rows are never counted, and it sees only its own
    other.expect(["a", "b"], set(other.r[:2]))
    other.expect(["a", "b"], {other.r[0]}, kind="intersection")


def test_pages_by_offset_and_by_cursor_walk_the_same_rows(orgs):
    org, _ = orgs
    expected = org.newest_first({org.r[0], org.r[1], org.r[2], org.r[4]})
    tags = json.dumps({"items": ["b", "a"], "filterType": "union"})
    by_offset = []
    for offset in range(5):
        body = org.http.get("/resources", params={"tags": tags, "limit": 1, "offset": offset}).json()
        assert body["totalCount"] == 4
        by_offset += [row["id"] for row in body["data"]]
    assert by_offset == expected
    by_cursor, params = [], {"tags": tags, "limit": 1}
    while True:
        body = org.http.get("/resources", params=params).json()
        by_cursor += [row["id"] for row in body["data"]]
        if "nextCursor" not in body:
            break
        assert body["totalCount"] == 4 - len(by_cursor) + 1  # a keyset page counts from its cursor on
        params = {"tags": tags, "limit": 1, "after": body["nextCursor"]}
    assert by_cursor == expected
    oldest_first = org.http.get("/resources", params={"tags": tags, "order_field": "created_at",
                                                      "order_by_asc": "true"}).json()
    assert [row["id"] for row in oldest_first["data"]] == expected[::-1]
    assert [x.id for x in org.api.resources.get_list(tags=["a", "b"])] == expected
    # filters the tag rows do not carry: answered through the resources (same counts)
    published = org.http.get("/resources", params={"tags": tags, "status": "inbox"}).json()
    assert published["totalCount"] == 4 and [row["id"] for row in published["data"]] == expected
    future = org.http.get("/resources", params={"tags": tags, "from": "2999-01-01"}).json()
    assert future["totalCount"] == 0 and future["data"] == []


def test_capped_counts_say_at_least_what_the_page_proves(orgs, monkeypatch):
    """Above the cap the count says "at least"; a deep offset page proves it by itself (no count).
    An empty page proves nothing: the row just before its offset makes the count exactly the
    offset (even past the cap); without that row the count is read (exact, or the cap)."""
    from datamint.server.resources import repository

    org, _ = orgs
    monkeypatch.setattr(repository, "COUNT_CAP", 2)  # the server runs in this process

    def page(**params) -> tuple[int, bool, int]:
        body = org.http.get("/resources", params=params).json()
        return body["totalCount"], body.get("totalCountCapped", False), len(body["data"])

    tags = json.dumps({"items": ["a", "b"], "filterType": "union"})  # r0, r1, r2, r4
    for extra in ({}, {"tags": tags}):
        matches = 4 if extra else 6
        assert page(limit=1, **extra) == (2, True, 1)
        assert page(limit=2, offset=matches - 3, **extra) == (matches - 1, True, 2)
        assert page(limit=5, offset=matches - 1, **extra) == (matches, True, 1)
        assert page(limit=5, offset=matches, **extra) == (matches, False, 0)  # row matches - 1 exists: exact
        assert page(limit=5, offset=matches + 1, **extra) == (2, True, 0)  # counted: more than the cap
        assert page(limit=5, offset=20_000, **extra) == (2, True, 0)
        first = org.http.get("/resources", params={"limit": matches - 1, **extra}).json()
        assert page(limit=5, after=first["nextCursor"], **extra) == (1, False, 1)
        # with a cursor, the page and the count start at the cursor: an offset proves nothing
        one = org.http.get("/resources", params={"limit": 1, **extra}).json()
        assert page(limit=5, after=one["nextCursor"], offset=100, **extra) == (matches - 1, True, matches - 1)
        last = org.http.get("/resources", params={"limit": matches, **extra}).json()
        assert page(limit=5, after=last["nextCursor"], **extra) == (0, False, 0)
        assert page(limit=5, after=last["nextCursor"], offset=20_000, **extra) == (0, False, 0)
    by_name = {"order_field": "filename", "order_by_asc": "true"}  # ids alone from another index
    assert page(limit=5, offset=6, **by_name) == (6, False, 0)
    assert page(limit=5, offset=7, **by_name) == (2, True, 0)

    monkeypatch.setattr(repository, "COUNT_CAP", 6)  # every count below or at the cap: always exact
    for extra in ({}, {"tags": tags}):
        matches = 4 if extra else 6
        for offset in (matches, matches + 1, 7, 20_000):
            assert page(limit=5, offset=offset, **extra) == (matches, False, 0), (extra, offset)
        assert page(limit=5, offset=matches - 1, **extra) == (matches, False, 1)

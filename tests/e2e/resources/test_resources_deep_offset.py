"""Deep ``offset`` pages of the plain listing ordered by creation time, located from the time
counts the database keeps (migration 0021_listing_positions, ``resources.positions``): every page
equals the same slice of the listing ordered in Python, newest and oldest first, with every
``deleted`` setting, through soft deletes, restores, hard deletes and an organization's removal,
with many rows in one second (and at one exact time) and rows on both sides of day and minute
boundaries; and the counts equal a grouping of ``resources`` after concurrent uploads. On every
backend, over real HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import case, delete, literal, select, text, update

from datamint import Api
from datamint.server.resources import positions, repository
from datamint.server.resources.models import Resource, ResourceTimeCount
from fixtures.files import image_bytes
from fixtures.races import Call, N, at_once

UTC = timezone.utc
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def _times(count: int) -> list[datetime]:
    """Creation times for ``count`` resources: exact ties, many rows in one second, rows just
    before and at day and minute boundaries (UTC, and UTC+5:30's midnight), other days."""
    eve = DAY + timedelta(hours=23, minutes=59, seconds=59)
    times = [eve + timedelta(microseconds=250_000)] * 10  # one exact time: ordered by id
    times += [eve + timedelta(microseconds=100_000 + 1000 * i) for i in range(6)]  # one second
    times += [eve + timedelta(microseconds=999_999)] * 2
    times += [DAY + timedelta(days=1)] * 3  # midnight exactly
    times += [DAY + timedelta(days=1, microseconds=500_000)] * 3
    times += [DAY + timedelta(days=1, seconds=59, microseconds=900_000)] * 4  # a minute's last second
    times += [DAY + timedelta(days=1, minutes=1)] * 3  # the next minute's first instant
    times += [DAY + timedelta(days=2, hours=18, minutes=29, seconds=59, microseconds=900_000),
              DAY + timedelta(days=2, hours=18, minutes=30)]  # midnight in UTC+5:30
    times += [DAY - timedelta(hours=12, seconds=i) for i in range(4)]
    times += [DAY + timedelta(days=4, seconds=7 * i, microseconds=i) for i in range(count - len(times))]
    return times[:count]


class Org:
    """An organization of its own with ``count`` uploaded resources (one batch through the SDK)."""

    def __init__(self, server, folder, count: int) -> None:
        self.server, self.key = server, server.new_org()
        self.api = Api(server.url, self.key)
        self.http = httpx.Client(base_url=server.url, headers={"apikey": self.key}, timeout=60)
        files = []
        for i in range(count):
            path = folder / f"{id(self)}-{i}.png"
            path.write_bytes(image_bytes("PNG", (4 + i, 5)))
            files.append(str(path))
        self.ids = list(self.api.resources.upload_resources(files))
        with server.database.transaction() as s:
            self.customer_id = s.scalar(select(Resource.customer_id).where(Resource.id == self.ids[0]))

    def set_times(self, times: list[datetime]) -> None:
        """One UPDATE statement gives the resources these creation times (PostgreSQL: in a session
        whose TimeZone is not UTC, which must not move any bucket)."""
        db = self.server.database
        when = case(*((Resource.id == rid, literal(at, Resource.created_at.type))
                      for rid, at in zip(self.ids, times, strict=True)))
        with db.engine.begin() as conn:
            if db.dialect == "postgresql":
                conn.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
            conn.execute(update(Resource).where(Resource.id.in_(self.ids)).values(created_at=when))

    def rows(self) -> list[tuple[datetime, str, bool]]:
        with self.server.database.transaction() as s:
            return [tuple(r) for r in s.execute(select(Resource.created_at, Resource.id, Resource.deleted)
                                                .where(Resource.customer_id == self.customer_id))]

    def expected(self, deleted: str, ascending: bool) -> list[str]:
        """The listing's ids, ordered in Python."""
        shown = {"exclude": (False,), "only": (True,), "include": (False, True)}[deleted]
        keys = sorted(((at, rid) for at, rid, gone in self.rows() if gone in shown), reverse=not ascending)
        return [rid for _, rid in keys]

    def page(self, offset: int, limit: int, deleted: str, ascending: bool) -> dict:
        response = self.http.get("/resources", params={
            "status": "", "offset": offset, "limit": limit, "deleted": deleted, "order_field": "created_at",
            "order_by_asc": str(ascending).lower()})
        assert response.status_code == 200, response.text
        return response.json()

    def check(self, monkeypatch, limit: int = 3) -> None:
        """Every offset's page located from the counts equals the Python slice, in both directions
        and with every ``deleted`` setting; a few equal the index walk's answer in full."""
        for deleted in ("exclude", "include", "only"):
            for ascending in (False, True):
                expected = self.expected(deleted, ascending)
                monkeypatch.setattr(repository, "SEEK_FROM_OFFSET", 1)  # the server runs in this process
                # every other offset (pages of 3 or more overlap, so each position is checked at a
                # page's start or inside one) and the two past the end: half the requests
                for offset in [*range(0, len(expected), 2), len(expected), len(expected) + 1]:
                    body = self.page(offset, limit, deleted, ascending)
                    ids = [r["id"] for r in body["data"]]
                    assert ids == expected[offset:offset + limit], (deleted, ascending, offset)
                    assert body["totalCount"] == max(len(expected), 0) and "totalCountCapped" not in body
                sought = [self.page(offset, limit, deleted, ascending) for offset in (1, len(expected) // 2)]
                monkeypatch.setattr(repository, "SEEK_FROM_OFFSET", 10**9)
                walked = [self.page(offset, limit, deleted, ascending) for offset in (1, len(expected) // 2)]
                assert sought == walked

    def close(self) -> None:
        self.http.close()
        self.api.close()


def _truncate(at: datetime, level: int) -> datetime:
    at = at.astimezone(UTC).replace(microsecond=0)
    return at.replace(hour=0, minute=0, second=0) if level == 0 else at.replace(second=0) if level == 1 else at


def assert_counts_match(server, customer_ids: list[str]) -> None:
    """``resource_time_counts`` equals the resources grouped by organization, deleted flag and
    UTC day, minute and second (no row left at 0)."""
    with server.database.transaction() as s:
        resources = s.execute(select(Resource.customer_id, Resource.deleted, Resource.created_at)
                              .where(Resource.customer_id.in_(customer_ids))).all()
        kept = s.execute(select(ResourceTimeCount.customer_id, ResourceTimeCount.deleted, ResourceTimeCount.level,
                                ResourceTimeCount.bucket, ResourceTimeCount.n)
                         .where(ResourceTimeCount.customer_id.in_(customer_ids))).all()
    grouped = Counter((c, d, level, _truncate(at, level)) for c, d, at in resources for level in range(3))
    assert {(c, d, level, bucket.astimezone(UTC)): n for c, d, level, bucket, n in kept} == dict(grouped)


@pytest.fixture
def orgs(server, tmp_path):
    mine, other = Org(server, tmp_path, 48), Org(server, tmp_path, 12)
    yield mine, other
    mine.close()
    other.close()


def test_deep_pages_equal_the_ordered_listing_through_deletes_restores_and_purges(server, orgs, monkeypatch):
    mine, other = orgs
    assert_counts_match(server, [mine.customer_id, other.customer_id])  # counted as uploaded (one batch)
    mine.set_times(_times(48))
    other.set_times(_times(12))  # the same seconds in another organization
    assert_counts_match(server, [mine.customer_id, other.customer_id])
    mine.check(monkeypatch)

    gone = [mine.ids[i] for i in (0, 3, 11, 17, 19, 20, 26, 40)]  # in ties, in one second, at boundaries
    mine.api.resources.bulk_delete(gone)
    assert_counts_match(server, [mine.customer_id, other.customer_id])
    mine.check(monkeypatch, limit=4)

    mine.api.resources.bulk_restore(gone[2:5])
    mine.api.resources.restore(gone[0])
    assert_counts_match(server, [mine.customer_id, other.customer_id])
    mine.check(monkeypatch)

    with server.database.engine.begin() as conn:  # hard delete, deleted and live rows in one statement
        conn.execute(delete(Resource).where(Resource.id.in_([mine.ids[i] for i in (1, 3, 12, 20, 21, 33)])))
    assert_counts_match(server, [mine.customer_id, other.customer_id])
    mine.check(monkeypatch)
    other.check(monkeypatch, limit=5)

    with server.database.engine.begin() as conn:  # the other organization removed: its resources cascade
        conn.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": other.customer_id})
    assert_counts_match(server, [mine.customer_id, other.customer_id])
    with server.database.transaction() as s:
        assert s.scalar(select(ResourceTimeCount.n).where(ResourceTimeCount.customer_id == other.customer_id)) is None
    mine.check(monkeypatch, limit=7)


def test_an_offset_past_the_end_and_the_default_threshold(server, orgs, monkeypatch):
    mine, _ = orgs

    def summary(offset: int, ascending: bool = False) -> tuple[list, int, bool]:
        body = mine.page(offset, 10, "exclude", ascending)
        return body["data"], body["totalCount"], body.get("totalCountCapped", False)

    # an empty page beyond the cap proves nothing: the count is read (default cap and threshold)
    assert summary(20_000) == ([], 48, False)
    monkeypatch.setattr(repository, "SEEK_FROM_OFFSET", 1)
    body = mine.page(1000, 10, "exclude", False)
    assert (body["data"], body["totalCount"], "totalCountCapped" in body) == ([], 48, False)
    monkeypatch.setattr(repository, "COUNT_CAP", 10)  # a page beyond the cap proves it by itself
    body = mine.page(20, 10, "exclude", False)
    assert (len(body["data"]), body["totalCount"], body["totalCountCapped"]) == (10, 30, True)
    assert [r["id"] for r in body["data"]] == mine.expected("exclude", False)[20:30]
    assert body["nextCursor"]

    # an empty page: the row just before its offset, located by the same seek, proves the count
    # is exactly the offset (past the cap); without that row the count is read (capped at 10)
    sought: list[int] = []
    seek = positions.seek
    monkeypatch.setattr(positions, "seek", lambda *args: sought.append(args[-1]) or seek(*args))
    for ascending in (False, True):
        for offset, answer, seeks in ((48, ([], 48, False), [48, 47]), (49, ([], 10, True), [49, 48]),
                                      (20_000, ([], 10, True), [20_000, 19_999])):
            sought.clear()
            assert (summary(offset, ascending), sought) == (answer, seeks), (ascending, offset)
    monkeypatch.setattr(repository, "COUNT_CAP", 48)
    for offset in (48, 49, 20_000):
        assert summary(offset) == ([], 48, False), offset
    monkeypatch.setattr(repository, "COUNT_CAP", 47)
    assert summary(48) == ([], 48, False)  # exact, one past the cap
    assert summary(49) == ([], 47, True)


def test_counts_hold_under_concurrent_uploads(server, tmp_path, monkeypatch):
    org = Org(server, tmp_path, 2)
    calls = [Call(org.key, "POST", "/resources",
                  files={"resource": (f"c{i}.png", image_bytes("PNG", (30 + i, 6)), "image/png")})
             for i in range(N)]
    for _ in range(2):
        responses = at_once(server.url, calls if _ == 0 else [
            Call(c.key, c.method, c.path, files={"resource": ("d.png", image_bytes("PNG", (60 + i, 7)), "image/png")})
            for i, c in enumerate(calls)])
        assert [r.status_code for r in responses] == [201] * N, [r.text for r in responses if r.status_code != 201]
    assert_counts_match(server, [org.customer_id])
    assert len(org.rows()) == 2 + 2 * N
    org.check(monkeypatch, limit=5)

    # concurrent soft deletes and restores, each of two resources created on different days (the
    # ORM updates them one statement each, in id order: the count rows in either day order)
    org.ids = [rid for _, rid, _ in sorted(org.rows())]
    org.set_times([DAY + timedelta(days=i % 3, seconds=i) for i in range(len(org.ids))])
    pairs = [org.ids[2 * k:2 * k + 2] for k in range(N)]
    responses = at_once(server.url, [Call(org.key, "DELETE", f"/resources?resource_ids={','.join(pair)}")
                                     for pair in pairs])
    assert [r.status_code for r in responses] == [204] * N, [r.text for r in responses if r.status_code != 204]
    assert_counts_match(server, [org.customer_id])
    responses = at_once(server.url, [Call(org.key, "POST", "/resources/restore", json={"ids": pair})
                                     for pair in pairs[::2]])
    assert [r.status_code for r in responses] == [200] * (N // 2), [r.text for r in responses]
    assert_counts_match(server, [org.customer_id])
    org.check(monkeypatch, limit=5)
    org.close()

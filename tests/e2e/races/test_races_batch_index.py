"""Batch uploads that share DICOM studies and series, sent at once in opposite orders: every
batch inserts its study and series rows in the same (key) order, so none waits on another in a
cycle (on PostgreSQL a cycle is a deadlock: one batch failed with 409)."""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, insert, select, text

from datamint.server.auth import service
from datamint.server.db.base import utcnow
from datamint.server.resources import batch_ingest
from datamint.server.resources.models import DicomInstance, DicomSeries, DicomStudy
from fixtures.files import make_ct_slice, to_bytes
from fixtures.races import Call, at_once, statuses

from conftest import BACKENDS

BATCHES = 8
STUDIES = 20


def _calls(key: str, studies: list[tuple[str, str, str]]) -> list[Call]:
    """Half the batches send the studies in ascending order of their UIDs, half in descending order."""
    calls = []
    for b in range(BATCHES):
        order = list(range(STUDIES)) if b % 2 == 0 else list(reversed(range(STUDIES)))
        files = [("resources", (f"b{b}-s{j}.dcm", to_bytes(make_ct_slice(
            b, study=studies[j][0], series=studies[j][1], frame_of_reference=studies[j][2], size=4)),
            "application/dicom")) for j in order]
        manifest = ("files", (None, json.dumps([{}] * STUDIES)))
        calls.append(Call(key, "POST", "/resources/batch", files=[*files, manifest]))
    return calls


def _waiting_for_locks(server) -> int:  # type: ignore[no-untyped-def]
    with server.database.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock'"))


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL not selected (DATAMINT_TEST_BACKENDS)")
@pytest.mark.parametrize("server", ["postgresql"], indirect=True)  # row locks and deadlocks are PostgreSQL's:
def test_batches_sharing_studies_in_opposite_orders_all_commit(server, monkeypatch):  # SQLite has one writer
    """The test holds one study row (the middle UID) in an open transaction, so every batch stops
    inside its study insert, ascending ones having inserted the lower UIDs and descending ones the
    higher UIDs; it then rolls back. Inserting in file order, the first batch of each direction
    then waits for the other: a deadlock. PostgreSQL only: SQLite has one writer at a time.

    Batches of one organization created on the same UTC day also wait for each other's listing
    count of that day (migration 0021's trigger, at the resource insert, before the index rows);
    batches either side of midnight do not. Each batch here creates its resources on a day of its
    own (the batch module's clock moves a day per call; the server runs in this process), as
    batches at midnight do.
    """
    days = itertools.count(1)
    start = utcnow()
    monkeypatch.setattr(batch_ingest, "utcnow", lambda: start + timedelta(days=next(days)))
    key = server.new_org()
    with server.database.transaction() as s:
        customer_id = service.authenticate(s, key).customer_id
    studies = sorted((generate_uid(), generate_uid(), generate_uid()) for _ in range(STUDIES))
    middle = studies[STUDIES // 2][0]
    with server.database.engine.connect() as holder, ThreadPoolExecutor(1) as pool:
        holder.execute(insert(DicomStudy).values(customer_id=customer_id, study_uid=middle))
        sent = pool.submit(at_once, server.url, _calls(key, studies))
        deadline = time.monotonic() + 120
        while _waiting_for_locks(server) < BATCHES:
            assert time.monotonic() < deadline and not sent.done(), "the batches never all waited for the study"
            time.sleep(0.05)
        holder.rollback()
        responses = sent.result()
    assert statuses(responses) == [200] * BATCHES, [r.text[:300] for r in responses if r.status_code != 200]
    assert [[item["status"] for item in r.json()["items"]] for r in responses] == [[201] * STUDIES] * BATCHES
    with server.database.transaction() as s:
        uids = [x[0] for x in studies]
        assert s.scalar(select(func.count()).select_from(DicomStudy).where(DicomStudy.study_uid.in_(uids))) \
            == STUDIES
        assert s.scalar(select(func.count()).select_from(DicomSeries).where(
            DicomSeries.series_uid.in_([x[1] for x in studies]))) == STUDIES
        assert s.scalar(select(func.count()).select_from(DicomInstance).where(
            DicomInstance.study_uid.in_(uids))) == STUDIES * BATCHES

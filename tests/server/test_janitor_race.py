"""Several server processes sweep abandoned uploads at once (each starts with a sweep): every
orphan blob is deleted once, and no sweep fails on an intent another one removed."""

from __future__ import annotations

import threading
from datetime import timedelta

from datamint.server.db.base import utcnow
from datamint.server.db.session import Database
from datamint.server.resources.janitor import UploadJanitor
from datamint.server.resources.models import UploadIntent
from datamint.server.storage import make_blob_store


def test_concurrent_sweeps_remove_each_orphan_once(migrated_database, tmp_path):
    store = make_blob_store(str(tmp_path / "blobs"))
    old = utcnow() - timedelta(hours=2)
    keys = [f"c/resources/{i:08d}-0000-4000-8000-000000000000/original" for i in range(20)]
    with migrated_database.transaction() as s:
        for i, key in enumerate(keys):
            store.put(key, b"orphan")
            s.add(UploadIntent(id=f"{i:08d}-0000-4000-8000-000000000000", customer_id="c", blob_key=key,
                               started_at=old))
    janitors = [UploadJanitor(Database(migrated_database.url), store, timedelta(hours=1), 0) for _ in range(4)]
    barrier = threading.Barrier(len(janitors))
    results: list[int | BaseException] = []

    def sweep(janitor: UploadJanitor) -> None:
        barrier.wait()
        try:
            results.append(janitor.sweep())
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            results.append(exc)

    threads = [threading.Thread(target=sweep, args=(j,)) for j in janitors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for janitor in janitors:
        janitor.database.dispose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sum(results) == 20  # type: ignore[arg-type]
    assert not any(store.exists(k) for k in keys)
    with migrated_database.transaction() as s:
        assert s.query(UploadIntent).count() == 0

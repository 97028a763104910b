"""The DICOM listener's memory, measured on ``datamint server run`` (a subprocess, as an operator runs it).

With ``assemble``, an association's instances are spooled to disk and stored per series when it
ends: only one series' pixels may be in memory at a time, however many series the association
carried (a whole study can be more than the server's memory).
"""

from __future__ import annotations

import contextlib
import time

import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from fixtures.files import make_ct_slice

from conftest import BACKENDS, fresh_pg_database
from process_server import ProcessServer, free_port, process_server

TITLE = "MEMTEST"
SERIES, SLICES, SIZE = 8, 20, 512  # 8 series of 20 slices of 512 x 512 x 16 bits: 10 MiB each, 80 MiB in all
#: Peak growth allowed while the 80 MiB association is stored: one series and its assembled copies.
ONE_SERIES_MIB = 48


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"dimse-memory-{request.param}")
    port = free_port()
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'data' / 'datamint.sqlite3'}"
        else:
            url = stack.enter_context(fresh_pg_database())
        env = {"DATAMINT_SERVER_DICOM_ENABLED": "true", "DATAMINT_SERVER_DICOM_PORT": str(port)}
        srv = stack.enter_context(process_server(folder / "data", url, env=env))
        with srv.client() as http:
            saved = http.put("/dicom/settings", json={"assemble": True, "calling_ae_titles": [TITLE]})
            assert saved.status_code == 200, saved.text
        yield srv, port


def _send(port: int, series: int, slices: int, size: int) -> None:
    ae = AE(TITLE)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="DATAMINT")
    assert assoc.is_established
    study = generate_uid()
    for _ in range(series):
        uid, frame = generate_uid(), generate_uid()
        for i in range(slices):
            ds = make_ct_slice(i, study=study, series=uid, frame_of_reference=frame, size=size)
            assert assoc.send_c_store(ds).Status == 0x0000
    assoc.release()


def _wait_for(srv: ProcessServer, count: int) -> list[dict]:
    deadline = time.monotonic() + 120
    with srv.client() as http:
        while True:
            rows = http.get("/resources", params={"limit": 1000}).json()["data"]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def test_an_association_is_stored_one_series_at_a_time(served):
    srv, port = served
    _send(port, 1, 2, 8)  # warm-up: the listener, pynetdicom, the assembly and ingest code paths
    assert len(_wait_for(srv, 1)) == 1
    before = srv.peak_rss_mib()
    _send(port, SERIES, SLICES, SIZE)
    rows = _wait_for(srv, 1 + SERIES)
    growth = srv.peak_rss_mib() - before
    assert sorted(r["metadata"]["frame_count"] for r in rows) == [2] + [SLICES] * SERIES
    assert growth < ONE_SERIES_MIB, f"storing an 80 MiB association raised the peak by {growth:.0f} MiB"

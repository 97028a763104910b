"""The DICOM listener driven by pynetdicom as the modality: C-ECHO, C-STORE of a 250-slice CT, C-FIND."""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind, Verification

from fixtures.files import make_ct_slice

from conftest import BACKENDS, fresh_pg_database, start_server


@pytest.fixture(scope="module", params=BACKENDS)
def dicom_server(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"dimse-{request.param}")
    with contextlib.ExitStack() as stack:
        # A database of its own: this server bootstraps its own first organization, which on the
        # session's shared PostgreSQL database would take the place of the main server fixture's.
        own = {"database_url": stack.enter_context(fresh_pg_database())} if request.param == "postgresql" else {}
        gen = start_server(request.param, request, folder, dicom_enabled=True, dicom_port=0,
                           dicom_ae_title="DATAMINT", **own)
        server = next(gen)
        yield server
        server.app.state.dicom_listener.stop()
        gen.close()


def _org(server, **settings):  # type: ignore[no-untyped-def]
    key = server.new_org()
    title = f"CT{uuid.uuid4().hex[:8].upper()}"
    http = httpx.Client(base_url=server.url, headers={"apikey": key}, timeout=60)
    saved = http.put("/dicom/settings", json={"calling_ae_titles": [title], **settings})
    assert saved.status_code == 200, saved.text
    return http, title


def _series(n: int) -> list[Dataset]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    return [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=8) for i in range(n)]


def _associate(server, title: str):  # type: ignore[no-untyped-def]
    ae = AE(title)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    return ae.associate("127.0.0.1", server.app.state.dicom_listener.port, ae_title="DATAMINT")


def _resources(http: httpx.Client, expected: int) -> list[dict]:
    """The organization's resources once ``expected`` exist (an association is stored when it ends)."""
    deadline = time.monotonic() + 60
    while True:
        rows = http.get("/resources", params={"limit": 1000}).json()["data"]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _find(assoc, level: str, **keys) -> list[Dataset]:  # type: ignore[no-untyped-def]
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    answers = []
    for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        assert status.Status in (0x0000, 0xFF00), hex(status.Status)
        if status.Status == 0xFF00:
            answers.append(identifier)
    return answers


def test_a_250_slice_ct_is_stored_once_and_assembled(dicom_server):
    http, title = _org(dicom_server, assemble=True, channel="ct-room-1")
    slices = _series(250)
    assoc = _associate(dicom_server, title)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    statuses = [assoc.send_c_store(ds).Status for ds in slices]
    assert statuses == [0x0000] * 250
    assoc.release()

    rows = _resources(http, 1)
    assert len(rows) == 1
    resource = rows[0]
    assert resource["upload_channel"] == "ct-room-1" and resource["metadata"]["frame_count"] == 250
    stored = pydicom.dcmread(io.BytesIO(http.get(f"/resources/{resource['id']}/file").content))
    sources = [g.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID
               for g in stored.PerFrameFunctionalGroupsSequence]
    assert sorted(sources) == sorted(ds.SOPInstanceUID for ds in slices) and len(set(sources)) == 250
    assert stored.pixel_array.shape == (250, 8, 8)
    assert stored.pixel_array[17].tolist() == slices[17].pixel_array.tolist()  # z order = creation order

    assoc = _associate(dicom_server, title)
    studies = _find(assoc, "STUDY", PatientName="Doe*", StudyInstanceUID="", NumberOfStudyRelatedInstances="",
                    ModalitiesInStudy="")
    assert [s.StudyInstanceUID for s in studies] == [slices[0].StudyInstanceUID]
    assert int(studies[0].NumberOfStudyRelatedInstances) == 1 and studies[0].ModalitiesInStudy == "CT"
    series = _find(assoc, "SERIES", StudyInstanceUID=slices[0].StudyInstanceUID, SeriesInstanceUID="",
                   Modality="CT", NumberOfSeriesRelatedInstances="")
    assert [s.SeriesInstanceUID for s in series] == [slices[0].SeriesInstanceUID]
    assert _find(assoc, "STUDY", PatientName="Nobody*", StudyInstanceUID="") == []
    assoc.release()


def test_without_assembly_every_instance_is_its_own_resource(dicom_server):
    http, title = _org(dicom_server, assemble=False, anonymize=True)
    slices = _series(12)
    assoc = _associate(dicom_server, title)
    assert [assoc.send_c_store(ds).Status for ds in slices] == [0x0000] * 12
    assoc.release()
    rows = _resources(http, 12)
    assert len(rows) == 12
    assert {r["metadata"]["frame_count"] for r in rows} == {1}
    assert not {r["metadata"]["SOPInstanceUID"] for r in rows} & {ds.SOPInstanceUID for ds in slices}
    assert len({r["metadata"]["SeriesInstanceUID"] for r in rows}) == 1  # anonymized consistently
    assoc = _associate(dicom_server, title)
    found = _find(assoc, "IMAGE", StudyInstanceUID="", SOPInstanceUID="", InstanceNumber="5")
    assert len(found) == 1 and found[0].SOPInstanceUID in {r["metadata"]["SOPInstanceUID"] for r in rows}
    assoc.release()


def test_an_unknown_calling_ae_title_is_rejected(dicom_server):
    _org(dicom_server)
    assoc = _associate(dicom_server, "INTRUDER")
    assert assoc.is_rejected
    assert (assoc.acceptor.primitive.result, assoc.acceptor.primitive.result_source,
            assoc.acceptor.primitive.diagnostic) == (1, 1, 3)


def test_an_ae_title_belongs_to_one_organization(dicom_server):
    _, title = _org(dicom_server)
    key = dicom_server.new_org()
    clash = httpx.put(f"{dicom_server.url}/dicom/settings", headers={"apikey": key},
                      json={"calling_ae_titles": [title]})
    assert clash.status_code == 409 and "another organization" in clash.json()["message"]
    bad = httpx.put(f"{dicom_server.url}/dicom/settings", headers={"apikey": key},
                    json={"calling_ae_titles": ["WAY_TOO_LONG_AE_TITLE"]})
    assert bad.status_code == 422


def test_c_find_matches_uid_lists_and_modality_lists(dicom_server):
    http, title = _org(dicom_server)
    ct, mr, other = _series(1)[0], _series(1)[0], _series(1)[0]
    mr.Modality = "MR"
    assoc = _associate(dicom_server, title)
    assert [assoc.send_c_store(ds).Status for ds in (ct, mr, other)] == [0x0000] * 3
    assoc.release()
    assert len(_resources(http, 3)) == 3

    assoc = _associate(dicom_server, title)
    wanted = sorted([ct.StudyInstanceUID, mr.StudyInstanceUID])
    by_uid = _find(assoc, "STUDY", StudyInstanceUID=f"{ct.StudyInstanceUID}\\{mr.StudyInstanceUID}")
    assert sorted(s.StudyInstanceUID for s in by_uid) == wanted
    by_modality = _find(assoc, "STUDY", StudyInstanceUID="", ModalitiesInStudy="MR\\XA")
    assert [s.StudyInstanceUID for s in by_modality] == [mr.StudyInstanceUID]
    images = _find(assoc, "IMAGE", StudyInstanceUID="", SOPInstanceUID=f"{ct.SOPInstanceUID}\\{other.SOPInstanceUID}")
    assert sorted(i.SOPInstanceUID for i in images) == sorted([ct.SOPInstanceUID, other.SOPInstanceUID])
    assoc.release()


def test_a_refused_instance_does_not_lose_the_rest_of_an_assembled_association(dicom_server):
    http, title = _org(dicom_server, assemble=True)
    broken = _series(1)[0]
    broken.PixelData = broken.PixelData[:10]  # 8 x 8 x 16 bits announced, 10 bytes sent
    good = _series(3)
    assoc = _associate(dicom_server, title)
    statuses = [assoc.send_c_store(ds).Status for ds in [broken, *good]]
    assoc.release()
    assert statuses == [0xC000, 0x0000, 0x0000, 0x0000]  # refused when received, not acknowledged
    rows = _resources(http, 1)
    time.sleep(1)  # nothing else arrives later
    rows = http.get("/resources", params={"limit": 1000}).json()["data"]
    assert [(r["metadata"]["SeriesInstanceUID"], r["metadata"]["frame_count"]) for r in rows] == [
        (good[0].SeriesInstanceUID, 3)]


def test_an_association_spools_into_one_folder_removed_at_its_end(dicom_server, monkeypatch):
    """Each C-STORE of an assembled association made a spool folder (``setdefault`` built its
    default every time) and all but the first were left empty in the system's temp folder: one
    per instance, for good."""
    made: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        folder = mkdtemp(*args, **kwargs)
        if kwargs.get("prefix") == "dimse-":
            made.append(Path(folder))
        return folder

    monkeypatch.setattr(tempfile, "mkdtemp", counting)
    http, title = _org(dicom_server, assemble=True)
    assoc = _associate(dicom_server, title)
    assert [assoc.send_c_store(ds).Status for ds in _series(5)] == [0x0000] * 5
    assoc.release()
    assert len(_resources(http, 1)) == 1
    deadline = time.monotonic() + 10  # the folder goes right after the series is stored
    while made and made[0].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(made) == 1 and not made[0].exists()

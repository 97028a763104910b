"""``anonymize=true`` on ``POST /resources``: the server de-identifies a DICOM upload with the
SDK's profile before storing it (the web app's uploads); one ``anonymize_key`` per batch keeps
the study and series together."""

from __future__ import annotations

import io

import httpx
import pydicom
from pydicom.uid import generate_uid

from fixtures.files import make_ct_slice, to_bytes


def _upload(server, data: bytes, name: str, **fields: str) -> httpx.Response:
    return httpx.post(f"{server.url}/resources", headers={"apikey": server.admin_key},
                      files={"resource": (name, data, "application/dicom")}, data=fields)


def test_the_stored_file_is_de_identified_and_a_batch_still_groups(server):
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [make_ct_slice(k, study=study, series=series, frame_of_reference=frame, size=8) for k in range(2)]
    slices[0].ImageLaterality = "L"
    answers = [_upload(server, to_bytes(ds), f"s{k}.dcm", anonymize="true", anonymize_key="batch-1")
               for k, ds in enumerate(slices)]
    assert [a.status_code for a in answers] == [201, 201]
    stored = [pydicom.dcmread(io.BytesIO(httpx.get(
        f"{server.url}/resources/{a.json()['id']}/file", headers={"apikey": server.admin_key}).content))
        for a in answers]
    for ds in stored:
        assert str(ds.PatientName) != "Doe^Jane" and ds.PatientID != "MRN-0042"
        assert not ds.get("PatientBirthDate")
        assert ds.StudyInstanceUID != study and ds.SeriesInstanceUID != series
    assert stored[0].StudyInstanceUID == stored[1].StudyInstanceUID, "one key: the study stays one study"
    assert stored[0].SeriesInstanceUID == stored[1].SeriesInstanceUID
    first = answers[0].json()
    assert "left" in first["tags"] and first["metadata"].get("PatientID") != "MRN-0042"
    headers = {"apikey": server.admin_key}
    studies = httpx.get(f"{server.url}/dicomweb/studies", params={"StudyInstanceUID": stored[0].StudyInstanceUID},
                        headers=headers)
    assert studies.status_code == 200 and len(studies.json()) == 1, "the DICOM index holds the new UIDs"
    assert "MRN-0042" not in studies.text and "Doe^Jane" not in studies.text
    original = httpx.get(f"{server.url}/dicomweb/studies", params={"StudyInstanceUID": study}, headers=headers)
    assert original.status_code in (200, 204) and (original.status_code == 204 or original.json() == [])

    other = _upload(server, to_bytes(slices[1]), "again.dcm", anonymize="true", anonymize_key="batch-2")
    assert other.status_code == 201
    again = pydicom.dcmread(io.BytesIO(httpx.get(
        f"{server.url}/resources/{other.json()['id']}/file", headers={"apikey": server.admin_key}).content))
    assert again.StudyInstanceUID != stored[1].StudyInstanceUID, "another batch cannot be linked"


def test_without_the_flag_nothing_changes_and_bad_values_are_refused(server):
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid(), size=8)
    plain = _upload(server, to_bytes(ds), "plain.dcm")
    assert plain.status_code == 201 and plain.json()["metadata"]["PatientID"] == "MRN-0042"
    bad = _upload(server, to_bytes(ds), "bad.dcm", anonymize="maybe")
    assert bad.status_code == 422 and "anonymize must be true or false" in bad.json()["message"]
    long_key = _upload(server, to_bytes(ds), "key.dcm", anonymize="true", anonymize_key="k" * 201)
    assert long_key.status_code == 422 and "anonymize_key" in long_key.json()["message"]

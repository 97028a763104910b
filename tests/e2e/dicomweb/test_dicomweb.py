"""DICOMweb driven by dicomweb-client (a real client we did not write): STOW, QIDO, WADO.

Every test works in an organization of its own, so searches see only what the test stored.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from requests import HTTPError

from fixtures.files import make_ct_slice, pydicom_file, to_bytes


class Org:
    """An organization of its own on the live server, with a DICOMweb client as its admin."""

    def __init__(self, server) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        # dicomweb-client sends a Host header without the port: links use the configured URL.
        server.app.state.settings.public_url = server.url
        self.key = server.new_org()
        self.root = f"{server.url}/dicomweb"
        self.client = DICOMwebClient(url=self.root, headers={"Authorization": f"Bearer {self.key}"})
        self.http = httpx.Client(base_url=server.url, headers={"apikey": self.key}, timeout=60)


@pytest.fixture
def org(server):  # type: ignore[no-untyped-def]
    o = Org(server)
    yield o
    o.http.close()


def ct_study(n: int = 5, *, patient: str = "Doe^Jane", date: str = "20240101", size: int = 16) -> list[Dataset]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = []
    for i in range(n):
        ds = make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=size, patient=patient)
        ds.StudyDate = date
        ds.AccessionNumber = f"ACC{date}"
        slices.append(pydicom.dcmread(io.BytesIO(to_bytes(ds))))
    return slices


def _uid(item: dict, tag: str) -> str:
    return item[tag]["Value"][0]


def test_store_then_search_and_retrieve_give_back_the_files(org):
    slices = ct_study(5)
    answer = org.client.store_instances(list(reversed(slices)))
    stored = answer.ReferencedSOPSequence
    assert sorted(item.ReferencedSOPInstanceUID for item in stored) == sorted(s.SOPInstanceUID for s in slices)
    assert "FailedSOPSequence" not in answer

    studies = org.client.search_for_studies()
    assert len(studies) == 1
    study = studies[0]
    assert _uid(study, "0020000D") == slices[0].StudyInstanceUID
    assert study["00100010"]["Value"] == [{"Alphabetic": "Doe^Jane"}]
    assert study["00080061"]["Value"] == ["CT"]
    assert study["00201206"]["Value"] == [1] and study["00201208"]["Value"] == [5]
    assert study["00081190"]["Value"] == [f"{org.root}/studies/{slices[0].StudyInstanceUID}"]

    series = org.client.search_for_series(slices[0].StudyInstanceUID)
    assert [_uid(s, "0020000E") for s in series] == [slices[0].SeriesInstanceUID]
    assert series[0]["00201209"]["Value"] == [5] and series[0]["00080060"]["Value"] == ["CT"]

    instances = org.client.search_for_instances(slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID)
    assert [_uid(i, "00080018") for i in instances] == [s.SOPInstanceUID for s in slices]  # InstanceNumber order
    assert [i["00200013"]["Value"][0] for i in instances] == [1, 2, 3, 4, 5]

    got = org.client.retrieve_instance(slices[2].StudyInstanceUID, slices[2].SeriesInstanceUID,
                                       slices[2].SOPInstanceUID)
    assert to_bytes(got) == to_bytes(slices[2])  # the stored file, byte for byte
    series_files = org.client.retrieve_series(slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID)
    assert sorted(to_bytes(d) for d in series_files) == sorted(to_bytes(s) for s in slices)
    study_files = org.client.retrieve_study(slices[0].StudyInstanceUID)
    assert len(study_files) == 5
    for ds in study_files:
        original = next(s for s in slices if s.SOPInstanceUID == ds.SOPInstanceUID)
        assert np.array_equal(ds.pixel_array, original.pixel_array)


def test_metadata_comes_from_the_database_and_equals_the_files(org):
    slices = ct_study(4)
    org.client.store_instances(slices)
    study, series = slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID
    metadata = org.client.retrieve_series_metadata(study, series)
    assert len(metadata) == 4
    for item in metadata:
        ds = Dataset.from_json(item, bulk_data_uri_handler=lambda uri: b"")
        original = next(s for s in slices if s.SOPInstanceUID == ds.SOPInstanceUID)
        for element in original:
            if element.keyword == "PixelData":
                continue
            assert ds[element.tag].value == element.value, element.keyword
        assert item["7FE00010"]["BulkDataURI"] == (f"{org.root}/studies/{study}/series/{series}/instances/"
                                                   f"{original.SOPInstanceUID}/bulk/7FE00010")
        assert item["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]
    # The first request stored the JSON (after its read, in a transaction of its own) in place of
    # the header bytes; later ones read it back unchanged, and the files are never opened.
    assert _stored_headers(org, series) == [(True, False)] * 4
    for item in metadata:
        blob = org.server.app.state.blob_store
        key = _location(org, item["00080018"]["Value"][0])
        blob.delete(key)
    again = org.client.retrieve_series_metadata(study, series)
    assert again == metadata
    one = org.client.retrieve_instance_metadata(study, series, slices[1].SOPInstanceUID)
    assert one == next(m for m in metadata if m["00080018"]["Value"] == [slices[1].SOPInstanceUID])
    assert len(org.client.retrieve_study_metadata(study)) == 4


def _stored_headers(org: Org, series_uid: str) -> list[tuple[bool, bool]]:
    """Per instance of the series: (has its DICOM JSON, still has its header bytes)."""
    from sqlalchemy import select

    from datamint.server.resources.models import DicomInstance

    with org.server.database.transaction() as session:
        rows = session.execute(select(DicomInstance.header_json, DicomInstance.header)
                               .where(DicomInstance.series_uid == series_uid)).all()
    return [(text is not None, header is not None) for text, header in rows]


def _location(org: Org, sop_instance_uid: str) -> str:
    from sqlalchemy import select

    from datamint.server.resources.models import DicomInstance, Resource

    with org.server.database.transaction() as session:
        return session.scalar(select(Resource.location).join(DicomInstance, DicomInstance.resource_id == Resource.id)
                              .where(DicomInstance.instance_uid == sop_instance_uid))


def test_bulk_data_uri_returns_the_pixel_data(org):
    slices = ct_study(1)
    org.client.store_instances(slices)
    meta = org.client.retrieve_instance_metadata(slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID,
                                                 slices[0].SOPInstanceUID)
    assert org.client.retrieve_bulkdata(meta["7FE00010"]["BulkDataURI"]) == [slices[0].PixelData]


def test_frames_are_the_stored_pixels(org):
    slices = ct_study(3)
    org.client.store_instances(slices)
    s = slices[1]
    frames = org.client.retrieve_instance_frames(s.StudyInstanceUID, s.SeriesInstanceUID, s.SOPInstanceUID, [1])
    assert frames == [s.PixelData]
    with pytest.raises(HTTPError) as err:
        org.client.retrieve_instance_frames(s.StudyInstanceUID, s.SeriesInstanceUID, s.SOPInstanceUID, [2])
    assert err.value.response.status_code == 404


def test_assembled_series_answers_as_one_multiframe_instance(org, tmp_path):
    from datamint import Api

    slices = ct_study(6)
    paths = []
    for i, ds in enumerate(slices):
        path = tmp_path / f"s{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    with Api(org.server.url, org.key) as api:
        ids = api.resources.upload_resources(paths, assemble_dicoms=True)
    assert len(set(ids)) == 1
    instances = org.client.search_for_instances(slices[0].StudyInstanceUID)
    assert len(instances) == 1 and instances[0]["00280008"]["Value"] == [6]
    sop = _uid(instances[0], "00080018")
    frames = org.client.retrieve_instance_frames(slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID, sop,
                                                 [1, 2, 3, 4, 5, 6])
    by_z = sorted(slices, key=lambda d: float(d.ImagePositionPatient[2]))
    assert frames == [d.PixelData for d in by_z]
    meta = org.client.retrieve_instance_metadata(slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID, sop)
    sources = meta["52009230"]["Value"]
    assert [f["00209172"]["Value"][0]["00081155"]["Value"][0] for f in sources] == [d.SOPInstanceUID for d in by_z]


def test_rendered_png_applies_the_window(org):
    slices = ct_study(2)
    org.client.store_instances(slices)
    s = slices[1]
    png = org.client.retrieve_instance_rendered(s.StudyInstanceUID, s.SeriesInstanceUID, s.SOPInstanceUID,
                                                media_types=("image/png",), params={"window": "100,200,linear"})
    image = np.asarray(Image.open(io.BytesIO(png)))
    hu = s.pixel_array.astype(float) * 1 - 1024  # RescaleSlope 1, RescaleIntercept -1024
    expected = np.clip(np.round(((hu - 99.5) / 199 + 0.5) * 255), 0, 255).astype(np.uint8)
    assert image.shape == (16, 16) and np.array_equal(image, expected)
    jpeg = org.client.retrieve_instance_frames_rendered(s.StudyInstanceUID, s.SeriesInstanceUID,
                                                        s.SOPInstanceUID, [1])
    assert jpeg[:3] == b"\xff\xd8\xff"
    own = np.clip(np.round(((hu - 39.5) / 399 + 0.5) * 255), 0, 255)  # the file's window 40/400
    assert np.abs(np.asarray(Image.open(io.BytesIO(jpeg)), dtype=float) - own).mean() < 3
    bad = org.http.get(f"/dicomweb/studies/{s.StudyInstanceUID}/series/{s.SeriesInstanceUID}/instances/"
                       f"{s.SOPInstanceUID}/rendered", params={"window": "40"})
    assert bad.status_code == 422 and "window" in bad.json()["message"]
    gif = org.http.get(f"/dicomweb/studies/{s.StudyInstanceUID}/series/{s.SeriesInstanceUID}/instances/"
                       f"{s.SOPInstanceUID}/rendered", headers={"Accept": "image/gif"})
    assert gif.status_code == 406


def test_compressed_frames_as_stored_or_decoded(org):
    ds = pydicom.dcmread(pydicom_file("SC_rgb_jpeg_gdcm.dcm"))
    org.client.store_instances([ds])
    args = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    decoded = org.client.retrieve_instance_frames(*args, [1], media_types=(("application/octet-stream",
                                                                             "1.2.840.10008.1.2.1"),))
    assert np.array_equal(np.frombuffer(decoded[0], np.uint8).reshape(ds.pixel_array.shape), ds.pixel_array)
    stored = org.client.retrieve_instance_frames(*args, [1], media_types=(("image/jpeg", "*"),))
    assert stored[0][:2] == b"\xff\xd8" and stored[0] in ds.PixelData


def test_qido_matching_paging_and_includefield(org):
    jane = ct_study(2, patient="Doe^Jane", date="20240105")
    john = ct_study(3, patient="Müller^John", date="20240220")
    mr = ct_study(1, patient="Smith^Ann", date="20231231")
    for ds in mr:
        ds.Modality = "MR"
    org.client.store_instances(jane + john + mr)

    def uids(**params):  # type: ignore[no-untyped-def]
        return {_uid(s, "0020000D") for s in org.client.search_for_studies(search_filters=params.pop("f", {}),
                                                                          **params)}

    assert uids(f={"PatientName": "Doe*"}) == {jane[0].StudyInstanceUID}
    assert uids(f={"PatientName": "doe^jane"}) == {jane[0].StudyInstanceUID}  # person names ignore case
    assert uids(f={"PatientName": "mull"}, fuzzymatching=True) == {john[0].StudyInstanceUID}
    assert uids(f={"PatientName": "joh"}, fuzzymatching=True) == {john[0].StudyInstanceUID}
    assert uids(f={"PatientName": "mull"}) == set()
    assert uids(f={"StudyDate": "20240101-20240131"}) == {jane[0].StudyInstanceUID}
    assert uids(f={"StudyDate": "20240101-"}) == {jane[0].StudyInstanceUID, john[0].StudyInstanceUID}
    assert uids(f={"StudyDate": "-20231231"}) == {mr[0].StudyInstanceUID}
    assert uids(f={"ModalitiesInStudy": "MR"}) == {mr[0].StudyInstanceUID}
    assert uids(f={"AccessionNumber": "ACC2024*"}) == {jane[0].StudyInstanceUID, john[0].StudyInstanceUID}
    assert uids(f={"StudyInstanceUID": f"{jane[0].StudyInstanceUID}\\{mr[0].StudyInstanceUID}"}) == {
        jane[0].StudyInstanceUID, mr[0].StudyInstanceUID}
    newest_first = [_uid(s, "0020000D") for s in org.client.search_for_studies()]
    assert newest_first == [john[0].StudyInstanceUID, jane[0].StudyInstanceUID, mr[0].StudyInstanceUID]
    page = org.client.search_for_studies(limit=1, offset=1)
    assert [_uid(s, "0020000D") for s in page] == newest_first[1:2]
    series = org.client.search_for_series(search_filters={"Modality": "CT"}, fields=["StudyDate"])
    assert len(series) == 2 and {s["00080020"]["Value"][0] for s in series} == {"20240105", "20240220"}
    instances = org.client.search_for_instances(search_filters={"PatientID": "MRN-0042", "InstanceNumber": "3"})
    assert [_uid(i, "00080018") for i in instances] == [john[2].SOPInstanceUID]
    everything = org.http.get("/dicomweb/studies", params={"includefield": "all", "StudyDate": "20240105"}).json()
    assert everything[0]["00100020"]["Value"] == ["MRN-0042"] and everything[0]["00080050"]["Value"] == ["ACC20240105"]

    bad = org.http.get("/dicomweb/studies", params={"StudyDate": "2024-01-01x"})
    assert bad.status_code == 422 and "StudyDate" in bad.json()["message"]
    assert org.http.get("/dicomweb/studies", params={"NotAKeyword": "1"}).status_code == 422
    unsupported = org.http.get("/dicomweb/studies", params={"PatientAge": "040Y"})
    assert unsupported.status_code == 422 and "not supported" in unsupported.json()["message"]
    assert org.http.get("/dicomweb/studies", params={"limit": "0"}).status_code == 422


def test_deleted_resources_leave_dicomweb(org):
    slices = ct_study(2)
    org.client.store_instances(slices)
    study, series = slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID
    rows = org.http.get("/resources", params={"series_uid": series}).json()["data"]
    assert len(rows) == 2
    assert org.http.delete(f"/resources/{rows[0]['id']}").status_code == 204
    assert org.client.search_for_studies()[0]["00201208"]["Value"] == [1]
    assert len(org.client.search_for_instances(study)) == 1
    assert org.http.delete(f"/resources/{rows[1]['id']}").status_code == 204
    assert org.client.search_for_studies() == []
    assert org.http.get(f"/dicomweb/studies/{study}/metadata").status_code == 404


def test_stow_refuses_bad_parts_and_keeps_the_good_ones(org):
    good = ct_study(1)[0]
    other_study = ct_study(1)[0]
    boundary = "b0undary"
    body = b"".join([
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), to_bytes(good), b"\r\n",
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), to_bytes(other_study), b"\r\n",
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), to_bytes(good)[:-100], b"\r\n",
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n".encode(),
    ])
    ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
    answer = org.http.post(f"/dicomweb/studies/{good.StudyInstanceUID}", content=body,
                           headers={"Content-Type": ctype})
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert [i["00081155"]["Value"][0] for i in result["00081199"]["Value"]] == [good.SOPInstanceUID]
    reasons = [i["00081197"]["Value"][0] for i in result["00081198"]["Value"]]
    assert reasons == [0xA900, 0x0110, 0xC000]
    assert len(org.http.get("/resources").json()["data"]) == 1
    assert org.http.post("/dicomweb/studies", content=b"x", headers={"Content-Type": "application/dicom"}
                         ).status_code == 415
    assert org.http.post("/dicomweb/studies", content=f"--{boundary}--\r\n".encode(),
                         headers={"Content-Type": ctype}).status_code == 400
    none = org.http.post("/dicomweb/studies", content=body[:body.index(b"\r\n--", 10) + 2] + f"--{boundary}--\r\n"
                         .encode(), headers={"Content-Type": ctype})
    assert none.status_code == 200  # the same instance again is a new resource (as for POST /resources)


def test_organization_settings_anonymize_stow(org):
    assert org.http.get("/dicom/settings").json() == {"anonymize": False, "assemble": False, "project_id": None,
                                                      "channel": "", "receiver_id": None, "calling_ae_titles": []}
    saved = org.http.put("/dicom/settings", json={"anonymize": True, "channel": "pacs"})
    assert saved.status_code == 200 and saved.json()["anonymize"] is True
    slices = ct_study(3)
    answer = org.client.store_instances(slices)
    new_uids = [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence]
    assert not set(new_uids) & {s.SOPInstanceUID for s in slices}
    studies = org.client.search_for_studies()
    assert len(studies) == 1 and _uid(studies[0], "0020000D") != slices[0].StudyInstanceUID
    assert studies[0]["00100010"]["Value"][0]["Alphabetic"].startswith("ANON")
    assert studies[0]["00201208"]["Value"] == [3]  # one new study UID for all three instances
    # The same study sent again maps to the same new UIDs (the organization's anonymizer is keyed).
    again = org.client.store_instances(slices[:1])
    assert again.ReferencedSOPSequence[0].ReferencedSOPInstanceUID in new_uids
    stored = org.client.retrieve_study(_uid(studies[0], "0020000D"))
    assert {ds.PatientIdentityRemoved for ds in stored} == {"YES"}
    assert sorted(ds.pixel_array.sum() for ds in stored)[:3] == sorted(s.pixel_array.sum() for s in slices)
    assert {r["upload_channel"] for r in org.http.get("/resources").json()["data"]} == {"pacs"}


def test_dicomweb_is_scoped_to_the_callers_organization(server, org):
    slices = ct_study(1)
    org.client.store_instances(slices)
    s = slices[0]
    outsider = Org(server)
    assert outsider.client.search_for_studies() == []
    path = f"/dicomweb/studies/{s.StudyInstanceUID}/series/{s.SeriesInstanceUID}/instances/{s.SOPInstanceUID}"
    assert outsider.http.get(path).status_code == 404
    assert outsider.http.get(path + "/metadata").status_code == 404
    anonymous = httpx.get(f"{server.url}{path}")
    assert anonymous.status_code == 401
    member_key = server.new_user(["member"], admin_key=org.key)[1]
    member = httpx.get(f"{server.url}/dicomweb/studies", headers={"Authorization": f"Bearer {member_key}"})
    assert member.status_code == 200 and len(member.json()) == 1
    assert httpx.get(f"{server.url}/dicom/settings", headers={"apikey": member_key}).status_code == 403
    outsider.http.close()

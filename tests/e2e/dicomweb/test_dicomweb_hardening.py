"""DICOMweb under hostile or unusual input: each case a clear 4xx (or the right match), never a 500.

Every test works in an organization of its own (``test_dicomweb.Org``), over real HTTP.
"""

from __future__ import annotations

import pydicom
import pytest
from test_dicomweb import Org, ct_study

from datamint.imaging.limits import DecodeLimits
from fixtures.files import pydicom_file, to_bytes


@pytest.fixture
def org(server):  # type: ignore[no-untyped-def]
    o = Org(server)
    yield o
    o.http.close()


def _instance_path(ds) -> str:  # type: ignore[no-untyped-def]
    return (f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}")


def test_integer_keys_beyond_what_dicom_holds_are_422(org):
    s = ct_study(1)[0]
    org.client.store_instances([s])
    for path, key in (("/dicomweb/instances", "InstanceNumber"), ("/dicomweb/series", "SeriesNumber"),
                      ("/dicomweb/instances", "NumberOfFrames"), ("/dicomweb/instances", "Rows")):
        for value in ("99999999999999999999", "-99999999999999999999", "2147483648"):
            answer = org.http.get(path, params={key: value})
            assert answer.status_code == 422, (key, value, answer.text)
            assert answer.json()["message"] == (f"Invalid {key} {value!r}: expected an integer from "
                                                "-2147483648 to 2147483647")
    found = org.http.get("/dicomweb/instances", params={"InstanceNumber": "1"}).json()
    assert [i["00080018"]["Value"] for i in found] == [[s.SOPInstanceUID]]


def test_person_names_match_regardless_of_case_beyond_ascii(org):
    muller = ct_study(1, patient="Müller^Jürgen")
    other = ct_study(1, patient="Muller^Jurgen")
    org.client.store_instances(muller + other)

    def studies(name: str) -> list[str]:
        answer = org.http.get("/dicomweb/studies", params={"PatientName": name})
        assert answer.status_code == 200, answer.text
        return [s["0020000D"]["Value"][0] for s in answer.json()]

    wanted = [muller[0].StudyInstanceUID]
    assert studies("Müller^Jürgen") == wanted
    assert studies("MÜLLER^JÜRGEN") == wanted
    assert studies("müller*") == wanted
    assert sorted(studies("m?ller^j?rgen")) == sorted([muller[0].StudyInstanceUID, other[0].StudyInstanceUID])
    assert studies("muller^jurgen") == [other[0].StudyInstanceUID]  # accents still matter without fuzzy matching


@pytest.mark.parametrize("window", ["nan,400", "40,nan", "inf,400", "40,inf", "-inf,400,sigmoid", "1e400,400"])
def test_rendered_window_must_be_finite(org, window):
    s = ct_study(1)[0]
    org.client.store_instances([s])
    answer = org.http.get(_instance_path(s) + "/rendered", params={"window": window})
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(f"Invalid window {window!r}")


def test_repeated_frames_stay_within_the_decoded_size_limit(server, org):
    s = ct_study(1, size=256)[0]  # one frame of 256 x 256 x 16 bits: 128 KiB
    org.client.store_instances([s])
    path = _instance_path(s) + "/frames/"
    saved = server.app.state.decode_limits
    server.app.state.decode_limits = DecodeLimits(max_decoded_mb=1, setting_prefix="DATAMINT_SERVER_")
    try:
        eight = org.http.get(path + ",".join(["1"] * 8))  # 1 MiB: at the limit
        nine = org.http.get(path + ",".join(["1"] * 9))
    finally:
        server.app.state.decode_limits = saved
    assert eight.status_code == 200
    assert eight.content.count(s.PixelData) == 8
    assert nine.status_code == 413, nine.text
    assert nine.json()["details"] == {"limit": "max_decoded_mb"}
    assert "DATAMINT_SERVER_MAX_DECODED_MB" in nine.json()["message"]


def test_a_lone_star_matches_empty_values_too(org):
    with_accession = ct_study(1, date="20240301")
    without = ct_study(1, date="20240302")
    del without[0].AccessionNumber
    without[0].PatientName = ""
    org.client.store_instances(with_accession + without)
    both = [without[0].StudyInstanceUID, with_accession[0].StudyInstanceUID]  # newest StudyDate first

    def studies(**params: str) -> list[str]:
        answer = org.http.get("/dicomweb/studies", params=params)
        assert answer.status_code == 200, answer.text
        return [s["0020000D"]["Value"][0] for s in answer.json()]

    assert studies(AccessionNumber="*") == both
    assert studies(PatientName="*") == both
    assert studies(ModalitiesInStudy="*") == both
    assert studies(AccessionNumber="ACC*") == [with_accession[0].StudyInstanceUID]
    assert studies(PatientName="D*") == [with_accession[0].StudyInstanceUID]


def test_a_corrected_instance_answers_everywhere_once_sent_again(org):
    first = ct_study(1)[0]
    org.client.store_instances([first])
    corrected = ct_study(1)[0]
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        setattr(corrected, keyword, getattr(first, keyword))
    corrected.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
    corrected.InstanceNumber = 7  # the same SOP Instance UID sent again, renumbered, other pixels
    corrected.PixelData = bytes(len(first.PixelData))
    org.client.store_instances([corrected])

    found = org.http.get("/dicomweb/instances").json()
    assert [(i["00080018"]["Value"][0], i["00200013"]["Value"][0]) for i in found] == [(first.SOPInstanceUID, 7)]
    path = _instance_path(first)
    assert to_bytes(org.client.retrieve_instance(first.StudyInstanceUID, first.SeriesInstanceUID,
                                                 first.SOPInstanceUID)) == to_bytes(corrected)
    assert [m["00200013"]["Value"] for m in org.http.get(path + "/metadata").json()] == [[7]]
    assert [m["00200013"]["Value"] for m in org.http.get(
        f"/dicomweb/studies/{first.StudyInstanceUID}/metadata").json()] == [[7]]
    frame = org.client.retrieve_instance_frames(first.StudyInstanceUID, first.SeriesInstanceUID,
                                                first.SOPInstanceUID, [1])
    assert frame == [corrected.PixelData]


def test_stow_failure_reason_says_why(org):
    broken = ct_study(1)[0]
    broken.PixelData = broken.PixelData[:10]
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + to_bytes(broken)
            + f"\r\n--{boundary}--\r\n".encode())
    ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
    answer = org.http.post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
    assert answer.status_code == 409, answer.text
    failed = answer.json()["00081198"]["Value"]
    assert [f["00081155"]["Value"] for f in failed] == [[broken.SOPInstanceUID]]
    assert [f["00081197"]["Value"] for f in failed] == [[0x0110]]
    assert failed[0]["00741048"]["Value"] == ["the Pixel Data is 10 bytes but Rows×Columns×frames×samples×bits "]


def test_bulk_data_inside_a_sequence_is_retrievable(org):
    ecg = pydicom.dcmread(pydicom_file("waveform_ecg.dcm"))  # Waveform Data (240,000 bytes) in a sequence
    org.client.store_instances([ecg])
    meta = org.client.retrieve_instance_metadata(ecg.StudyInstanceUID, ecg.SeriesInstanceUID, ecg.SOPInstanceUID)
    uri = meta["54000100"]["Value"][0]["54001010"]["BulkDataURI"]
    assert uri == f"{org.root}/{_instance_path(ecg)[len('/dicomweb/'):]}/bulk/54000100.0.54001010"
    assert org.client.retrieve_bulkdata(uri) == [ecg.WaveformSequence[0].WaveformData]
    base = _instance_path(ecg) + "/bulk/"
    assert org.http.get(base + "54000100.5.54001010").status_code == 404
    assert org.http.get(base + "54001010").status_code == 404  # not at the top level
    for bad in ("54000100.x.54001010", "54000100.0", "5400.0.54001010"):
        answer = org.http.get(base + bad)
        assert answer.status_code == 422 and "Invalid bulk data place" in answer.json()["message"], bad


def test_two_organizations_holding_the_same_uids_see_only_their_own(server, org):
    ours = ct_study(2, patient="Ours^Patient")
    org.client.store_instances(ours)
    other = Org(server)
    try:
        theirs = []
        for ds in ct_study(3, patient="Their^Patient"):  # the same Study, Series and first SOP UIDs, other data
            ds.StudyInstanceUID, ds.SeriesInstanceUID = ours[0].StudyInstanceUID, ours[0].SeriesInstanceUID
            theirs.append(ds)
        theirs[0].SOPInstanceUID = theirs[0].file_meta.MediaStorageSOPInstanceUID = ours[0].SOPInstanceUID
        theirs[0].PixelData = bytes(len(ours[0].PixelData))
        other.client.store_instances(theirs)
        for client, mine, name in ((org.client, ours, "Ours^Patient"), (other.client, theirs, "Their^Patient")):
            studies = client.search_for_studies()
            assert [(s["00100010"]["Value"][0]["Alphabetic"], s["00201206"]["Value"], s["00201208"]["Value"])
                    for s in studies] == [(name, [1], [len(mine)])]
            series = client.search_for_series(mine[0].StudyInstanceUID)
            assert [s["00201209"]["Value"] for s in series] == [[len(mine)]]
            instances = client.search_for_instances(mine[0].StudyInstanceUID)
            assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(d.SOPInstanceUID for d in mine)
            metadata = client.retrieve_study_metadata(mine[0].StudyInstanceUID)
            assert {m["00100010"]["Value"][0]["Alphabetic"] for m in metadata} == {name}
            frame = client.retrieve_instance_frames(mine[0].StudyInstanceUID, mine[0].SeriesInstanceUID,
                                                    mine[0].SOPInstanceUID, [1])
            assert frame == [mine[0].PixelData]
            files = client.retrieve_study(mine[0].StudyInstanceUID)
            assert sorted(to_bytes(f) for f in files) == sorted(to_bytes(d) for d in mine)
    finally:
        other.http.close()


def test_person_names_fold_alike_on_both_sides(org):
    strauss = ct_study(1, patient="Strauß^Anna")
    org.client.store_instances(strauss)
    for name in ("Strauß^Anna", "strauß^anna", "STRAUß*", "strau?^anna"):
        answer = org.http.get("/dicomweb/studies", params={"PatientName": name})
        assert [s["0020000D"]["Value"][0] for s in answer.json()] == [strauss[0].StudyInstanceUID], name

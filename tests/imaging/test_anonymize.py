from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from datamint.imaging import BASIC_PROFILE, UidMapper, anonymize_dataset, is_dicom_report, read_dicom
from datamint.imaging.dicom_anonymize import parse_tag
from datamint.imaging.dicom_profile import BASIC_PROFILE_CODES
from fixtures.files import pydicom_file, to_bytes

PHI = ["Doe^Jane", "MRN-0042", "General Hospital", "1 Main Street", "House^Gregory", "Wilson^James",
       "ACC123456", "CT-ROOM-7", "SN-998877", "555-0199", "Secret comment", "Cuddy^Lisa", "STUDY77"]  # fmt: skip


def walk(ds: Dataset) -> Iterator[DataElement]:
    """Every element of `ds`, sequences included, depth first."""
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from walk(item)


def item(**attributes: object) -> Dataset:
    out = Dataset()
    for keyword, value in attributes.items():
        setattr(out, keyword, value)
    return out


def add_phi(ds: Dataset, referenced_uid: str) -> Dataset:
    """Decorate a synthetic CT slice with identifying attributes at several depths."""
    ds.PatientName = "Doe^Jane"
    ds.AccessionNumber = "ACC123456"
    ds.InstitutionName = "General Hospital"
    ds.InstitutionAddress = "1 Main Street"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.PerformingPhysicianName = "Wilson^James"
    ds.OperatorsName = "Cuddy^Lisa"
    ds.StationName = "CT-ROOM-7"
    ds.DeviceSerialNumber = "SN-998877"
    ds.PatientTelephoneNumbers = "555-0199"
    ds.PatientAge = "054Y"
    ds.PatientComments = "Secret comment"
    ds.ImageComments = "Secret comment"
    ds.StudyID = "STUDY77"
    ds.OtherPatientIDs = "MRN-0042"
    ds.ContentDate, ds.ContentTime = "20240101", "101500"
    ds.AcquisitionDate, ds.SeriesDate = "20240101", "20240101"
    ds.ImageLaterality = "L"
    ds.ReferencedImageSequence = Sequence(
        [item(ReferencedSOPClassUID=ds.SOPClassUID, ReferencedSOPInstanceUID=referenced_uid)]
    )
    ds.RequestAttributesSequence = Sequence([item(RequestedProcedureID="STUDY77", ScheduledProcedureStepID="X1")])
    # A kept sequence whose item holds attributes the profile removes or replaces.
    ds.ProcedureCodeSequence = Sequence(
        [item(CodeValue="CT01", CodingSchemeDesignator="99LOCAL", CodeMeaning="CT chest",
              InstitutionName="General Hospital", PatientID="MRN-0042")]
    )  # fmt: skip
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "Doe^Jane")
    block.add_new(0x11, "SQ", Sequence([item(PatientName="Doe^Jane")]))
    ds.add_new(0x60000010, "US", 4)  # overlay rows
    ds.add_new(0x60003000, "OW", b"\xff" * 2)  # overlay data
    ds.add_new(0x60004000, "LT", "Secret comment")  # overlay comments
    ds.add_new(0x50000005, "US", 1)  # curve dimensions
    return ds


@pytest.fixture
def phi_series(ct_series) -> list[Dataset]:
    slices = ct_series(6)
    for k, ds in enumerate(slices):
        add_phi(ds, referenced_uid=slices[(k + 1) % len(slices)].SOPInstanceUID)
    return slices


def originals_by_tag(datasets: list[Dataset]) -> dict[int, set[str]]:
    values: dict[int, set[str]] = defaultdict(set)
    for ds in datasets:
        for elem in walk(ds):
            if elem.VR != "SQ" and not elem.is_empty:
                values[int(elem.tag)].add(str(elem.value))
    return values


def assert_deidentified(before: list[Dataset], after: list[Dataset], retained: set[int] = frozenset()) -> None:
    original = originals_by_tag(before)
    for ds in after:
        for elem in walk(ds):
            tag = int(elem.tag)
            assert not elem.tag.is_private, f"private {elem.tag} survived"
            assert (elem.tag.group & 0xFF00) not in (0x5000, 0x6000), f"curve/overlay {elem.tag} survived"
            if tag in BASIC_PROFILE and tag not in retained and elem.VR != "SQ" and not elem.is_empty:
                assert str(elem.value) not in original.get(tag, set()), f"{elem.keyword} kept its original value"
            if tag in BASIC_PROFILE and BASIC_PROFILE[tag] == "X" and tag not in retained:
                raise AssertionError(f"{elem.keyword} should have been removed")


def test_series_is_deidentified_everywhere(phi_series: list[Dataset]) -> None:
    before = copy.deepcopy(phi_series)
    mapper = UidMapper()
    after = [anonymize_dataset(ds, uid_map=mapper) for ds in phi_series]
    assert_deidentified(before, after)
    for ds in after:
        blob = to_bytes(ds)
        for secret in PHI:
            assert secret.encode() not in blob, f"{secret!r} found in the output file"
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.LongitudinalTemporalInformationModified == "REMOVED"
        read_dicom(blob)  # still a complete, valid file


def test_dates_get_dummies_and_type2_attributes_are_emptied(phi_series: list[Dataset]) -> None:
    ds = anonymize_dataset(phi_series[0])
    assert (ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime) == ("19000101", "000000", "19000101", "000000")
    assert ds.PatientBirthDate == "" and ds.PatientSex == "" and ds.ReferringPhysicianName == ""
    assert ds.StudyID == ""
    for keyword in ("InstitutionName", "SeriesDate", "AcquisitionDate", "PatientAge", "StationName"):
        assert keyword not in ds
    # kept: geometry, pixel module, series number, modality, laterality
    assert ds.ImageLaterality == "L" and ds.Modality == "CT" and ds.SeriesNumber == 3
    assert list(ds.PixelSpacing) == [0.5, 0.75] and "PixelData" in ds


def test_uids_and_tokens_are_consistent_across_a_series(phi_series: list[Dataset]) -> None:
    old_sop = [ds.SOPInstanceUID for ds in phi_series]
    old_study = phi_series[0].StudyInstanceUID
    mapper = UidMapper()
    after = [anonymize_dataset(ds, uid_map=mapper) for ds in phi_series]
    assert len({ds.StudyInstanceUID for ds in after}) == 1 and after[0].StudyInstanceUID != old_study
    assert len({ds.SeriesInstanceUID for ds in after}) == 1
    assert len({ds.FrameOfReferenceUID for ds in after}) == 1
    assert len({ds.SOPInstanceUID for ds in after}) == len(after)
    assert not {ds.SOPInstanceUID for ds in after} & set(old_sop)
    assert mapper.uid(old_study) == after[0].StudyInstanceUID
    for k, ds in enumerate(after):
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        referenced = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
        assert referenced == after[(k + 1) % len(after)].SOPInstanceUID  # references still resolve
        assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == ds.SOPClassUID  # class UIDs kept
    assert {ds.PatientID for ds in after} == {mapper.token("MRN-0042", "ANON", 16)}
    assert after[0].PatientName == after[0].PatientID
    assert len(after[0].AccessionNumber) <= 16 and after[0].AccessionNumber.startswith("ACC")
    assert after[0].ProcedureCodeSequence[0].PatientID == after[0].PatientID  # replaced inside sequences too
    assert "InstitutionName" not in after[0].ProcedureCodeSequence[0]


def test_mappers_are_deterministic_per_secret() -> None:
    a, b, c = UidMapper(secret="k"), UidMapper(secret="k"), UidMapper()
    assert a.uid("1.2.3.4") == b.uid("1.2.3.4") != c.uid("1.2.3.4")
    assert a.uid("1.2.3.4") != a.uid("1.2.3.5")
    assert a.uid_map == {"1.2.3.4": a.uid("1.2.3.4"), "1.2.3.5": a.uid("1.2.3.5")}
    assert a.token("") == "" and len(a.token("x", "ACC", 16)) == 16


def test_retain_codes_in_every_spelling(phi_series: list[Dataset]) -> None:
    ds = phi_series[0]
    before = copy.deepcopy(ds)
    retain = ["PatientAge", (0x0008, 0x0080), 0x00081030, "0x0008,0x1070", "(0029,1010)"]
    anonymize_dataset(ds, retain_codes=retain)
    assert ds.PatientAge == "054Y"
    assert ds.InstitutionName == "General Hospital"
    assert ds.StudyDescription == before.StudyDescription
    assert ds.OperatorsName == "Cuddy^Lisa"
    assert ds[0x00291010].value == "Doe^Jane" and ds[0x00290010].value == "ACME 1.0"  # creator kept too
    assert 0x00291011 not in ds  # other private elements still go
    retained = {0x00101010, 0x00080080, 0x00081030, 0x00081070, 0x00291010}
    assert_deidentified([before], [_without_private(ds, keep=0x0029)], retained)
    assert "PatientAddress" not in ds and ds.PatientName != before.PatientName


def _without_private(ds: Dataset, keep: int) -> Dataset:
    clone = copy.deepcopy(ds)
    for tag in [t for t in clone.keys() if t.group == keep]:
        del clone[tag]
    return clone


def test_retaining_a_date_keeps_temporal_flag_off(phi_series: list[Dataset]) -> None:
    ds = anonymize_dataset(phi_series[0], retain_codes=["StudyDate"])
    assert ds.StudyDate == "20240101" and "LongitudinalTemporalInformationModified" not in ds


def test_unknown_retain_code_is_a_clear_error(phi_series: list[Dataset]) -> None:
    with pytest.raises(ValueError, match="unknown DICOM attribute 'PatientShoeSize'"):
        anonymize_dataset(phi_series[0], retain_codes=["PatientShoeSize"])


def test_tags_out_receives_laterality(phi_series: list[Dataset]) -> None:
    tags: list[str] = ["existing"]
    anonymize_dataset(phi_series[0], tags_out=tags)
    assert tags == ["existing", "left"]


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "test-SR.dcm", "rtplan.dcm"])
def test_real_files_are_deidentified(name: str) -> None:
    original = read_dicom(pydicom_file(name))
    ds = anonymize_dataset(copy.deepcopy(original))
    assert_deidentified([original], [ds])
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    again = pydicom.dcmread(pydicom.filebase.DicomBytesIO(to_bytes(ds)))
    assert again.PatientIdentityRemoved == "YES"
    if "PatientName" in original and str(original.PatientName):
        assert str(original.PatientName).encode() not in to_bytes(ds)


def test_rtstruct_references_are_remapped_consistently() -> None:
    ds = read_dicom(pydicom_file("rtstruct.dcm"))
    frame_uid = ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    mapper = UidMapper()
    anonymize_dataset(ds, uid_map=mapper)
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == mapper.uid(frame_uid)
    assert ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID == mapper.uid(frame_uid)


def test_is_dicom_report() -> None:
    assert is_dicom_report(read_dicom(pydicom_file("test-SR.dcm")))
    assert not is_dicom_report(read_dicom(pydicom_file("CT_small.dcm")))
    assert not is_dicom_report(read_dicom(pydicom_file("rtstruct.dcm")))
    assert is_dicom_report(item(Modality="KO"))
    assert is_dicom_report(item(Modality="OT", SOPClassUID="1.2.840.10008.5.1.4.1.1.104.1"))  # PDF
    assert is_dicom_report(item(SOPClassUID="1.2.840.10008.5.1.4.1.1.11.1"))  # presentation state
    assert not is_dicom_report(item(Modality="SEG", SOPClassUID="1.2.840.10008.5.1.4.1.1.66.4"))


def test_profile_table_content() -> None:
    assert len(BASIC_PROFILE) > 300
    assert set(BASIC_PROFILE.values()) <= {"X", "Z", "D", "K", "C", "U"}
    expected = {"PatientName": "Z", "PatientID": "Z", "PatientBirthDate": "Z", "AccessionNumber": "Z",
                "InstitutionName": "X", "StudyInstanceUID": "U", "ReferencedSOPInstanceUID": "U",
                "ReferencedImageSequence": "U", "SeriesDescription": "X", "StudyDate": "Z"}  # fmt: skip
    for keyword, action in expected.items():
        assert BASIC_PROFILE[parse_tag(keyword)] == action, keyword
    assert BASIC_PROFILE_CODES[parse_tag("InstitutionName")] == "X/Z/D"


@pytest.mark.parametrize(
    ("code", "tag"),
    [((0x0010, 0x0020), 0x00100020), (0x00100020, 0x00100020), ("PatientID", 0x00100020),
     ("0x0010,0x0020", 0x00100020), ("(0010,0020)", 0x00100020), ("00100020", 0x00100020)],
)  # fmt: skip
def test_parse_tag_spellings(code: object, tag: int) -> None:
    assert parse_tag(code) == tag  # type: ignore[arg-type]

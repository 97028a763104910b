"""Proof that ``anonymize=True`` leaves no personal data in what the server stores.

Every element of the *stored* file (downloaded back, sequences and file meta included) is
compared with the original: no attribute of the PS3.15 Basic Profile keeps its original value,
no private attribute survives, no personal string appears anywhere, and the retained
attributes are intact. UIDs are replaced consistently, so the slices of a series still group.
"""

from __future__ import annotations

import io
from collections import defaultdict

import pydicom
import pytest
from pydicom.dataset import Dataset

from datamint import Api
from datamint.imaging import BASIC_PROFILE
from fixtures.files import PHI, write_ct_series

RETAINED = [(0x0010, 0x0040), "SeriesDescription"]  # PatientSex ("Z" otherwise), SeriesDescription ("X")
RETAINED_TAGS = {0x00100040, 0x0008103E}


def _profile_values(ds: Dataset) -> dict[int, set[str]]:
    """Original non-empty values of every Basic Profile attribute (keep-actions aside), at any depth."""
    values: dict[int, set[str]] = defaultdict(set)
    for elem in ds.iterall():
        if BASIC_PROFILE.get(int(elem.tag), "K") != "K" and elem.VR != "SQ" and elem.value not in (None, "", b""):
            values[int(elem.tag)].add(str(elem.value))
    return values


def _all_elements(ds: Dataset):
    yield from ds.file_meta.iterall()
    yield from ds.iterall()


def _check_stored(stored: Dataset, original: Dataset, siblings: list[Dataset] = ()) -> None:
    before = _profile_values(original)
    old_uids = {v for ds in [original, *siblings] for tag, values in _profile_values(ds).items()
                if BASIC_PROFILE[tag] == "U" for v in values}
    phi = [value.replace("^", " ") for value in PHI.values()] + list(PHI.values()) + ["Jane Doe"]
    for elem in _all_elements(stored):
        tag = int(elem.tag)
        assert not elem.tag.is_private, f"private attribute {elem.tag} survived"
        if elem.VR == "SQ" or tag in RETAINED_TAGS:
            continue
        text = str(elem.value)
        if tag in before:
            assert text not in before[tag], f"{elem.keyword or elem.tag} kept its original value {text!r}"
        assert not any(p in text for p in phi), f"{elem.keyword or elem.tag} still holds personal data: {text!r}"
        if elem.VR == "UI":
            assert text not in old_uids, f"{elem.keyword or elem.tag} holds an original UID {text!r}"
    assert stored.PatientSex == original.PatientSex == "F"
    assert stored.SeriesDescription == original.SeriesDescription
    assert stored.PatientIdentityRemoved == "YES"
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID != original.SOPInstanceUID


@pytest.fixture
def org_api(server):
    client = Api(server.url, server.new_org())
    yield client
    client.close()


def test_stored_files_hold_no_basic_profile_value(org_api, tmp_path):
    paths = write_ct_series(tmp_path / "s", slices=3, shuffle=False)
    originals = [pydicom.dcmread(p) for p in paths]
    ids = org_api.resources.upload_resources([str(p) for p in paths], anonymize=True,
                                             anonymize_retain_codes=RETAINED, assemble_dicoms=False)
    stored = [pydicom.dcmread(io.BytesIO(org_api.resources.download_resource_file(rid, auto_convert=False)))
              for rid in ids]
    for ds, original in zip(stored, originals, strict=True):
        _check_stored(ds, original)
        assert (ds.pixel_array == original.pixel_array).all()
    assert len({ds.StudyInstanceUID for ds in stored}) == 1 and len({ds.SeriesInstanceUID for ds in stored}) == 1
    assert stored[0].SeriesInstanceUID != originals[0].SeriesInstanceUID
    assert len({ds.SOPInstanceUID for ds in stored}) == 3
    resource = org_api.resources.get_by_id(ids[0])
    assert resource.patient_id and resource.patient_id != PHI["PatientID"]
    assert resource.metadata["PatientID"] == resource.patient_id


def test_assembled_and_anonymized_series_holds_no_personal_data(org_api, tmp_path):
    paths = write_ct_series(tmp_path / "s", slices=3)
    original, *siblings = (pydicom.dcmread(p) for p in paths)
    ids = org_api.resources.upload_resources([str(p) for p in paths], anonymize=True,
                                             anonymize_retain_codes=RETAINED, assemble_dicoms=True)
    assert len(set(ids)) == 1
    raw = org_api.resources.download_resource_file(ids[0], auto_convert=False)
    stored = pydicom.dcmread(io.BytesIO(raw))
    assert int(stored.NumberOfFrames) == 3
    _check_stored(stored, original, siblings)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest

from datamint.imaging import dicom_identifiers, extract_metadata
from fixtures.files import image_bytes, nibabel_file, pydicom_file, to_bytes


def assert_plain_json(meta: dict[str, Any]) -> None:
    """Serialisable without numpy types, NaN or infinity, and unchanged by a JSON round trip."""
    text = json.dumps(meta, allow_nan=False)
    assert json.loads(text) == meta


def test_ct_dicom_metadata_values() -> None:
    meta = extract_metadata(pydicom_file("CT_small.dcm"), "application/dicom")
    assert_plain_json(meta)
    assert (meta["width"], meta["height"], meta["frame_count"]) == (128, 128, 1)
    assert meta["PatientID"] == "1CT1"
    assert meta["Modality"] == "CT"
    assert meta["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.2"
    assert meta["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    assert meta["StudyInstanceUID"] == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert meta["SeriesInstanceUID"].startswith("1.3.6.1.4.1.5962.1.3.1.1.")
    assert meta["PixelSpacing"] == [0.661468, 0.661468]
    assert meta["SliceThickness"] == 5.0
    assert (meta["RescaleSlope"], meta["RescaleIntercept"]) == (1.0, -1024.0)


def test_mr_window_and_missing_optional_keys() -> None:
    meta = extract_metadata(pydicom_file("MR_small.dcm").read_bytes(), None)  # sniffed
    assert (meta["WindowCenter"], meta["WindowWidth"]) == (600.0, 1600.0)
    assert meta["PatientID"] == "4MR1"
    assert "BodyPartExamined" not in meta and "RescaleSlope" not in meta


def test_multiframe_and_compressed_dicom() -> None:
    assert extract_metadata(pydicom_file("rtdose.dcm"), "application/dicom")["frame_count"] == 15
    meta = extract_metadata(pydicom_file("JPEG2000.dcm"), "image/dicom")
    assert meta["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.91"
    assert (meta["width"], meta["height"]) == (256, 1024)


def test_enhanced_dicom_reads_functional_groups() -> None:
    meta = extract_metadata(pydicom_file("liver_1frame.dcm"), "application/dicom")
    assert meta["PixelSpacing"] == pytest.approx([0.810547, 0.810547])
    assert meta["SpacingBetweenSlices"] == 1.0


def test_laterality_is_reported(ct_series) -> None:
    ds = ct_series(1)[0]
    ds.ImageLaterality = "L"
    meta = extract_metadata(to_bytes(ds), "application/dicom")
    assert meta["ImageLaterality"] == "L"
    assert_plain_json(meta)


def test_laterality_tag_reads_every_place_the_side_is_recorded() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from datamint.imaging.metadata import laterality_tag

    def enhanced(groups: str, side: str) -> Dataset:
        anatomy = Dataset()
        anatomy.FrameLaterality = side
        group = Dataset()
        group.FrameAnatomySequence = Sequence([anatomy])
        ds = Dataset()
        setattr(ds, groups, Sequence([group]))
        return ds

    plain = Dataset()
    assert laterality_tag(plain) is None
    plain.Laterality = "B"
    assert laterality_tag(plain) is None
    plain.ImageLaterality = "R"
    assert laterality_tag(plain) == "right"
    top = Dataset()
    top.FrameLaterality = "L"
    assert laterality_tag(top) == "left"
    assert laterality_tag(enhanced("SharedFunctionalGroupsSequence", "R")) == "right"
    assert laterality_tag(enhanced("PerFrameFunctionalGroupsSequence", "L")) == "left"


def test_dicom_identifiers() -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"), stop_before_pixels=True)
    ids = dicom_identifiers(ds)
    assert ids == {
        "study_uid": ds.StudyInstanceUID,
        "series_uid": ds.SeriesInstanceUID,
        "instance_uid": ds.SOPInstanceUID,
        "patient_id": "1CT1",
        "modality": "CT",
    }
    del ds.PatientID
    assert dicom_identifiers(ds)["patient_id"] is None


def test_nifti_4d_metadata_matches_nibabel() -> None:
    path = nibabel_file("example4d.nii.gz")
    meta = extract_metadata(path.read_bytes(), "application/nifti")
    assert_plain_json(meta)
    header = nib.load(path).header
    assert meta["dims"] == [4, 128, 96, 24, 2, 1, 1, 1]
    assert (meta["width"], meta["height"], meta["frame_count"], meta["time_points"]) == (128, 96, 24, 2)
    np.testing.assert_allclose(meta["affine"], header.get_best_affine())
    np.testing.assert_allclose(meta["pixDims"], header["pixdim"])
    assert meta["datatype"] == 4  # int16
    assert (meta["qformCode"], meta["sformCode"]) == (1, 1)
    assert meta["voxOffset"] == 416.0
    assert meta["description"].startswith("FSL3.3")


def test_nifti_3d_and_nifti2() -> None:
    meta = extract_metadata(nibabel_file("anatomical.nii"), None)
    assert meta["frame_count"] == 25 and "time_points" not in meta
    meta2 = extract_metadata(nibabel_file("example_nifti2.nii.gz"), "application/nifti")
    assert meta2["dims"][:5] == [4, 32, 20, 12, 2]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_metadata(fmt: str) -> None:
    meta = extract_metadata(image_bytes(fmt, size=(40, 30)), None)
    assert (meta["width"], meta["height"], meta["frame_count"], meta["mode"]) == (40, 30, 1, "RGB")
    assert_plain_json(meta)


def test_multipage_tiff_frame_count(tmp_path: Path) -> None:
    from PIL import Image

    pages = [Image.new("L", (8, 6), color=v) for v in (0, 100, 200)]
    path = tmp_path / "stack.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert extract_metadata(path, "image/tiff")["frame_count"] == 3


@pytest.mark.parametrize(("key", "mime", "codec"), [("avi", "video/x-msvideo", "mjpg"), ("mp4", "video/mp4", None)])
def test_video_metadata(videos: dict[str, Path], key: str, mime: str, codec: str | None) -> None:
    meta = extract_metadata(videos[key], mime)
    assert_plain_json(meta)
    assert (meta["frame_count"], meta["width"], meta["height"]) == (6, 48, 32)
    assert meta["fps"] == pytest.approx(10.0)
    assert meta["duration"] == pytest.approx(0.6)
    (stream,) = meta["streams"]
    assert stream["codec_type"] == "video"
    assert (stream["nb_frames"], stream["width"], stream["height"]) == (6, 48, 32)
    if codec:
        assert stream["codec_name"] == codec


def test_types_without_metadata_return_empty_dict() -> None:
    assert extract_metadata(b'{"a": 1}', "application/json") == {}

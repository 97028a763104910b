from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from pydicom.uid import RLELossless

from datamint.imaging import (
    CorruptFileError,
    MimetypeMismatchError,
    UnsupportedFormatError,
    read_dicom,
    validate_content,
)

from imaging_data import image_bytes, nibabel_file, pydicom_file, to_bytes

DICOM = "application/dicom"


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "rtstruct.dcm", "test-SR.dcm"]
)
def test_valid_dicom_files_pass(name: str) -> None:
    path = pydicom_file(name)
    validate_content(path, DICOM)
    validate_content(path.read_bytes(), DICOM)
    with open(path, "rb") as fh:
        validate_content(fh, DICOM)
        assert fh.tell() == 0  # file objects are not consumed


def test_pydicom_truncated_example_is_corrupt() -> None:
    with pytest.raises(CorruptFileError, match="truncated") as info:
        validate_content(pydicom_file("MR_truncated.dcm"), DICOM)
    assert "MR_truncated.dcm" in str(info.value)
    with pytest.raises(CorruptFileError, match="truncated"):
        validate_content(pydicom_file("MR_truncated.dcm").read_bytes(), DICOM)


@pytest.mark.parametrize("cut", [200, 1000, 4000, 20000, 39000, 39150])
def test_truncated_ct_is_corrupt(cut: int) -> None:
    data = pydicom_file("CT_small.dcm").read_bytes()
    with pytest.raises(CorruptFileError):
        validate_content(data[:cut], DICOM)


def test_pixel_data_shorter_than_rows_columns_frames_is_corrupt(ct_series) -> None:
    ds = ct_series(1)[0]
    ds.PixelData = ds.PixelData[:-64]  # a complete file whose Pixel Data is too short
    with pytest.raises(CorruptFileError, match=r"Pixel Data is 1984 bytes .* needs 2048"):
        validate_content(to_bytes(ds), DICOM)


def test_missing_frames_in_compressed_pixel_data_are_corrupt(ct_series) -> None:
    ds = ct_series(1)[0]
    ds.compress(RLELossless)
    ds.NumberOfFrames = 3  # the encapsulated data holds one frame only
    with pytest.raises(CorruptFileError, match="1 of 3 frames"):
        validate_content(to_bytes(ds), DICOM)


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")
@pytest.mark.parametrize("name", ["JPEG2000.dcm", "MR_small_RLE.dcm"])
def test_truncated_compressed_dicom_is_corrupt(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    with pytest.raises(CorruptFileError):
        validate_content(data[: len(data) // 2], DICOM)


def test_image_without_pixel_data_is_corrupt(ct_series) -> None:
    ds = ct_series(1)[0]
    del ds.PixelData
    with pytest.raises(CorruptFileError, match="no Pixel Data"):
        validate_content(to_bytes(ds), DICOM)


def test_text_declared_as_dicom_is_a_mismatch() -> None:
    with pytest.raises(MimetypeMismatchError):
        validate_content(b"this is a text file, not DICOM\n", DICOM)


def test_empty_file_is_corrupt() -> None:
    with pytest.raises(CorruptFileError, match="empty"):
        validate_content(b"", DICOM)


def test_read_dicom_rejects_non_dicom_with_advice() -> None:
    with pytest.raises(UnsupportedFormatError, match="not a DICOM file"):
        read_dicom(b"GIF89a" + bytes(200))


def test_read_dicom_gives_bare_datasets_a_transfer_syntax() -> None:
    ds = read_dicom(pydicom_file("rtstruct.dcm"))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert ds.Modality == "RTSTRUCT"


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz"])
def test_valid_nifti_passes(name: str) -> None:
    data = nibabel_file(name).read_bytes()
    assert validate_content(data, "application/nifti") is None
    assert validate_content(nibabel_file(name), "application/nifti") is None
    with pytest.raises(CorruptFileError):  # the same file one byte short: the check reads it all
        validate_content(data[:-1] if not name.endswith(".gz") else gzip.compress(gzip.decompress(data)[:-1]),
                         "application/nifti")


def test_truncated_nifti_is_corrupt() -> None:
    data = nibabel_file("anatomical.nii").read_bytes()
    with pytest.raises(CorruptFileError, match="needs"):
        validate_content(data[:-100], "application/nifti")


def test_truncated_gzip_nifti_is_corrupt() -> None:
    data = nibabel_file("example4d.nii.gz").read_bytes()
    with pytest.raises(CorruptFileError):
        validate_content(data[: len(data) // 2], "application/nifti")


def test_complete_gzip_of_a_truncated_nifti_is_corrupt() -> None:
    raw = gzip.decompress(nibabel_file("example4d.nii.gz").read_bytes())
    with pytest.raises(CorruptFileError, match="needs"):
        validate_content(gzip.compress(raw[:-1000]), "application/nifti")


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("TIFF", "image/tiff")])
def test_images_pass_and_truncated_images_fail(fmt: str, mime: str) -> None:
    data = image_bytes(fmt, size=(64, 64))
    validate_content(data, mime)
    with pytest.raises(CorruptFileError):
        validate_content(data[: len(data) // 2], mime)


def test_png_declared_as_jpeg_is_a_mismatch() -> None:
    with pytest.raises(MimetypeMismatchError, match="image/png"):
        validate_content(image_bytes("PNG"), "image/jpeg")


def test_videos_pass_and_garbage_video_fails(videos: dict[str, Path]) -> None:
    validate_content(videos["avi"], "video/x-msvideo")
    validate_content(videos["mp4"].read_bytes(), "video/mp4")
    data = videos["avi"].read_bytes()
    broken = data[:12] + bytes(len(data) - 12)  # RIFF/AVI header, then zeros
    with pytest.raises(CorruptFileError):
        validate_content(broken, "video/x-msvideo")


def test_json_is_parsed() -> None:
    validate_content(io.BytesIO(b'{"a": [1, 2]}'), "application/json")
    with pytest.raises(CorruptFileError, match="invalid JSON"):
        validate_content(b'{"a": [1, 2}', "application/json")


def test_unknown_types_are_accepted_as_is() -> None:
    odd = b"a,b\n1,2\n{not json"
    assert validate_content(odd, "text/csv") is None
    assert validate_content(odd, "application/x-unknown-thing") is None
    with pytest.raises(CorruptFileError, match="invalid JSON"):  # the same bytes under a checked type
        validate_content(odd, "application/json")

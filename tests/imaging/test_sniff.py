from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamint.imaging import (
    HEAD_SIZE,
    CorruptFileError,
    ImagingError,
    MimetypeMismatchError,
    guess_mimetype,
    normalize_mimetype,
    resolve_mimetype,
    sniff_mimetype,
)
from fixtures.files import image_bytes, nibabel_file, pydicom_file


def head_of(path: Path) -> bytes:
    return path.read_bytes()[:HEAD_SIZE]


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "test-SR.dcm", "rtdose.dcm", "ExplVR_BigEnd.dcm"],
)
def test_part10_dicom_is_detected(name: str) -> None:
    assert sniff_mimetype(head_of(pydicom_file(name))) == "application/dicom"


@pytest.mark.parametrize("name", ["rtstruct.dcm", "ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_preamble_less_dicom_is_detected(name: str) -> None:
    head = head_of(pydicom_file(name))
    assert head[128:132] != b"DICM"
    assert sniff_mimetype(head) == "application/dicom"


def test_broken_preamble_less_file_is_not_dicom() -> None:
    # pydicom's no_meta.dcm is shifted by one byte: it is not a valid data set.
    assert sniff_mimetype(head_of(pydicom_file("no_meta.dcm"))) is None


@pytest.mark.parametrize(
    "head",
    [
        b"\x08\x00\x05\x00hello world, this is text" * 4,  # plausible tag, then garbage
        b"\x08\x00\x05\x00\x0b\x00\x00\x00odd-length!",  # implicit VR with an odd length
        b"\x08\x00\x99\x99CS\x02\x00AB",  # tag not in the dictionary
        b"\x08\x00\x20\x00DA\x08\x0020240101\x08\x00\x05\x00CS\x02\x00AB",  # tags not ascending
        b"\x10\x00\x10\x00PN\x04\x00Doe^",  # does not start in group 0002/0008
    ],
)
def test_near_dicom_bytes_are_not_misdetected(head: bytes) -> None:
    assert sniff_mimetype(head) != "application/dicom"


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "nifti1.hdr"])
def test_nifti_is_detected_plain_and_gzipped(name: str) -> None:
    assert sniff_mimetype(head_of(nibabel_file(name))) == "application/nifti"


def test_analyze_header_without_nifti_magic_is_not_nifti() -> None:
    assert sniff_mimetype(head_of(nibabel_file("analyze.hdr"))) is None


def test_gzip_of_something_else_is_gzip() -> None:
    assert sniff_mimetype(gzip.compress(b"just some text\n" * 100)) == "application/gzip"
    assert sniff_mimetype(head_of(pydicom_file("zipMR.gz"))) == "application/gzip"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("TIFF", "image/tiff"), ("BMP", "image/bmp"),
     ("GIF", "image/gif"), ("WEBP", "image/webp")],
)  # fmt: skip
def test_images_are_detected(fmt: str, expected: str) -> None:
    assert sniff_mimetype(image_bytes(fmt)) == expected


def test_videos_are_detected(videos: dict[str, Path]) -> None:
    assert sniff_mimetype(head_of(videos["avi"])) == "video/x-msvideo"
    assert sniff_mimetype(head_of(videos["mp4"])) == "video/mp4"
    assert sniff_mimetype(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == "video/quicktime"
    ebml = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    assert sniff_mimetype(ebml) == "video/webm"
    assert sniff_mimetype(ebml.replace(b"webm", b"matroska")) == "video/x-matroska"


@pytest.mark.parametrize("text", [b'{"a": 1}', b"  \n[1, 2]", b"\xef\xbb\xbf{}", b"[]", b'[{"k": true}]'])
def test_json_is_detected(text: bytes) -> None:
    assert sniff_mimetype(text) == "application/json"


@pytest.mark.parametrize("text", [b"{not json", b"[link](http://x)", b"hello", b""])
def test_non_json_text_is_unknown(text: bytes) -> None:
    assert sniff_mimetype(text) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("scan.dcm", "application/dicom"), ("SCAN.DICOM", "application/dicom"),
     ("a/b/brain.nii.gz", "application/nifti"), ("brain.nii", "application/nifti"), ("x.png", "image/png"),
     ("x.JPG", "image/jpeg"), ("clip.avi", "video/x-msvideo"), ("clip.mp4", "video/mp4"),
     ("notes.json", "application/json"), ("archive.gz", "application/gzip"),
     ("IM0001", None), (None, None)],
)  # fmt: skip
def test_guess_mimetype_from_name(name: str | None, expected: str | None) -> None:
    assert guess_mimetype(name) == expected


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("image/dicom", "application/dicom"), ("application/x-dicom", "application/dicom"),
     ("application/x-nifti", "application/nifti"), ("image/x.nifti", "application/nifti"),
     ("Image/JPG; q=0.9", "image/jpeg"), ("", None), (None, None)],
)  # fmt: skip
def test_normalize_mimetype_aliases(alias: str | None, canonical: str | None) -> None:
    assert normalize_mimetype(alias) == canonical


def test_resolve_corrects_a_wrong_declared_type() -> None:
    png = image_bytes("PNG")
    assert resolve_mimetype(png, "photo.jpg", "image/jpeg") == "image/png"
    assert resolve_mimetype(png, "blob", "application/octet-stream") == "image/png"
    dicom = head_of(pydicom_file("CT_small.dcm"))
    assert resolve_mimetype(dicom, "IM0001", None) == "application/dicom"
    assert resolve_mimetype(dicom, "scan.dcm", "image/dicom") == "application/dicom"


def test_resolve_rejects_text_named_dcm() -> None:
    with pytest.raises(MimetypeMismatchError) as info:
        resolve_mimetype(b"patient notes: nothing to see\n", "scan.dcm", None)
    err = info.value
    assert err.declared == "application/dicom" and err.detected is None
    assert "scan.dcm" in str(err) and "DICM" in str(err)
    assert isinstance(err, ImagingError) and isinstance(err, ValueError)


def test_resolve_rejects_declared_nifti_holding_other_gzip() -> None:
    with pytest.raises(MimetypeMismatchError, match="NIfTI"):
        resolve_mimetype(gzip.compress(b"x" * 2000), "brain.nii.gz", "application/nifti")


def test_resolve_rejects_json_declared_as_png() -> None:
    with pytest.raises(MimetypeMismatchError, match="JSON"):
        resolve_mimetype(b'{"a": 1}', "x.png", "image/png")


def test_resolve_rejects_empty_file() -> None:
    with pytest.raises(CorruptFileError, match="empty"):
        resolve_mimetype(b"", "scan.dcm", "application/dicom")


def test_resolve_falls_back_to_declared_then_name_then_octet_stream() -> None:
    assert resolve_mimetype(b"a,b\n1,2\n", "table.csv", "text/csv") == "text/csv"
    assert resolve_mimetype(b"a,b\n1,2\n", "table.csv", None) == "text/csv"
    assert resolve_mimetype(b"\x00\x01\x02", "blob", None) == "application/octet-stream"
    assert resolve_mimetype(json.dumps({"k": 1}).encode(), "meta", None) == "application/json"
    assert resolve_mimetype(b'{"k": 1}', "notes.txt", "text/plain") == "text/plain"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_sniff_never_raises_on_random_bytes(data: bytes) -> None:
    result = sniff_mimetype(data)
    assert result is None or "/" in result


def test_random_bytes_after_a_group_8_tag_are_rarely_dicom() -> None:
    # A plausible first tag is not enough: lengths, VRs and the following elements must fit too.
    rng = np.random.default_rng(1)
    hits = sum(
        sniff_mimetype(b"\x08\x00\x05\x00" + rng.bytes(int(rng.integers(8, 300)))) == "application/dicom"
        for _ in range(3000)
    )
    assert hits < 15

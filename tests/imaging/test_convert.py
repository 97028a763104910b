from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import nibabel as nib
import pytest
from PIL import Image
from pydicom.dataset import Dataset

import datamint.imaging as imaging
from datamint.imaging import convert_bytes, extension_for_mimetype
from fixtures.files import image_bytes, nibabel_file, pydicom_file


def test_dicom_bytes_become_a_dataset() -> None:
    ds = convert_bytes(pydicom_file("CT_small.dcm").read_bytes(), "application/dicom")
    assert isinstance(ds, Dataset) and ds.Modality == "CT" and ds.pixel_array.shape == (128, 128)
    raw = convert_bytes(pydicom_file("rtstruct.dcm").read_bytes(), None)  # sniffed, no preamble
    assert isinstance(raw, Dataset) and raw.Modality == "RTSTRUCT"


@pytest.mark.parametrize("name", ["example4d.nii.gz", "anatomical.nii", "example_nifti2.nii.gz"])
def test_nifti_bytes_become_a_nibabel_image(name: str) -> None:
    img = convert_bytes(nibabel_file(name).read_bytes(), None)
    expected = nib.load(nibabel_file(name))
    assert type(img) is type(expected) and img.shape == expected.shape
    assert (img.get_fdata() == expected.get_fdata()).all()


def test_image_bytes_become_a_pil_image() -> None:
    img = convert_bytes(image_bytes("JPEG", size=(40, 30)), "image/jpeg")
    assert isinstance(img, Image.Image) and img.size == (40, 30)


def test_video_bytes_become_an_open_capture(videos: dict[str, Path]) -> None:
    capture = convert_bytes(videos["mp4"].read_bytes(), None)
    try:
        assert isinstance(capture, cv2.VideoCapture) and capture.isOpened()
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
        assert capture.read()[0]
    finally:
        capture.release()


def test_other_content_is_returned_unchanged() -> None:
    assert convert_bytes(b"a,b\n1,2\n", "text/csv") == b"a,b\n1,2\n"
    assert convert_bytes(b'{"a": 1}', None) == b'{"a": 1}'


@pytest.mark.parametrize(
    ("mime", "head", "ext"),
    [("application/dicom", None, ".dcm"), ("image/dicom", None, ".dcm"),
     ("application/nifti", b"\x1f\x8b\x08", ".nii.gz"), ("application/x-nifti", b"\x5c\x01\x00\x00", ".nii"),
     ("image/png", None, ".png"), ("image/jpeg", None, ".jpg"),
     ("video/mp4", None, ".mp4"), ("video/x-msvideo", None, ".avi"), ("application/json", None, ".json"),
     ("text/csv", None, ".csv"), ("application/x-unknown-thing", None, ""), (None, None, "")],
)  # fmt: skip
def test_extension_for_mimetype(mime: str | None, head: bytes | None, ext: str) -> None:
    assert extension_for_mimetype(mime, head) == ext


def test_public_names_exist_and_are_documented() -> None:
    for name in imaging.__all__:
        obj = getattr(imaging, name)
        if callable(obj):
            doc = obj.__doc__ or ""
            assert doc.strip(), f"{name} has no docstring"
            if not isinstance(obj, type) and obj.__code__.co_argcount:
                assert "Args:" in doc and ("Returns:" in doc or "Raises:" in doc), f"{name} docstring incomplete"


def test_imaging_stays_pure() -> None:
    # Only what importing datamint.imaging itself adds (the rest of the SDK is checked elsewhere).
    code = (
        "import sys, datamint; before = set(sys.modules); import datamint.imaging; "
        "added = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(','.join(sorted(added & {'sqlalchemy', 'fastapi', 'httpx', 'cv2', 'nibabel'})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""  # no HTTP/DB stack; heavy readers are imported lazily

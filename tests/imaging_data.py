"""Test data helpers for datamint.imaging: bundled pydicom/nibabel files and small synthesized files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_file(name: str) -> Path:
    """Path of a test file bundled in the pydicom wheel (never downloaded)."""
    path = PYDICOM_FILES / name
    if not path.exists():
        pytest.fail(f"pydicom test file {name} is not bundled with this pydicom; pick another file")
    return path


def nibabel_file(name: str) -> Path:
    """Path of a test file bundled with nibabel."""
    from nibabel.testing import data_path

    path = Path(data_path) / name
    if not path.exists():
        pytest.fail(f"nibabel test file {name} is not bundled with this nibabel; pick another file")
    return path


def make_ct_slice(
    index: int,
    *,
    study: str,
    series: str,
    frame_of_reference: str,
    size: int = 32,
    z: float | None = None,
    pixels: np.ndarray | None = None,
    patient: str = "Doe^Jane",
) -> Dataset:
    """One synthetic CT slice whose pixel values encode its index (value = 100 * index + pixel)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient
    ds.PatientID = "MRN-0042"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_of_reference
    ds.StudyDate = "20240101"
    ds.StudyTime = "101010"
    ds.StudyDescription = "Chest CT"
    ds.SeriesDescription = "Axial 1.25mm"
    ds.SeriesNumber = 3
    ds.Modality = "CT"
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [-16.0, -16.0, float(index) * 1.25 if z is None else z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.75]
    ds.SliceThickness = 1.25
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    if pixels is None:
        pixels = (np.arange(size * size, dtype=np.int16).reshape(size, size) % 97) + 100 * index
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """Serialise a data set as a Part-10 file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    """A small gradient image encoded with Pillow (``fmt`` such as "PNG", "JPEG", "TIFF")."""
    width, height = size
    gradient = np.add.outer(np.arange(height), np.arange(width)).astype(np.uint8)
    arr = np.stack([gradient, 255 - gradient, np.full_like(gradient, 128)], axis=-1)
    img = Image.fromarray(arr if mode == "RGB" else gradient)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_video(path: Path, fourcc: str, frames: int = 6, size: tuple[int, int] = (48, 32)) -> Path:
    """A tiny video whose frame k is a flat gray of value 30 * k."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} videos here"
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), 30 * k, dtype=np.uint8))
    writer.release()
    return path

"""Files for the resources tests: paths of the files pydicom and nibabel ship, a CT series full of
personal data (for the anonymization proof), small PNG/JPEG images and an MP4 video.

Everything is written into a folder the test owns; nothing large is committed. The generic
helpers come from :mod:`imaging_data`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

import imaging_data

#: Personal data written into synthesized series (the anonymization tests look for it).
PHI = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "MRN-0042-XYZ",
    "PatientBirthDate": "19610203",
    "InstitutionName": "Saint Example Hospital",
    "ReferringPhysicianName": "House^Gregory",
    "AccessionNumber": "ACC998877",
    "StudyDescription": "CT ABDOMEN Jane Doe follow-up",
    "ImageComments": "patient Jane Doe, bed 12",
    "OperatorsName": "Tech^Tom",
    "InstitutionAddress": "1 Example Road, Springfield",
}


def pydicom_file(name: str) -> str:
    """Path (as a string) of a file from pydicom's bundled test data."""
    return str(imaging_data.pydicom_file(name))


def nibabel_file(name: str) -> str:
    """Path (as a string) of a file from nibabel's test data (e.g. ``example4d.nii.gz``, a 4-D NIfTI)."""
    return str(imaging_data.nibabel_file(name))


def write_ct_series(folder: Path, slices: int = 4, size: int = 16, *, shuffle: bool = True, prefix: str = "ct",
              series_uid: str | None = None, private: bool = True) -> list[Path]:
    """Write a synthetic single-frame CT series full of personal data; returns the file paths.

    Slices are written in a shuffled order (InstanceNumber deliberately disagrees with the position
    for one slice) so that assembly has to sort along the slice normal.
    """
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), series_uid or generate_uid(), generate_uid()
    rng = np.random.default_rng(7)
    order = list(range(slices))
    if shuffle:
        order = order[::-1]
    paths = []
    for position in order:
        pixels = rng.integers(900, 1200, size=(size, size), dtype=np.int16)
        pixels[0, 0] = 1024 + position * 10  # identifies the slice after assembly
        ds = imaging_data.make_ct_slice(position, study=study, series=series, frame_of_reference=frame, size=size,
                                        z=2.5 * position, pixels=pixels)
        for keyword, value in PHI.items():
            setattr(ds, keyword, value)
        ds.StudyDate, ds.SeriesDate, ds.StudyID = "20240105", "20240105", "S-77"
        ds.SeriesDescription = "AX abdomen"
        ds.InstanceNumber = position + 1 if position != 1 else 99
        ds.ImagePositionPatient = [-100.0, -100.0, 2.5 * position]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.8], 2.5
        other = Dataset()
        other.PatientID = PHI["PatientID"] + "-OLD"
        ds.OtherPatientIDsSequence = Sequence([other])
        request = Dataset()
        request.AccessionNumber = PHI["AccessionNumber"]
        request.RequestedProcedureDescription = "Jane Doe abdomen"
        ds.RequestAttributesSequence = Sequence([request])
        if private:
            ds.private_block(0x0011, "EXAMPLE PRIVATE", create=True).add_new(0x01, "LO", "secret Jane Doe")
        path = folder / f"{prefix}_{position:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def png_file(path: Path, width: int = 24, height: int = 16) -> Path:
    """A small RGB PNG."""
    from PIL import Image

    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (200, 30, 30)
    Image.fromarray(array).save(path, format="PNG")
    return path


def jpeg_file(path: Path, width: int = 20, height: int = 12) -> Path:
    """A small grayscale JPEG."""
    from PIL import Image

    Image.fromarray(np.full((height, width), 128, np.uint8)).save(path, format="JPEG")
    return path


def video_file(path: Path) -> Path:
    """An MP4 (``mp4v``) of 6 frames of 48×32 where frame k is a flat gray of value 30 * k."""
    return imaging_data.write_video(path, "mp4v")

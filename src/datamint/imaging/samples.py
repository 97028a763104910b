"""A small synthetic study to try Datamint with (``datamint sample-data DIR``): no real patient.

:func:`write_sample_study` writes, into one folder:

* ``ct/slice001.dcm`` … ``ct/slice016.dcm`` — one abdominal CT series of 16 single-frame slices,
  64 rows × 80 columns, 5 mm pixels and slices, stored values = Hounsfield units + 1024
  (``RescaleIntercept`` -1024). A body, a liver, a tumour inside the liver and a spine. The
  patient data (``Sample^Patient``, birth date, IDs) is made up, so anonymization has something
  to remove.
* ``liver_mask.nii.gz`` — its segmentation: 1 = liver, 2 = tumour, shape 80 × 64 × 16 (columns ×
  rows × slices, the NIfTI layout ``upload_volume_segmentation`` expects for the assembled series).
* ``mr.nii.gz`` — a 48 × 40 × 12 MR-like NIfTI volume (a head-like ellipsoid).
* ``xray.png`` — a 128 × 96 grayscale chest-X-ray-like image.

The content is deterministic: the same files every time (UIDs derive from fixed strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROWS, COLS, SLICES = 64, 80, 16
SPACING_MM = 5.0
#: The tumour: centre (column, row, slice) and radius in voxels; its box on :data:`TUMOR_SLICE` is
#: :data:`TUMOR_BOX` ((x1, y1), (x2, y2) in pixels).
TUMOR_CENTER, TUMOR_RADIUS = (24, 28, 8), 4
TUMOR_SLICE = 8
TUMOR_BOX = ((20, 24), (28, 32))
MR_SHAPE = (48, 40, 12)
XRAY_SIZE = (128, 96)  # width, height


@dataclass
class SampleStudy:
    """The files :func:`write_sample_study` wrote."""

    ct_slices: list[Path]
    liver_mask: Path
    mr: Path
    xray: Path

    @property
    def all_files(self) -> list[Path]:
        """Every file to upload (the mask is not one: it is uploaded as a segmentation)."""
        return [*self.ct_slices, self.mr, self.xray]


def _uid(name: str) -> str:
    return str(generate_uid(entropy_srcs=["datamint sample study", name]))


def ct_phantom() -> tuple[np.ndarray, np.ndarray]:
    """The CT in Hounsfield units and its labels, both ``(slices, rows, columns)``."""
    z, y, x = np.mgrid[0:SLICES, 0:ROWS, 0:COLS].astype(np.float64)
    hu = np.full((SLICES, ROWS, COLS), -1000.0)
    body = ((x - 40) / 36) ** 2 + ((y - 32) / 27) ** 2 <= 1
    hu[body] = 40
    liver = (((x - 26) / 14) ** 2 + ((y - 28) / 11) ** 2 + ((z - 8) / 7) ** 2 <= 1) & body
    hu[liver] = 60
    cx, cy, cz = TUMOR_CENTER
    tumor = ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= TUMOR_RADIUS ** 2) & liver
    hu[tumor] = 110
    spine = ((x - 40) ** 2 + (y - 52) ** 2 <= 16) & body
    hu[spine] = 700
    labels = np.zeros(hu.shape, np.uint8)
    labels[liver] = 1
    labels[tumor] = 2
    return hu, labels


def _ct_slice(k: int, pixels: np.ndarray) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = _uid(f"ct slice {k}")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Sample^Patient", "SAMPLE-0001", "19700101", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid("study"), _uid("ct series")
    ds.FrameOfReferenceUID = _uid("frame of reference")
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20240101", "101010", "ACC0001", "1"
    ds.StudyDescription, ds.SeriesDescription = "Sample abdominal CT", "Axial 5 mm"
    ds.InstitutionName, ds.ReferringPhysicianName = "Sample Hospital", "Doctor^Sample"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 2, k + 1
    ds.ImagePositionPatient = [-COLS * SPACING_MM / 2, -ROWS * SPACING_MM / 2, k * SPACING_MM]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [SPACING_MM, SPACING_MM], SPACING_MM
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _mr_volume() -> np.ndarray:
    x, y, z = np.mgrid[0:MR_SHAPE[0], 0:MR_SHAPE[1], 0:MR_SHAPE[2]].astype(np.float64)
    inside = ((x - 24) / 20) ** 2 + ((y - 20) / 17) ** 2 + ((z - 6) / 6) ** 2
    return np.where(inside <= 1, 400 + 200 * np.cos(x / 4) * np.cos(y / 5), 0).astype(np.int16)


def _xray() -> np.ndarray:
    width, height = XRAY_SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.full((height, width), 200.0)
    for cx in (38, 90):  # two dark lungs
        image[((x - cx) / 24) ** 2 + ((y - 46) / 34) ** 2 <= 1] = 60
    image[np.abs(x - 64) < 5] = 230  # the spine
    return image.astype(np.uint8)


def write_sample_study(folder: str | Path) -> SampleStudy:
    """Write the sample study (see the module docstring) into ``folder``, creating it.

    Args:
        folder: Where to write; existing sample files are overwritten, nothing else is touched.

    Returns:
        The paths written.

    Example:
        >>> study = write_sample_study("study")
        >>> [p.name for p in study.ct_slices][:2]
        ['slice001.dcm', 'slice002.dcm']
    """
    import nibabel
    from PIL import Image

    root = Path(folder)
    (root / "ct").mkdir(parents=True, exist_ok=True)
    hu, labels = ct_phantom()
    slices = []
    for k in range(SLICES):
        path = root / "ct" / f"slice{k + 1:03d}.dcm"
        _ct_slice(k, hu[k] + 1024).save_as(path, enforce_file_format=True)
        slices.append(path)
    affine = np.diag([SPACING_MM, SPACING_MM, SPACING_MM, 1.0])
    mask = root / "liver_mask.nii.gz"
    nibabel.save(nibabel.Nifti1Image(labels.transpose(2, 1, 0), affine), str(mask))  # (columns, rows, slices)
    mr = root / "mr.nii.gz"
    nibabel.save(nibabel.Nifti1Image(_mr_volume(), np.diag([4.0, 4.0, 5.0, 1.0])), str(mr))
    xray = root / "xray.png"
    Image.fromarray(_xray()).save(xray)
    return SampleStudy(slices, mask, mr, xray)

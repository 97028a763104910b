"""Reading local files into arrays in one canonical layout: ``(frames, height, width, channels)``.

* DICOM (pydicom): frames in file order; with ``modality_lut`` (the per-kind datasets) the
  rescale slope/intercept or Modality LUT applied — Hounsfield units for CT, ``float32`` — as the
  official client does; without it the stored values (the legacy ``Dataset``).
* NIfTI (nibabel): voxel ``data[x, y, z]`` becomes ``array[z, y, x]``: frame = z, row = y,
  column = x — the orientation the server's masks, ``/frames`` and annotation pixels use.
* Images (Pillow): ``(1, height, width, channels)``.
* Videos (OpenCV): RGB frames.

Masks come back as boolean arrays in the same layout without channels: PNG frame masks
``(height, width)``, NIfTI volume masks ``(frames, height, width)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DICOM = ("application/dicom", "application/x-dicom")
NIFTI = ("application/nifti", "application/x-nifti", "image/x.nifti")


@dataclass
class Loaded:
    """A decoded resource.

    Attributes:
        array: ``(frames, height, width, channels)``.
        dicom: The pydicom data set (DICOM only; its header, for metadata and geometry).
        affine: The NIfTI affine (NIfTI only).
    """

    array: np.ndarray
    dicom: Any = None
    affine: np.ndarray | None = None


def _frames_last_channel(array: np.ndarray, frames: int) -> np.ndarray:
    if frames > 1:
        return array[..., np.newaxis] if array.ndim == 3 else array
    if array.ndim == 2:
        return array[np.newaxis, :, :, np.newaxis]
    return array[np.newaxis]


def read_dicom(path: Path, modality_lut: bool = False) -> Loaded:
    """A DICOM file's pixels (stored values, or with ``modality_lut`` in the modality's units) and header."""
    import pydicom

    from datamint.imaging.dicom_io import modality_values, number_of_frames

    ds = pydicom.dcmread(path)
    pixels = modality_values(ds, ds.pixel_array) if modality_lut else ds.pixel_array
    return Loaded(_frames_last_channel(pixels, number_of_frames(ds)), dicom=ds)


def read_nifti(path: Path) -> Loaded:
    """A NIfTI image as ``(z, y, x, t)`` (a 2-D image has one frame)."""
    import nibabel

    image = nibabel.load(path)
    data = np.asanyarray(image.dataobj)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim == 3:
        data = data[..., np.newaxis]
    data = data.reshape(data.shape[:3] + (-1,))
    return Loaded(data.transpose(2, 1, 0, 3), affine=np.asarray(image.affine))


def read_image(path: Path) -> Loaded:
    """A 2-D image (first page of multi-page files)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        array = np.asarray(image)
    return Loaded(_frames_last_channel(array, 1))


def read_video(path: Path) -> Loaded:
    """Every frame of a video, RGB."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"Cannot decode any frame of the video {path}")
    return Loaded(np.stack(frames))


def holds_image(mimetype: str) -> bool:
    """Whether :func:`read_resource` can decode resources of this type."""
    return mimetype in DICOM + NIFTI or mimetype.startswith(("image/", "video/"))


def read_resource(path: Path, mimetype: str, modality_lut: bool = False) -> Loaded:
    """Decode a resource file by its mimetype.

    Args:
        path: The local file.
        mimetype: Its mimetype.
        modality_lut: DICOM only: apply the rescale slope/intercept (Hounsfield units for CT).

    Raises:
        ValueError: A type that holds no image (e.g. a PDF).
    """
    if mimetype in DICOM:
        return read_dicom(path, modality_lut)
    if mimetype in NIFTI:
        return read_nifti(path)
    if mimetype.startswith("video/"):
        return read_video(path)
    if mimetype.startswith("image/"):
        return read_image(path)
    raise ValueError(f"Resources of type {mimetype or 'unknown'} hold no image; leave them out of the dataset")


def read_mask(path: Path) -> np.ndarray:
    """A mask file as booleans: PNG ``(height, width)`` or NIfTI ``(frames, height, width)``."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89PNG"):
        from PIL import Image

        with Image.open(path) as image:
            array = np.asarray(image)
        if array.ndim == 3:
            array = array[..., :3].max(axis=-1)
        return array != 0
    import nibabel

    data = np.asanyarray(nibabel.load(path).dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    return data.transpose(2, 1, 0) != 0

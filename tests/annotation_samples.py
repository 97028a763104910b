"""Synthetic resources for the annotation tests: a non-square CT series with known geometry, a
NIfTI volume with a non-trivial affine, and label arrays to annotate them with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from imaging_data import make_ct_slice

#: CT geometry: ``ROWS`` × ``COLS`` pixels, ``FRAMES`` slices 2.5 mm apart along +z.
ROWS, COLS, FRAMES = 12, 20, 5
PIXEL_SPACING = (0.5, 0.75)  # (row spacing, column spacing)
ORIGIN = (-16.0, -8.0)
SLICE_GAP = 2.5


def write_ct(folder: Path) -> list[Path]:
    """A CT series of ``FRAMES`` single-frame slices (``ROWS`` × ``COLS``), written as files."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(FRAMES):
        ds = make_ct_slice(k, study=study, series=series, frame_of_reference=frame, z=SLICE_GAP * k)
        ds.Rows, ds.Columns = ROWS, COLS
        ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], SLICE_GAP * k]
        ds.PixelSpacing = list(PIXEL_SPACING)
        ds.SliceThickness = SLICE_GAP
        ds.PixelData = stored_ct_frame(k).astype("<i2").tobytes()
        ds.WindowCenter, ds.WindowWidth = CT_WINDOW  # a window that spans the values: a gradient, not black
        path = folder / f"ct_{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


#: The VOI window (center, width) of the :func:`write_ct` slices; their rescale is ``HU = stored - 1024``.
CT_WINDOW = (-800.0, 600.0)


def stored_ct_frame(k: int) -> np.ndarray:
    """The stored pixel values of slice ``k`` of :func:`write_ct` (``ROWS`` × ``COLS``, int16)."""
    return np.arange(ROWS * COLS, dtype=np.int16).reshape(ROWS, COLS) + 100 * k


def expected_ct_png(k: int) -> np.ndarray:
    """Slice ``k`` of :func:`write_ct` as a viewer shows it, computed here from the DICOM standard's
    linear VOI window (PS3.3 C.11.2.1.2.1), independently of the server's renderer."""
    center, width = CT_WINDOW
    hu = stored_ct_frame(k).astype(np.float64) - 1024.0
    out = ((hu - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def ct_pixel_to_patient(x: float, y: float, k: float) -> tuple[float, float, float]:
    """Where pixel (column x, row y) of slice k of :func:`write_ct` is, in patient mm."""
    return ORIGIN[0] + x * PIXEL_SPACING[1], ORIGIN[1] + y * PIXEL_SPACING[0], SLICE_GAP * k


#: NIfTI geometry: (X, Y, Z) voxels and a rotated, scaled, translated affine.
NIFTI_SHAPE = (14, 10, 6)
NIFTI_AFFINE = np.array([[0.0, -1.5, 0.0, 30.0], [1.2, 0.0, 0.0, -20.0], [0.0, 0.0, 3.0, 5.0], [0, 0, 0, 1.0]])


def write_nifti(path: Path) -> Path:
    """A NIfTI volume of :data:`NIFTI_SHAPE` with :data:`NIFTI_AFFINE`."""
    import nibabel

    data = np.arange(np.prod(NIFTI_SHAPE), dtype=np.int16).reshape(NIFTI_SHAPE)
    nibabel.save(nibabel.Nifti1Image(data, NIFTI_AFFINE), str(path))
    return path


def labels(shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    """A label array with values 0, 1 and 2 in irregular blobs."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, dtype=np.uint8)
    out[rng.random(shape) > 0.7] = 1
    out[rng.random(shape) > 0.85] = 2
    return out


def png_path(folder: Path, width: int = 24, height: int = 16) -> Path:
    """A grayscale PNG image resource."""
    from PIL import Image

    path = folder / "image.png"
    Image.fromarray(np.full((height, width), 90, np.uint8)).save(path, format="PNG")
    return path

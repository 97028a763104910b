"""Pixel ↔ stored coordinates of one resource, on the server (the conventions of
:mod:`datamint.imaging.resource_geometry`, built on :mod:`datamint.imaging.geometry`).

Annotation points are stored in patient millimetres (LPS) on DICOM and NIfTI resources and in
pixels on images and videos. Formats such as COCO, YOLO and Pascal VOC speak pixels of a 2-D
slice: ``x`` the column, ``y`` the row, ``frame`` the slice (NIfTI: the first, second and third
voxel index). :meth:`ResourceGeometry.affine` is the NIfTI affine (RAS+) of a resource's
``(columns, rows, frames)`` voxel grid, the layout of Datamint's volume masks.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamint.imaging import geometry as geo
from datamint.server.storage.base import BlobStore

DICOM = "application/dicom"
NIFTI = "application/nifti"


@dataclass
class ResourceGeometry:
    """How one resource's stored points map to pixels (``kind``: dicom, nifti or pixels)."""

    kind: str
    volume: geo.VolumeGeometry | None = None
    nifti_affine: np.ndarray | None = None
    _inverse: np.ndarray | None = None

    def to_pixel(self, point: Sequence[float]) -> tuple[float, float, float]:
        """``(column, row, frame)`` of a stored point."""
        x, y = float(point[0]), float(point[1])
        z = float(point[2]) if len(point) > 2 else 0.0
        if self.kind == "dicom" and self.volume is not None:
            return geo.patient_to_pixel(self.volume, x, y, z)
        if self.kind == "nifti" and self.nifti_affine is not None:
            if self._inverse is None:
                self._inverse = np.linalg.inv(self.nifti_affine)
            i, j, k, _ = self._inverse @ np.array([-x, -y, z, 1.0])  # LPS → RAS, then voxels
            return float(i), float(j), float(k)
        return x, y, z

    def to_stored(self, x: float, y: float, frame: float) -> list[float]:
        """The stored point of pixel ``(x, y)`` on slice ``frame``."""
        if self.kind == "dicom" and self.volume is not None:
            return list(geo.pixel_to_patient(self.volume, x, y, frame))
        if self.kind == "nifti" and self.nifti_affine is not None:
            return list(geo.nifti_pixel_to_world(self.nifti_affine, x, y, frame, lps=True))
        return [x, y, frame]

    def affine(self) -> np.ndarray:
        """RAS+ affine of the ``(columns, rows, frames)`` voxel grid (identity for plain images)."""
        if self.kind == "nifti" and self.nifti_affine is not None:
            return np.asarray(self.nifti_affine, dtype=float)
        if self.kind == "dicom" and self.volume is not None:
            origin = np.asarray(geo.pixel_to_patient(self.volume, 0, 0, 0))
            axes = [np.asarray(geo.pixel_to_patient(self.volume, *step)) - origin
                    for step in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
            affine = np.eye(4)
            affine[:3, 0], affine[:3, 1], affine[:3, 2], affine[:3, 3] = (*axes, origin)
            affine[:2, :] *= -1  # LPS → RAS
            return affine
        return np.eye(4)


def read_dicom_header(store: BlobStore, location: str) -> Any:
    """The header of a stored DICOM file (pixel data not read when the stream can seek)."""
    from datamint.imaging.dicom_io import read_dicom

    with store.open(location) as fh:
        source = fh if getattr(fh, "seekable", lambda: False)() else io.BytesIO(fh.read())
        return read_dicom(source, stop_before_pixels=True, check=False)  # a deflated file: inflated within the limits


def load(store: BlobStore, mimetype: str, location: str, metadata: dict[str, Any] | None) -> ResourceGeometry:
    """The geometry of a resource (a DICOM header is read from the blob store, pixels skipped)."""
    if mimetype == NIFTI and isinstance((metadata or {}).get("affine"), list):
        return ResourceGeometry("nifti", nifti_affine=np.asarray(metadata["affine"], dtype=float).reshape(4, 4))
    if mimetype == DICOM:

        ds = read_dicom_header(store, location)
        try:
            return ResourceGeometry("dicom", volume=geo.VolumeGeometry.from_dataset(ds))
        except Exception:  # no patient geometry (e.g. a secondary capture): points are pixels
            return ResourceGeometry("pixels")
    return ResourceGeometry("pixels")

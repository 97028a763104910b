"""The per-kind datasets (wire §9) and :func:`build_dataset`, which picks one for a project.

=====================  ==========================================  ===================
class                  resources                                   ``image``
=====================  ==========================================  ===================
ImageDataset           2-D images, single-frame DICOM/NIfTI         ``(C, H, W)``
VolumeDataset          DICOM and NIfTI volumes                     ``(C, D, H, W)``
MultiFrameDataset      anything with frames (volumes and videos)   ``(C, D, H, W)``
VideoDataset           videos                                      ``(C, T, H, W)``
=====================  ==========================================  ===================

Masks follow the image: ``(n, H, W)`` / ``(H, W)`` for 2-D samples, ``(n, D, H, W)`` / ``(D, H, W)``
for the others (instance / semantic).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datamint.dataset.base import DatamintBaseDataset
from datamint.dataset.readers import DICOM, NIFTI
from datamint.dataset.sources import Record


def _frames(record: Record) -> int:
    try:
        return int((record.resource.get("metadata") or {}).get("frame_count") or 1)
    except (TypeError, ValueError):
        return 1


def is_volume(record: Record) -> bool:
    """A DICOM or NIfTI resource."""
    return record.mimetype in DICOM + NIFTI


def is_video(record: Record) -> bool:
    """A video resource."""
    return record.mimetype.startswith("video/")


class ImageDataset(DatamintBaseDataset):
    """2-D images (X-rays, photos, single-frame DICOM and NIfTI): ``image`` is ``(C, H, W)``.

    Example:
        >>> from datamint.dataset import ImageDataset, collate_fn
        >>> ds = ImageDataset(project='Chest X-rays', return_boxes=True)
        >>> loader = DataLoader(ds, batch_size=16, num_workers=4, collate_fn=collate_fn)
    """

    def _accepts(self, record: Record) -> bool:
        if is_video(record):
            return False
        return record.mimetype.startswith("image/") or (is_volume(record) and _frames(record) == 1)

    def _image_array(self, array: np.ndarray) -> np.ndarray:
        return array[0].transpose(2, 0, 1)

    def _grid_array(self, array: np.ndarray) -> np.ndarray:
        return array[..., 0, :, :]


class VolumeDataset(DatamintBaseDataset):
    """DICOM and NIfTI volumes: ``image`` is ``(C, D, H, W)`` with ``D`` the frames (slices).

    NIfTI voxels ``[x, y, z]`` appear at ``image[:, z, y, x]``, the orientation in which masks and
    annotation pixels are defined.
    """

    def _accepts(self, record: Record) -> bool:
        return is_volume(record)


class MultiFrameDataset(DatamintBaseDataset):
    """Every resource with frames (volumes, multi-frame DICOM, videos): ``(C, D, H, W)``."""

    def _accepts(self, record: Record) -> bool:
        return is_volume(record) or is_video(record)


class VideoDataset(DatamintBaseDataset):
    """Videos: ``image`` is ``(3, T, H, W)`` RGB."""

    def _accepts(self, record: Record) -> bool:
        return is_video(record)


def build_dataset(project: Any, **kwargs: Any) -> DatamintBaseDataset:
    """The dataset kind that fits a project: videos → VideoDataset, any multi-frame volume →
    VolumeDataset, otherwise ImageDataset.

    Args:
        project: The project (name, id or Project).
        **kwargs: Options of :class:`~datamint.dataset.base.DatamintBaseDataset`.

    Example:
        >>> ds = build_dataset('Liver CT', return_as_semantic_segmentation=True)
    """
    probe = DatamintBaseDataset(project, **kwargs)
    probe._prepare()
    records = probe.records
    if records and all(is_video(r) for r in records):
        kind: type[DatamintBaseDataset] = VideoDataset
    elif any(is_volume(r) and _frames(r) > 1 for r in records):
        kind = VolumeDataset
    else:
        kind = ImageDataset
    dataset = kind.__new__(kind)
    dataset.__dict__.update(probe.__dict__)
    dataset._records = [r for r in records if dataset._accepts(r)]
    return dataset

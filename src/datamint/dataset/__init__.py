"""PyTorch datasets of Datamint projects (torch is imported only when tensors are built).

* :class:`Dataset` — the legacy ``datamintapi`` dataset (seed 002): a dataset version downloaded
  into a local folder, items ``(image, dicom_metainfo, metainfo)``.
* :class:`ImageDataset`, :class:`VolumeDataset`, :class:`VideoDataset`, :class:`MultiFrameDataset`,
  :class:`SlicedVolumeDataset`, :class:`SlicedVideoDataset` and :func:`build_dataset` — dict
  samples (``image``, ``masks``, ``boxes``, labels, ``metainfo``) of a project as it is now or of
  one of its versions (wire §9).
* :func:`collate_fn` for DataLoaders, :class:`SplitResult` for train/val/test splits.

Example:
    >>> from datamint.dataset import VolumeDataset, collate_fn
    >>> ds = VolumeDataset(project='Liver CT', version='latest', return_as_semantic_segmentation=True)
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_fn)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DatamintBaseDataset": "datamint.dataset.base",
    "DatamintDatasetException": "datamint.dataset.sources",
    "Dataset": "datamint.dataset.legacy",
    "ImageDataset": "datamint.dataset.kinds",
    "MultiFrameDataset": "datamint.dataset.kinds",
    "SlicedVideoDataset": "datamint.dataset.sliced",
    "SlicedVolumeDataset": "datamint.dataset.sliced",
    "SplitResult": "datamint.dataset.splits",
    "VideoDataset": "datamint.dataset.kinds",
    "VolumeDataset": "datamint.dataset.kinds",
    "build_dataset": "datamint.dataset.kinds",
    "collate_fn": "datamint.dataset.transforms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'datamint.dataset' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))

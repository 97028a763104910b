"""The legacy module path of the ``datamintapi`` guide (seed 002): the guide's examples inherit
``datamintapi.dataset.DatamintDataset``, the PyTorch dataset also exported as
``datamintapi.Dataset`` (:class:`datamint.dataset.legacy.Dataset`)."""

from __future__ import annotations

from datamint.dataset.legacy import Dataset

DatamintDataset = Dataset

__all__ = ["DatamintDataset", "Dataset"]

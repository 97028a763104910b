"""``datamintapi.dataset.DatamintDataset``, the class path the legacy guide documents (seed 002):
the same class as ``datamintapi.Dataset``."""

from __future__ import annotations

from datamint.dataset.legacy import Dataset

DatamintDataset = Dataset

__all__ = ["DatamintDataset", "Dataset"]

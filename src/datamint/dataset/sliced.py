"""Datasets of 2-D slices of volumes and frames of videos: one sample per frame.

The last decoded resources are kept in memory (per process), so iterating the frames of a
resource in order decodes it once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from datamint.dataset.base import DatamintBaseDataset
from datamint.dataset.kinds import _frames, is_video, is_volume
from datamint.dataset.sources import Record


class _Sliced(DatamintBaseDataset):
    """One sample per frame: ``image`` ``(C, H, W)``, masks ``(n, H, W)`` / ``(H, W)``."""

    _keep = 2

    def _prepare(self) -> None:
        if self._prepared:
            return
        super()._prepare()
        self._reindex()

    def _reindex(self) -> None:
        self.index = [(i, k) for i, r in enumerate(self._records) for k in range(_frames(r))]
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        self._prepare()
        return len(self.index)

    def _whole(self, record: Record) -> dict[str, Any]:
        found = self._recent.get(record.id)
        if found is None:
            found = self._sample(record)
            self._recent[record.id] = found
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        return found

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Frame ``k`` of resource ``i`` (``index`` enumerates every frame of every resource)."""
        self._prepare()
        position, k = self.index[index]
        whole = self._whole(self._records[position])
        sample: dict[str, Any] = {"image": whole["image"][:, k]}
        masks = whole.get("masks")
        if isinstance(masks, dict):
            sample["masks"] = {a: m[:, k] for a, m in masks.items()}
        elif isinstance(masks, np.ndarray):
            sample["masks"] = masks[..., k, :, :]
        if "mask_labels" in whole:
            sample["mask_labels"] = whole["mask_labels"]
        if "boxes" in whole:
            on_frame = whole["box_frames"] == k
            sample["boxes"], sample["box_labels"] = whole["boxes"][on_frame], whole["box_labels"][on_frame]
        sample["image_labels"] = whole["image_labels"]
        sample["image_categories"] = whole["image_categories"]
        if "frame_labels" in whole:
            sample["frame_labels"] = whole["frame_labels"][k]
        if "metainfo" in whole:
            sample["metainfo"] = {**whole["metainfo"], "frame_index": k}
        return self._finish(sample)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_recent", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._recent = OrderedDict()


class SlicedVolumeDataset(_Sliced):
    """Every slice (frame) of DICOM and NIfTI volumes as a 2-D sample."""

    def _accepts(self, record: Record) -> bool:
        return is_volume(record)


class SlicedVideoDataset(_Sliced):
    """Every frame of videos as a 2-D sample."""

    def _accepts(self, record: Record) -> bool:
        return is_video(record)

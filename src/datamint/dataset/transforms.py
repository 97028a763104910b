"""Joint transforms of a sample (image and its masks/boxes together), tensor conversion and a
collate function for DataLoaders.

Two kinds of transform are accepted:

* ``transform``: any callable receiving the sample dict (NumPy arrays: ``image`` ``(C, H, W)`` or
  ``(C, D, H, W)``, ``masks``, ``boxes``...) and returning the (changed) dict — MONAI's dictionary
  transforms follow this convention;
* ``alb_transform``: an albumentations-style callable, called as
  ``alb_transform(image=HWC, masks=[HW...], bboxes=[[x1, y1, x2, y2]...], box_labels=[...])`` and
  returning a dict with the same keys (2-D samples only). albumentations is not a dependency: any
  callable with that convention works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from datamint.dataset._torch import as_tensor, torch


def apply_albumentations(transform: Callable[..., dict[str, Any]], sample: dict[str, Any]) -> dict[str, Any]:
    """Apply an albumentations-style transform to a 2-D sample's image, masks and boxes jointly."""
    image = sample["image"]
    if image.ndim != 3:
        raise ValueError("alb_transform works on 2-D samples (C, H, W); use transform= for volumes")
    masks = sample.get("masks")
    layout: Any = None
    flat: list[np.ndarray] = []
    if isinstance(masks, dict):
        layout = [(author, len(stack)) for author, stack in masks.items()]
        flat = [m for stack in masks.values() for m in stack]
    elif isinstance(masks, np.ndarray):
        layout = "semantic" if masks.ndim == 2 else "channels"
        flat = [masks] if masks.ndim == 2 else list(masks)
    kwargs: dict[str, Any] = {"image": np.ascontiguousarray(image.transpose(1, 2, 0))}
    if flat:
        kwargs["masks"] = flat
    if "boxes" in sample:
        kwargs["bboxes"] = [list(map(float, b)) for b in sample["boxes"]]
        kwargs["box_labels"] = list(map(int, sample["box_labels"]))
    out = transform(**kwargs)
    result = dict(sample)
    new_image = np.asarray(out["image"])
    result["image"] = new_image.transpose(2, 0, 1) if new_image.ndim == 3 else new_image[np.newaxis]
    new_masks = [np.asarray(m) for m in out.get("masks", flat)]
    if isinstance(layout, list):
        result["masks"], start = {}, 0
        for author, count in layout:
            result["masks"][author] = np.stack(new_masks[start:start + count])
            start += count
    elif layout == "semantic":
        result["masks"] = new_masks[0]
    elif layout == "channels":
        result["masks"] = np.stack(new_masks)
    if "boxes" in sample:
        result["boxes"] = np.asarray(out.get("bboxes", []), dtype=np.float32).reshape(-1, 4)
        result["box_labels"] = np.asarray(out.get("box_labels", []), dtype=np.int64)
    return result


def to_tensors(value: Any) -> Any:
    """NumPy arrays (also inside dicts and lists) as tensors; everything else unchanged."""
    if isinstance(value, np.ndarray):
        return as_tensor(value)
    if isinstance(value, dict):
        return {k: to_tensors(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return [as_tensor(v) for v in value]
    return value


def collate_fn(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples whose targets vary in size: ``image`` is stacked when every image has the same
    shape; every other key becomes a list with one entry per sample.

    Example:
        >>> loader = DataLoader(dataset, batch_size=8, collate_fn=collate_fn)
    """
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [sample.get(key) for sample in batch]
        if key == "image" and len({tuple(v.shape) for v in values}) == 1:
            out[key] = torch().stack(list(values))
        else:
            out[key] = values
    return out

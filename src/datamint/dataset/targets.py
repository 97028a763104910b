"""Training targets from a resource's annotations: masks, boxes, image/frame labels, categories.

Everything is expressed in the image's own grid ``(frames, height, width)`` (see
:mod:`.readers`): frame masks land on their frame, volume masks are already in that grid, and box
corners stored in patient millimetres (DICOM, NIfTI) are converted back to pixels with the file's
geometry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from datamint.dataset.labels import LabelSchema
from datamint.dataset.readers import Loaded
from datamint.dataset.sources import author_of, frames_of, kind_of, name_of

MergeStrategy = Literal["union", "intersection", "mode"]
Instance = tuple[str, str, np.ndarray]  # (author, class name, (frames, height, width) bool)


def _place(annotation: dict[str, Any], mask: np.ndarray, grid: tuple[int, int, int],
           into: np.ndarray | None = None) -> np.ndarray:
    """An annotation's mask in the image grid; with ``into``, OR-ed into that grid-sized array
    (only the annotation's frames are touched)."""
    frames, height, width = grid
    where = frames_of(annotation)
    if mask.ndim == 2 and where is None and frames == 1:
        where = [0]
    if where is None:
        if mask.shape != grid:
            raise ValueError(f"Mask of annotation {annotation.get('id')} has shape {mask.shape}, the image "
                             f"{grid} (frames, height, width)")
        if into is None:
            return mask
        into |= mask
        return into
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.shape != (height, width):
        raise ValueError(f"Frame mask of annotation {annotation.get('id')} is {mask.shape}, the frames are "
                         f"{(height, width)} (height, width)")
    out = np.zeros(grid, dtype=bool) if into is None else into
    for k in where:
        if 0 <= k < frames:
            out[k] |= mask
    return out


def segmentation_instances(annotations: Sequence[dict[str, Any]], grid: tuple[int, int, int],
                           load_mask: Callable[[dict[str, Any]], np.ndarray], group_frames: bool) -> list[Instance]:
    """One mask per segmentation annotation (``group_frames``: one per author and class, its frame
    masks combined — the natural instance of a volume)."""
    instances: list[Instance] = []
    grouped: dict[tuple[str, str], np.ndarray] = {}
    for annotation in annotations:
        if kind_of(annotation) != "segmentation" or not (annotation.get("file") or annotation.get("mask")):
            continue
        key = (author_of(annotation), name_of(annotation))
        if group_frames:  # each frame mask lands in its class's volume: no volume-sized temporary per frame
            if key not in grouped:
                grouped[key] = np.zeros(grid, dtype=bool)
            _place(annotation, load_mask(annotation), grid, into=grouped[key])
        else:
            instances.append((key[0], key[1], _place(annotation, load_mask(annotation), grid)))
    return instances + [(a, n, m) for (a, n), m in grouped.items()]


def semantic(instances: Sequence[Instance], schema: LabelSchema, grid: tuple[int, int, int]) -> np.ndarray:
    """One class map ``(frames, height, width)`` (int64, 0 = background; higher indices win where
    masks overlap) or, for ``multi_label`` schemas, one binary channel per class
    ``(classes, frames, height, width)``."""
    if schema.multi_label:
        out = np.zeros((len(schema.segmentation_names) - 1,) + grid, dtype=np.uint8)
        for _, name, mask in instances:
            if name in schema.segmentation:
                out[schema.segmentation[name] - 1] |= mask
        return out
    classes = np.zeros(grid, dtype=np.int64)
    for _, name, mask in sorted(instances, key=lambda i: schema.segmentation.get(i[1], 0)):
        if name in schema.segmentation:
            classes[mask] = schema.segmentation[name]
    return classes


def by_author(instances: Sequence[Instance]) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Instance masks stacked per author ``(n, frames, height, width)`` and their class names."""
    masks: dict[str, list[np.ndarray]] = {}
    names: dict[str, list[str]] = {}
    for author, name, mask in instances:
        masks.setdefault(author, []).append(mask)
        names.setdefault(author, []).append(name)
    return {a: np.stack(m).astype(np.uint8) for a, m in masks.items()}, names


def geometry_of(loaded: Loaded, resource: dict[str, Any]) -> Any:
    """How stored points convert to pixels for this resource."""
    from datamint.imaging.resource_geometry import ResourceGeometry

    if loaded.dicom is not None:
        return ResourceGeometry.from_dataset(loaded.dicom)
    affine = (resource.get("metadata") or {}).get("affine")
    if loaded.affine is not None or affine is not None:
        return ResourceGeometry.from_affine(affine if affine is not None else loaded.affine)
    return ResourceGeometry("pixels")


def boxes(annotations: Sequence[dict[str, Any]], geometry: Any, schema: LabelSchema
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes ``(n, 4)`` as ``x1, y1, x2, y2`` pixels, their class indices and their frames."""
    rows, classes, frames = [], [], []
    for annotation in annotations:
        points = (annotation.get("geometry") or {}).get("points") or []
        if kind_of(annotation) != "square" or len(points) < 2 or name_of(annotation) not in schema.box_labels:
            continue
        first = geometry.to_pixel(*(list(points[0]) + [0.0] * 3)[:3])
        last = geometry.to_pixel(*(list(points[-1]) + [0.0] * 3)[:3])
        x1, x2 = sorted((first[0], last[0]))
        y1, y2 = sorted((first[1], last[1]))
        rows.append((x1, y1, x2, y2))
        classes.append(schema.box_labels.index(name_of(annotation)))
        where = frames_of(annotation)
        frames.append(where[0] if where else int(round(first[2])))
    return (np.asarray(rows, dtype=np.float32).reshape(-1, 4), np.asarray(classes, dtype=np.int64),
            np.asarray(frames, dtype=np.int64))


def _merge_votes(votes: dict[str, np.ndarray], strategy: MergeStrategy | None) -> Any:
    if strategy is None:
        return votes
    if not votes:
        return None
    stacked = np.stack(list(votes.values()))
    if strategy == "union":
        return stacked.max(axis=0)
    if strategy == "intersection":
        return stacked.min(axis=0)
    return (stacked.sum(axis=0) * 2 > len(votes)).astype(stacked.dtype)


def image_labels(annotations: Sequence[dict[str, Any]], schema: LabelSchema, strategy: MergeStrategy | None) -> Any:
    """Multi-hot image labels over ``schema.image_labels``: merged, or per author (``strategy=None``)."""
    votes: dict[str, np.ndarray] = {}
    for annotation in annotations:
        if kind_of(annotation) == "label" and frames_of(annotation) is None and name_of(annotation) in \
                schema.image_labels:
            row = votes.setdefault(author_of(annotation), np.zeros(len(schema.image_labels), dtype=np.float32))
            row[schema.image_labels.index(name_of(annotation))] = 1.0
    merged = _merge_votes(votes, strategy)
    return np.zeros(len(schema.image_labels), dtype=np.float32) if merged is None else merged


def frame_labels(annotations: Sequence[dict[str, Any]], schema: LabelSchema, frames: int) -> np.ndarray:
    """Multi-hot labels of each frame ``(frames, labels)``, any annotator."""
    out = np.zeros((frames, len(schema.frame_labels)), dtype=np.float32)
    for annotation in annotations:
        where = frames_of(annotation)
        if kind_of(annotation) == "label" and where is not None and name_of(annotation) in schema.frame_labels:
            for k in where:
                if 0 <= k < frames:
                    out[k, schema.frame_labels.index(name_of(annotation))] = 1.0
    return out


def image_categories(annotations: Sequence[dict[str, Any]], schema: LabelSchema,
                     strategy: MergeStrategy | None) -> Any:
    """Index of each category's chosen value (``-1`` when unanswered), in ``schema.categories``
    order; the most frequent answer across annotators (``mode``), or per author (``None``)."""
    names = list(schema.categories)
    answers: dict[str, dict[str, str]] = {}
    for annotation in annotations:
        if kind_of(annotation) == "category" and frames_of(annotation) is None and name_of(annotation) in names:
            answers.setdefault(author_of(annotation), {})[name_of(annotation)] = str(annotation.get("value"))

    def encode(chosen: dict[str, str]) -> np.ndarray:
        values = [schema.categories[n].index(chosen[n]) if chosen.get(n) in schema.categories[n] else -1
                  for n in names]
        return np.asarray(values, dtype=np.int64)

    if strategy is None:
        return {author: encode(chosen) for author, chosen in answers.items()}
    merged: dict[str, str] = {}
    for name in names:
        picked = [c[name] for c in answers.values() if name in c]
        if picked and (strategy == "mode" or len(set(picked)) == 1 or strategy == "union"):
            merged[name] = sorted(Counter(picked).items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return encode(merged)

"""Agreement between readers: exact, documented definitions on plain numpy arrays.

Masks (2-D or 3-D boolean arrays of one shape, in voxel space; ``spacing`` gives the size of a
voxel along each axis in millimetres):

* ``dice(a, b) = 2|a ∩ b| / (|a| + |b|)`` and ``iou(a, b) = |a ∩ b| / |a ∪ b|``; both are 1.0
  when both masks are empty (two readers agreeing that there is nothing).
* Surfaces: the surface of a mask is its voxels that have at least one face-neighbour outside the
  mask (6-connectivity in 3-D, 4 in 2-D; outside the array counts as outside the mask).
  ``d(a → b)`` are the distances, in mm, from each surface voxel of ``a`` to the nearest surface
  voxel of ``b`` (exact Euclidean nearest neighbour, voxel centres scaled by the spacing).
* ``hd95(a, b) = max(P95(d(a → b)), P95(d(b → a)))`` (95th percentile with numpy's linear
  interpolation), as MedPy and MONAI define it; ``hausdorff`` is the same with the maximum.
* ``msd(a, b) = (mean(d(a → b)) + mean(d(b → a))) / 2`` — the average symmetric surface distance
  (MedPy's ``assd``).
* All three are 0.0 when both masks are empty and ``inf`` when only one is.

Boxes (``[x0, y0, x1, y1]``, continuous pixel coordinates, ``x0 < x1``): ``box_iou`` is the area
of the intersection over the area of the union. Two readers' boxes of one label on one frame are
paired by maximum total IoU (Hungarian assignment); ``matched_box_iou`` is the sum of the paired
IoUs divided by the larger number of boxes, so an unpaired box counts 0.

Classifications (one category per item and reader; items rated by every reader):

* Cohen's kappa of two readers: ``κ = (p_o − p_e) / (1 − p_e)`` with ``p_o`` the fraction of
  items where they agree and ``p_e = Σ_k p_a(k) p_b(k)``; 1.0 when ``p_e = 1`` (both always gave
  the same single category).
* Fleiss' kappa of ``n`` readers over ``N`` items: ``P_i = (Σ_j n_ij² − n) / (n (n − 1))``,
  ``P̄ = mean(P_i)``, ``p_j = Σ_i n_ij / (N n)``, ``P̄_e = Σ_j p_j²``, ``κ = (P̄ − P̄_e) / (1 − P̄_e)``;
  1.0 when ``P̄_e = 1``.

Consensus: ``majority_vote`` keeps a voxel (or category) chosen by more than half of the readers;
``staple`` is SimpleITK's STAPLE (Warfield et al. 2004) thresholded at probability 0.5.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def _bool(mask: Any) -> np.ndarray:
    return np.asarray(mask).astype(bool, copy=False)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"masks of different shapes: {a.shape} and {b.shape}")


def dice(a: Any, b: Any) -> float:
    """Dice coefficient of two masks (1.0 when both are empty)."""
    a, b = _bool(a), _bool(b)
    _check_pair(a, b)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def iou(a: Any, b: Any) -> float:
    """Intersection over union (Jaccard index) of two masks (1.0 when both are empty)."""
    a, b = _bool(a), _bool(b)
    _check_pair(a, b)
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else int(np.logical_and(a, b).sum()) / union


def surface(mask: Any) -> np.ndarray:
    """The surface voxels of a mask (face connectivity; outside the array is background)."""
    from scipy import ndimage

    m = _bool(mask)
    if not m.any():
        return np.zeros_like(m)
    structure = ndimage.generate_binary_structure(m.ndim, 1)
    eroded = ndimage.binary_erosion(np.pad(m, 1), structure=structure)[tuple(slice(1, -1) for _ in m.shape)]
    return m & ~eroded


def _spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be {ndim} positive numbers, got {spacing!r}")
    return values


def _crop(*masks: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of all masks, one voxel larger on each side (distances are unchanged)."""
    union = np.logical_or.reduce([m for m in masks])
    coords = np.nonzero(union)
    return tuple(slice(max(int(c.min()) - 1, 0), int(c.max()) + 2) for c in coords)


class SurfaceIndex:
    """The surface voxels of one mask in mm, with a k-d tree to find the nearest one to any point
    (an exact Euclidean nearest-neighbour search: the same distances as a distance transform,
    without computing one over the whole volume)."""

    def __init__(self, mask: np.ndarray, spacing: tuple[float, ...]) -> None:
        from scipy.spatial import cKDTree

        self.points = np.argwhere(surface(mask)).astype(float) * np.asarray(spacing)
        self.tree = cKDTree(self.points)

    def distances_from(self, other: SurfaceIndex) -> np.ndarray:
        """``d(other → self)``: for each surface point of ``other``, the distance to this surface."""
        return self.tree.query(other.points, k=1)[0]


def directed_distances(a: Any, b: Any, spacing: Sequence[float] | None = None) -> np.ndarray:
    """``d(a → b)``: distance in mm from each surface voxel of ``a`` to the surface of ``b``
    (both masks non-empty), in the order of ``np.argwhere``."""
    a, b = _bool(a), _bool(b)
    _check_pair(a, b)
    step = _spacing(spacing, a.ndim)
    return SurfaceIndex(b, step).distances_from(SurfaceIndex(a, step))


@dataclass(frozen=True)
class SurfaceDistances:
    """Surface distances of two masks, in mm (``inf`` when exactly one mask is empty)."""

    hd95: float
    hausdorff: float
    msd: float


def _from_directed(ab: np.ndarray, ba: np.ndarray) -> SurfaceDistances:
    return SurfaceDistances(
        hd95=float(max(np.percentile(ab, 95), np.percentile(ba, 95))),
        hausdorff=float(max(ab.max(), ba.max())),
        msd=float((ab.mean() + ba.mean()) / 2.0),
    )


def surface_distances(a: Any, b: Any, spacing: Sequence[float] | None = None) -> SurfaceDistances:
    """HD95, Hausdorff distance and mean (average symmetric) surface distance of two masks."""
    a, b = _bool(a), _bool(b)
    _check_pair(a, b)
    empty_a, empty_b = not a.any(), not b.any()
    if empty_a and empty_b:
        return SurfaceDistances(0.0, 0.0, 0.0)
    if empty_a or empty_b:
        return SurfaceDistances(math.inf, math.inf, math.inf)
    return _from_directed(directed_distances(a, b, spacing), directed_distances(b, a, spacing))


def hd95(a: Any, b: Any, spacing: Sequence[float] | None = None) -> float:
    """The 95th-percentile Hausdorff distance of two masks, in mm."""
    return surface_distances(a, b, spacing).hd95


def msd(a: Any, b: Any, spacing: Sequence[float] | None = None) -> float:
    """The average symmetric surface distance of two masks, in mm."""
    return surface_distances(a, b, spacing).msd


@dataclass(frozen=True)
class MaskPair:
    """Every mask metric of one pair of readers."""

    dice: float
    iou: float
    hd95: float
    hausdorff: float
    msd: float
    voxels_a: int
    voxels_b: int


def pairwise_masks(masks: Mapping[str, Any], spacing: Sequence[float] | None = None
                   ) -> dict[tuple[str, str], MaskPair]:
    """All metrics for every pair of readers' masks of one label on one resource.

    Each reader's surface (over the bounding box of all masks) and its k-d tree are built once
    and shared by the pairs that reader is part of.

    Args:
        masks: reader → mask (same shape; a missing label is an empty mask).
        spacing: Voxel size in mm along each axis.

    Returns:
        ``{(reader_a, reader_b): MaskPair}`` for ``reader_a < reader_b``.
    """
    names = sorted(masks)
    arrays = {n: _bool(masks[n]) for n in names}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1:
        raise ValueError(f"masks of different shapes: {sorted(shapes)}")
    present = [n for n in names if arrays[n].any()]
    index: dict[str, SurfaceIndex] = {}
    if present:
        box = _crop(*(arrays[n] for n in present))
        step = _spacing(spacing, arrays[present[0]].ndim)
        for n in present:
            index[n] = SurfaceIndex(arrays[n][box], step)
    out: dict[tuple[str, str], MaskPair] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ma, mb = arrays[a], arrays[b]
            inter = int(np.logical_and(ma, mb).sum())
            na, nb = int(ma.sum()), int(mb.sum())
            d = 1.0 if na + nb == 0 else 2.0 * inter / (na + nb)
            j = 1.0 if na + nb - inter == 0 else inter / (na + nb - inter)
            if na == 0 and nb == 0:
                dist = SurfaceDistances(0.0, 0.0, 0.0)
            elif na == 0 or nb == 0:
                dist = SurfaceDistances(math.inf, math.inf, math.inf)
            else:
                dist = _from_directed(index[b].distances_from(index[a]), index[a].distances_from(index[b]))
            out[(a, b)] = MaskPair(d, j, dist.hd95, dist.hausdorff, dist.msd, na, nb)
    return out


# -- boxes ------------------------------------------------------------------------------------------

def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes ``[x0, y0, x1, y1]`` (0.0 when they do not overlap)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    if ax1 <= ax0 or ay1 <= ay0 or bx1 <= bx0 or by1 <= by0:
        raise ValueError(f"boxes must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {a!r} and {b!r}")
    w = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    h = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = w * h
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union


def matched_box_iou(boxes_a: Sequence[Sequence[float]], boxes_b: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Agreement of two readers' boxes of one label on one frame.

    Returns:
        ``(sum of paired IoUs / max(len(a), len(b)), number of pairs with IoU > 0)``; ``(1.0, 0)``
        when neither reader drew a box.
    """
    if not boxes_a and not boxes_b:
        return 1.0, 0
    if not boxes_a or not boxes_b:
        return 0.0, 0
    from scipy.optimize import linear_sum_assignment

    matrix = np.array([[box_iou(a, b) for b in boxes_b] for a in boxes_a])
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    paired = matrix[rows, cols]
    return float(paired.sum()) / max(len(boxes_a), len(boxes_b)), int((paired > 0).sum())


def box_of(points: Sequence[Sequence[float]]) -> list[float]:
    """The axis-aligned box ``[x0, y0, x1, y1]`` around a shape's points (e.g. a square's four corners)."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return [min(xs), min(ys), max(xs), max(ys)]


# -- classifications --------------------------------------------------------------------------------

def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two readers' categories over the same items (in the same order)."""
    if len(a) != len(b):
        raise ValueError(f"the two readers rated {len(a)} and {len(b)} items; pass the same items")
    if not a:
        raise ValueError("no items to compare")
    n = len(a)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[k] * count_b[k] for k in set(count_a) | set(count_b)) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' kappa: ``ratings[i]`` holds the categories the ``n`` readers gave item ``i``."""
    if not ratings:
        raise ValueError("no items to compare")
    n = len(ratings[0])
    if n < 2 or any(len(r) != n for r in ratings):
        raise ValueError("every item needs the same number (at least 2) of ratings")
    categories = sorted({c for r in ratings for c in r}, key=repr)
    counts = np.array([[Counter(r)[c] for c in categories] for r in ratings], dtype=float)
    items = counts.shape[0]
    p_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / (items * n)
    p_e = float(np.square(p_j).sum())
    if p_e == 1.0:
        return 1.0
    return (p_bar - p_e) / (1.0 - p_e)


# -- consensus --------------------------------------------------------------------------------------

def majority_vote(masks: Sequence[Any]) -> np.ndarray:
    """Voxels marked by more than half of the masks."""
    if not masks:
        raise ValueError("no masks to vote")
    stack = np.stack([_bool(m) for m in masks])
    return stack.sum(axis=0) * 2 > len(masks)


def majority_category(values: Sequence[Hashable]) -> Hashable | None:
    """The category chosen by more than half of the readers (``None``: no majority)."""
    if not values:
        return None
    value, count = Counter(values).most_common(1)[0]
    return value if count * 2 > len(values) else None


def staple(masks: Sequence[Any], threshold: float = 0.5) -> np.ndarray:
    """SimpleITK's STAPLE estimate of the true mask: voxels with probability ≥ ``threshold``.

    Raises:
        ImportError: SimpleITK is not installed (``pip install simpleitk``).
    """
    try:
        import SimpleITK as sitk
    except ImportError as exc:  # pragma: no cover - the server extra installs it
        raise ImportError("STAPLE needs SimpleITK: pip install 'datamint[server]' (or simpleitk)") from exc
    if not masks:
        raise ValueError("no masks to combine")
    images = [sitk.GetImageFromArray(_bool(m).astype(np.uint8)) for m in masks]
    probability = sitk.GetArrayFromImage(sitk.STAPLE(images, 1.0))
    return probability >= threshold

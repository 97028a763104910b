"""Reference computations of surface distances for the agreement tests, written independently of
``datamint.imaging.agreement``: surface voxels found by looking at each voxel's face neighbours,
distances by comparing every pair of surface points (scipy's ``cdist``)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def surface_points(mask: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Coordinates in mm of the voxels of ``mask`` with a face neighbour outside it."""
    padded = np.pad(mask, 1)
    points = []
    for idx in zip(*np.nonzero(mask), strict=True):
        p = [i + 1 for i in idx]
        for axis in range(mask.ndim):
            if any(not padded[tuple(p[:axis] + [p[axis] + step] + p[axis + 1:])] for step in (-1, 1)):
                points.append(idx)
                break
    return np.array(points, float) * np.array(spacing)


def hd95_and_assd(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> tuple[float, float, float]:
    """(HD95, Hausdorff, average symmetric surface distance) of two non-empty masks."""
    dist = cdist(surface_points(a, spacing), surface_points(b, spacing))
    ab, ba = dist.min(axis=1), dist.min(axis=0)
    return (float(max(np.percentile(ab, 95), np.percentile(ba, 95))), float(max(ab.max(), ba.max())),
            float((ab.mean() + ba.mean()) / 2))

"""Agreement metrics on fixtures whose values are known exactly (worked by hand or published), and
against an independent brute-force computation (every pair of surface voxels)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agreement_reference import hd95_and_assd
from datamint.imaging import agreement as ag


def square(rows: slice, cols: slice, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[rows, cols] = True
    return m


A2 = square(slice(2, 6), slice(2, 6))  # 4 x 4
B2 = square(slice(3, 7), slice(2, 6))  # A shifted one row down


def test_dice_and_iou_of_a_shifted_square_by_hand():
    # |A| = |B| = 16, |A ∩ B| = 12, |A ∪ B| = 20
    assert ag.dice(A2, B2) == 24 / 32
    assert ag.iou(A2, B2) == 12 / 20
    empty = np.zeros_like(A2)
    assert (ag.dice(empty, empty), ag.iou(empty, empty)) == (1.0, 1.0)
    assert (ag.dice(A2, empty), ag.iou(A2, empty)) == (0.0, 0.0)


def test_surface_distances_of_a_shifted_square_by_hand():
    # Surface of A: its 12 border pixels. Six of them lie on B's surface (distance 0); the four of
    # the top row and the two inner pixels of the bottom row are 1 pixel from B's surface.
    d = ag.directed_distances(A2, B2)
    assert sorted(d.tolist()) == [0.0] * 6 + [1.0] * 6
    result = ag.surface_distances(A2, B2)
    assert (result.hd95, result.hausdorff, result.msd) == (1.0, 1.0, 0.5)
    # Rows 2 mm apart, columns 1 mm: the top row is now 2 mm away, the two bottom pixels 1 mm
    # (their left/right neighbour column is on B's surface).
    d = ag.directed_distances(A2, B2, spacing=(2.0, 1.0))
    assert sorted(d.tolist()) == [0.0] * 6 + [1.0] * 2 + [2.0] * 4
    assert ag.msd(A2, B2, spacing=(2.0, 1.0)) == pytest.approx(10 / 12)


def test_empty_masks_give_zero_or_infinite_distances():
    empty = np.zeros_like(A2)
    assert ag.surface_distances(empty, empty) == ag.SurfaceDistances(0.0, 0.0, 0.0)
    assert math.isinf(ag.hd95(A2, empty)) and math.isinf(ag.msd(empty, A2))


def test_3d_sphere_against_a_cube_matches_brute_force_with_anisotropic_spacing():
    z, y, x = np.mgrid[:16, :18, :20]
    sphere = (z - 8) ** 2 + (y - 9) ** 2 + (x - 10) ** 2 <= 25
    cube = np.zeros_like(sphere)
    cube[5:12, 6:13, 8:14] = True
    spacing = (2.5, 0.8, 0.6)
    expected_hd95, _, expected_msd = hd95_and_assd(sphere, cube, spacing)
    got = ag.surface_distances(sphere, cube, spacing)
    assert got.hd95 == pytest.approx(expected_hd95, rel=1e-12)
    assert got.msd == pytest.approx(expected_msd, rel=1e-12)
    pairs = ag.pairwise_masks({"r1": sphere, "r2": cube, "r3": sphere}, spacing)
    assert pairs[("r1", "r2")].hd95 == pytest.approx(expected_hd95, rel=1e-12)
    assert pairs[("r1", "r2")].msd == pytest.approx(expected_msd, rel=1e-12)
    assert pairs[("r1", "r3")] == ag.MaskPair(1.0, 1.0, 0.0, 0.0, 0.0, int(sphere.sum()), int(sphere.sum()))
    inter = int((sphere & cube).sum())
    assert pairs[("r2", "r3")].dice == 2 * inter / (int(sphere.sum()) + int(cube.sum()))


def test_a_volume_shifted_by_known_voxels():
    volume = np.zeros((20, 20, 20), bool)
    volume[5:15, 5:15, 5:15] = True
    shifted = np.roll(volume, 2, axis=2)  # two voxels along x
    # 10 x 10 x 10 cubes overlapping on 10 x 10 x 8
    assert ag.dice(volume, shifted) == 2 * 800 / 2000
    assert ag.iou(volume, shifted) == 800 / 1200
    # With 1.5 mm voxels along x the two faces perpendicular to x are 3 mm apart.
    assert ag.surface_distances(volume, shifted, (1.0, 1.0, 1.5)).hausdorff == 3.0


def test_box_iou_and_matching():
    assert ag.box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == 1 / 7
    assert ag.box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert ag.box_of([[1, 5], [4, 5], [4, 9], [1, 9]]) == [1.0, 5.0, 4.0, 9.0]
    # Pairing maximises the total IoU: (a0, b1) = 1 and (a1, b0) = 1/7; the third box is unpaired.
    a = [[0, 0, 2, 2], [10, 10, 12, 12]]
    b = [[11, 11, 13, 13], [0, 0, 2, 2], [50, 50, 51, 51]]
    assert ag.matched_box_iou(a, b) == ((1 + 1 / 7) / 3, 2)
    assert ag.matched_box_iou([], []) == (1.0, 0)
    assert ag.matched_box_iou(a, []) == (0.0, 0)
    with pytest.raises(ValueError, match="x0 < x1"):
        ag.box_iou([2, 0, 1, 1], [0, 0, 1, 1])


def test_cohen_kappa_of_the_textbook_table():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 → p_o = 0.7, p_e = 0.5, κ = 0.4
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-15)
    assert ag.cohen_kappa(["x", "x"], ["x", "x"]) == 1.0
    assert ag.cohen_kappa(["a", "b"], ["b", "a"]) == -1.0
    with pytest.raises(ValueError, match="same items"):
        ag.cohen_kappa(["a"], ["a", "b"])


def test_fleiss_kappa_by_hand_and_on_the_published_example():
    # 3 readers, 4 items: P_i = 1, 1/3, 1, 1/3 → P̄ = 2/3; p_a = p_b = 1/2 → P̄_e = 1/2; κ = 1/3
    assert ag.fleiss_kappa([["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"], ["a", "b", "b"]]) == \
        pytest.approx(1 / 3, abs=1e-15)
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories, κ = 0.210.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    ratings = [[c for c, n in enumerate(row) for _ in range(n)] for row in counts]
    assert round(ag.fleiss_kappa(ratings), 3) == 0.210
    # Two readers: Fleiss' kappa equals Scott's pi; on perfect agreement it is 1.
    assert ag.fleiss_kappa([["a", "a"], ["b", "b"]]) == 1.0


def test_majority_vote_and_staple():
    import SimpleITK as sitk

    third = np.roll(A2, 2, axis=1)
    vote = ag.majority_vote([A2, B2, third])
    expected = (A2.astype(int) + B2 + third) >= 2
    assert np.array_equal(vote, expected)
    assert ag.majority_category(["a", "b", "a"]) == "a" and ag.majority_category(["a", "b"]) is None
    masks = [A2, B2, third]
    reference = sitk.GetArrayFromImage(sitk.STAPLE([sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks],
                                                   1.0)) >= 0.5
    assert np.array_equal(ag.staple(masks), reference)
    assert ag.staple([A2, A2, A2]).sum() == A2.sum()

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamint.imaging import (
    FrameGeometry,
    VolumeGeometry,
    assemble_series,
    nifti_pixel_to_world,
    nifti_world_to_pixel,
    patient_to_pixel,
    pixel_to_patient,
    slice_normal,
)
from fixtures.files import pydicom_file

coordinate = st.floats(-500, 500, allow_nan=False)
pixel = st.floats(-50, 600, allow_nan=False)
spacing = st.floats(0.1, 5.0)


@st.composite
def orientations(draw: st.DrawFn) -> tuple[float, ...]:
    """A random orthonormal ImageOrientationPatient (rows of a random rotation)."""
    q = np.array(draw(st.lists(st.floats(-1, 1), min_size=4, max_size=4)))
    if np.linalg.norm(q) < 0.1:
        q = np.array([1.0, 0.0, 0.0, 0.0])
    w, x, y, z = q / np.linalg.norm(q)
    rotation = np.array(
        [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    )  # fmt: skip
    return tuple(float(v) for v in (*rotation[0], *rotation[1]))


@st.composite
def volumes(draw: st.DrawFn) -> VolumeGeometry:
    """A stack of 1-6 frames, optionally tilted (positions not parallel to the normal)."""
    iop = draw(orientations())
    normal = np.array(slice_normal(iop))
    in_plane = np.array(iop[:3])
    origin = np.array([draw(coordinate) for _ in range(3)])
    count = draw(st.integers(1, 6))
    gaps = [draw(st.floats(0.5, 5.0)) for _ in range(count)]
    tilt = draw(st.floats(-0.5, 0.5))
    positions = [origin + sum(gaps[:k]) * (normal + tilt * in_plane) for k in range(count)]
    return VolumeGeometry(np.array(positions), iop, (draw(spacing), draw(spacing)), slice_step=draw(spacing))


@settings(max_examples=300, deadline=None)
@given(volumes(), pixel, pixel, st.floats(-1.0, 6.0))
def test_pixel_patient_round_trip(volume: VolumeGeometry, x: float, y: float, k: float) -> None:
    k = min(k, len(volume.positions) - 1 + 1.0)
    point = pixel_to_patient(volume, x, y, k)
    back = patient_to_pixel(volume, *point)
    assert back == pytest.approx((x, y, k), rel=0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(volumes(), coordinate, coordinate, coordinate)
def test_patient_pixel_round_trip(volume: VolumeGeometry, X: float, Y: float, Z: float) -> None:
    x, y, k = patient_to_pixel(volume, X, Y, Z)
    assert pixel_to_patient(volume, x, y, k) == pytest.approx((X, Y, Z), rel=0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(orientations(), st.lists(coordinate, min_size=3, max_size=3), spacing, spacing, pixel, pixel)
def test_integer_frames_hit_their_own_plane(iop, ipp, row_spacing, col_spacing, x, y) -> None:  # type: ignore[no-untyped-def]
    frame = FrameGeometry(tuple(ipp), iop, (row_spacing, col_spacing))
    point = np.array(pixel_to_patient(frame, x, y, 0))
    # The point lies in the frame's plane, at the expected distances along rows and columns.
    assert float(np.dot(point - np.array(ipp), slice_normal(iop))) == pytest.approx(0.0, rel=0, abs=1e-6)
    assert float(np.dot(point - np.array(ipp), iop[:3])) == pytest.approx(x * col_spacing, rel=0, abs=1e-6)
    assert float(np.dot(point - np.array(ipp), iop[3:])) == pytest.approx(y * row_spacing, rel=0, abs=1e-6)


def test_known_values_on_a_real_ct() -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"), stop_before_pixels=True)
    ipp = tuple(float(v) for v in ds.ImagePositionPatient)
    assert pixel_to_patient(ds, 0, 0, 0) == pytest.approx(ipp)
    # x moves along the row direction (+X) by PixelSpacing[1], y along the columns (+Y).
    assert pixel_to_patient(ds, 10, 0, 0) == pytest.approx((ipp[0] + 6.61468, ipp[1], ipp[2]))
    assert pixel_to_patient(ds, 0, 2, 0) == pytest.approx((ipp[0], ipp[1] + 1.322936, ipp[2]))
    assert patient_to_pixel(ds, *pixel_to_patient(ds, 3.5, 7.25, 0)) == pytest.approx((3.5, 7.25, 0.0))


def test_assembled_series_geometry(ct_series) -> None:
    out = assemble_series(ct_series(5))
    assert pixel_to_patient(out, 2, 4, 3) == pytest.approx((-16 + 2 * 0.75, -16 + 4 * 0.5, 3 * 1.25))
    assert patient_to_pixel(out, -16.0, -16.0, 2.5) == pytest.approx((0.0, 0.0, 2.0))


def test_legacy_multiframe_geometry() -> None:
    ds = pydicom.dcmread(pydicom_file("rtdose.dcm"), stop_before_pixels=True)
    assert pixel_to_patient(ds, 0, 0, 14) == pytest.approx((189.43125, 199.43125, -761.87 + 70))
    assert patient_to_pixel(ds, 189.43125, 199.43125, -761.87 + 12.5)[2] == pytest.approx(2.5)


def test_non_monotonic_frames_snap_to_the_nearest_plane() -> None:
    positions = np.array([[0, 0, 0], [0, 0, 4], [0, 0, 2]], dtype=float)
    volume = VolumeGeometry(positions, (1, 0, 0, 0, 1, 0), (1.0, 1.0))
    assert patient_to_pixel(volume, 3, 5, 2.2) == pytest.approx((3.0, 5.0, 2.0))


def test_slice_normal() -> None:
    assert slice_normal([1, 0, 0, 0, 1, 0]) == (0.0, 0.0, 1.0)
    assert slice_normal([0, 1, 0, 0, 0, -1]) == (-1.0, 0.0, 0.0)
    assert slice_normal([2, 0, 0, 0, 0, 3]) == (0.0, -1.0, 0.0)
    with pytest.raises(ValueError, match="parallel"):
        slice_normal([1, 0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="6 values"):
        slice_normal([1, 0, 0])


affines = st.builds(
    lambda values, offset: np.vstack([np.column_stack([np.array(values).reshape(3, 3), offset]), [0, 0, 0, 1]]),
    st.lists(st.floats(-3, 3), min_size=9, max_size=9),
    st.lists(coordinate, min_size=3, max_size=3),
).filter(lambda a: abs(np.linalg.det(a[:3, :3])) > 0.05)


@settings(max_examples=300, deadline=None)
@given(affines, pixel, pixel, pixel, st.booleans())
def test_nifti_round_trip(affine: np.ndarray, i: float, j: float, k: float, lps: bool) -> None:
    world = nifti_pixel_to_world(affine, i, j, k, lps=lps)
    assert nifti_world_to_pixel(affine, *world, lps=lps) == pytest.approx((i, j, k), rel=0, abs=1e-6)


def test_nifti_known_values_and_lps_flip() -> None:
    affine = [[2, 0, 0, -10], [0, 3, 0, 20], [0, 0, 4, 30], [0, 0, 0, 1]]
    assert nifti_pixel_to_world(affine, 1, 2, 3) == (-8.0, 26.0, 42.0)
    assert nifti_pixel_to_world(affine, 1, 2, 3, lps=True) == (8.0, -26.0, 42.0)

"""Raw slice values and slice geometry for viewers: exact values, and the same patient space as
the SDK's pixel ↔ patient conversion (so what the web app draws is what the SDK reads back)."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from datamint.imaging import assemble_series, pixel_to_patient
from datamint.imaging.pixels import slice_geometry, slice_values
from datamint.imaging.resource_geometry import ResourceGeometry
from datamint.imaging.volume import volume_slice, write_dicom_volume

from imaging_data import make_ct_slice, to_bytes


def _world(plane, index: int, x: float, y: float) -> np.ndarray:
    """Where pixel (x, y) of a slice lies, from the plane geometry alone (what the viewer computes)."""
    row_spacing, col_spacing = plane.spacing
    return (np.asarray(plane.origins[index]) + x * col_spacing * np.asarray(plane.row_cosines)
            + y * row_spacing * np.asarray(plane.column_cosines))


@pytest.fixture
def ct(tmp_path):
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=12) for i in range(5)]
    assembled = assemble_series(slices)
    path = tmp_path / "ct.dcm"
    path.write_bytes(to_bytes(assembled))
    return path, assembled


def test_dicom_frames_are_hounsfield_units_in_int16(ct):
    path, ds = ct
    for k in (0, 3):
        values = slice_values(path, "application/dicom", k)
        expected = (np.arange(144).reshape(12, 12) % 97) + 100 * k - 1024
        assert values.dtype == np.int16 and values.shape == (12, 12)
        assert np.array_equal(values, expected)
    with pytest.raises(IndexError, match="valid indexes are 0..4"):
        slice_values(path, "application/dicom", 5)
    with pytest.raises(ValueError, match="datamint.imaging.volume"):
        slice_values(path, "application/dicom", 0, "sagittal")


def test_a_dicom_series_is_resliced_in_the_sdks_patient_space(ct, tmp_path):
    path, ds = ct
    info = slice_geometry(path, "application/dicom")
    sagittal, coronal = info.planes["sagittal"], info.planes["coronal"]
    assert (sagittal.count, sagittal.rows, sagittal.columns) == (12, 5, 12)
    assert (coronal.count, coronal.rows, coronal.columns) == (12, 5, 12)
    # sagittal slice i pixel (x=j, y=k) and coronal slice j pixel (x=i, y=k) are voxel (i, j, k)
    for i, j, k in [(0, 0, 0), (7, 3, 2), (11, 11, 4)]:
        assert np.allclose(_world(sagittal, i, j, k), pixel_to_patient(ds, i, j, k))
        assert np.allclose(_world(coronal, j, i, k), pixel_to_patient(ds, i, j, k))
    target = tmp_path / "ct.npy"
    assert write_dicom_volume(path, target) == (5, 12, 12)
    hu = np.stack([(np.arange(144).reshape(12, 12) % 97) + 100 * k - 1024 for k in range(5)])
    assert np.load(target).dtype == np.int16
    assert np.array_equal(volume_slice(target, "sagittal", 7), hu[:, :, 7])
    assert np.array_equal(volume_slice(target, "coronal", 3), hu[:, 3, :])
    assert np.array_equal(volume_slice(target, "axial", 4), hu[4])
    with pytest.raises(IndexError, match="valid indexes are 0..11"):
        volume_slice(target, "coronal", 12)


def test_a_fractional_rescale_makes_a_float_volume(tmp_path):
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=4) for i in range(3)]
    for s in slices:
        s.RescaleSlope, s.RescaleIntercept = 0.5, -10
    path = tmp_path / "ct.dcm"
    path.write_bytes(to_bytes(assemble_series(slices)))
    write_dicom_volume(path, tmp_path / "v.npy")
    volume = np.load(tmp_path / "v.npy")
    assert volume.dtype == np.float32
    assert np.array_equal(volume[:, 1, 2], [0.5 * (6 + 100 * k) - 10 for k in range(3)])


def test_dicom_geometry_is_the_sdks_patient_space(ct):
    path, ds = ct
    info = slice_geometry(path, "application/dicom")
    assert (info.kind, info.samples, info.modality, info.window) == ("dicom", 1, "CT", {"center": 40.0, "width": 400.0})
    axial = info.planes["axial"]
    assert (axial.count, axial.rows, axial.columns, axial.spacing) == (5, 12, 12, [0.5, 0.75])
    for k, x, y in [(0, 0, 0), (2, 7.5, 3.25), (4, 11, 11)]:
        assert np.allclose(_world(axial, k, x, y), pixel_to_patient(ds, x, y, k))


def test_nifti_planes_agree_with_the_sdk(tmp_path):
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    affine = np.array([[-0.8, 0, 0, 10], [0, 0.9, 0.1, -20], [0, 0, 2.5, 30], [0, 0, 0, 1]])
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(volume, affine), path)
    info = slice_geometry(path, "application/nifti")
    assert info.window == {"center": 59.5, "width": 119.0}, "one window for the whole volume"
    sdk = ResourceGeometry.from_affine(affine)
    expected_shapes = {"axial": (6, 5, 4), "sagittal": (4, 6, 5), "coronal": (5, 6, 4)}
    for name, plane in info.planes.items():
        assert (plane.count, plane.rows, plane.columns) == expected_shapes[name]
        for index, x, y in [(0, 0, 0), (1, 2, 3), (plane.count - 1, plane.columns - 1, plane.rows - 1)]:
            assert np.allclose(_world(plane, index, x, y), sdk.to_patient(x, y, index, name)), (name, index, x, y)
    assert np.array_equal(slice_values(path, "application/nifti", 2, "axial"), volume[:, :, 2].T)
    assert np.array_equal(slice_values(path, "application/nifti", 1, "sagittal"), volume[1, :, :].T)
    assert np.array_equal(slice_values(path, "application/nifti", 3, "coronal"), volume[:, 3, :].T)
    assert slice_values(path, "application/nifti", 0, "axial").dtype == np.int16
    with pytest.raises(IndexError, match="sagittal"):
        slice_values(path, "application/nifti", 4, "sagittal")


def test_scaled_nifti_values_are_float32(tmp_path):
    img = nib.Nifti1Image(np.ones((3, 3, 2), dtype=np.int16), np.eye(4))
    img.header.set_slope_inter(0.5, 0.25)
    path = tmp_path / "s.nii"
    nib.save(img, path)
    values = slice_values(path, None, 1, "axial")
    assert values.dtype == np.float32 and np.allclose(values, 0.75)


def test_images_are_pixels_with_z_as_frame(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (7, 9, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    path = tmp_path / "a.png"
    path.write_bytes(buffer.getvalue())
    assert np.array_equal(slice_values(path, "image/png", 0), rgb)
    info = slice_geometry(path, "image/png")
    assert (info.kind, info.samples, info.patient_space) == ("image", 3, False)
    plane = info.planes["axial"]
    assert (plane.rows, plane.columns) == (7, 9) and np.allclose(_world(plane, 0, 4, 5), [4, 5, 0])


def test_a_frame_reader_parses_the_header_once_and_agrees_with_slice_values(ct, tmp_path, monkeypatch):
    import pydicom
    from pydicom.uid import RLELossless

    from datamint.imaging.volume import DicomFrames, compact_values

    path, ds = ct
    compressed = tmp_path / "rle.dcm"
    copy = pydicom.dcmread(path)
    copy.compress(RLELossless)
    copy.save_as(compressed)
    readers = [DicomFrames(path), DicomFrames(compressed)]
    expected = [slice_values(path, "application/dicom", k) for k in range(5)]
    monkeypatch.setattr(pydicom, "dcmread", lambda *a, **k: pytest.fail("the header is read again"))
    native = readers[0]
    for k in range(5):
        assert np.array_equal(compact_values(native.values(k)), expected[k]) and expected[k].dtype == np.int16
    with pytest.raises(IndexError, match="valid indexes are 0..4"):
        native.values(5)
    monkeypatch.undo()
    for k in (0, 4):  # a compressed transfer syntax: decoded by pydicom, same values
        assert np.array_equal(compact_values(readers[1].values(k)), expected[k])

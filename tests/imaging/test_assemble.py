from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import RLELossless

from datamint.imaging import (
    UnsupportedFormatError,
    assemble_series,
    assembled_filename,
    frame_geometry,
    group_series,
    read_dicom,
    slice_order,
)
from fixtures.files import pydicom_file, to_bytes


def z_of(ds: Dataset) -> float:
    return float(ds.ImagePositionPatient[2])


def test_group_series_splits_series_and_keeps_singletons(ct_series) -> None:
    first, second = ct_series(4, seed=1), ct_series(3, seed=2)
    report = read_dicom(pydicom_file("test-SR.dcm"))
    multiframe = read_dicom(pydicom_file("rtdose.dcm"), stop_before_pixels=True)
    inputs = [first[0], second[0], report, *first[1:], multiframe, *second[1:]]
    groups = group_series(inputs)
    assert [len(g) for g in groups] == [4, 3, 1, 1]
    assert groups[0] == first and groups[1] == second  # same objects, input order
    assert groups[2][0] is report and groups[3][0] is multiframe
    assert sorted(id(ds) for g in groups for ds in g) == sorted(id(ds) for ds in inputs)


def test_group_series_separates_orientation_size_and_laterality(ct_series) -> None:
    slices = ct_series(6, shuffle=False)
    slices[1].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    slices[2].Rows = 16
    slices[3].ImageLaterality = "R"
    slices[4].ImageOrientationPatient = [1, 0.0000001, 0, 0, 1, 0]  # rounding noise: same group
    groups = group_series(slices)
    assert sorted(len(g) for g in groups) == [1, 1, 1, 3]


def test_assembled_frames_follow_slice_positions(ct_series) -> None:
    slices = ct_series(10)
    order: list[int] = []
    out = assemble_series(slices, order_out=order)
    assert [z_of(slices[i]) for i in order] == sorted(z_of(ds) for ds in slices)
    assert out.NumberOfFrames == 10 and (out.Rows, out.Columns) == (32, 32)
    frames = pixel_array(out)
    for k, i in enumerate(order):
        np.testing.assert_array_equal(frames[k], pixel_array(slices[i]))
        item = out.PerFrameFunctionalGroupsSequence[k]
        assert [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient] == [-16.0, -16.0, 1.25 * k]
        assert item.FrameContentSequence[0].InStackPositionNumber == k + 1
        assert item.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID == slices[i].SOPInstanceUID
    assert [float(v) for v in out.ImagePositionPatient] == [-16.0, -16.0, 0.0]
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.2"  # Legacy Converted Enhanced CT
    assert out.SOPInstanceUID not in {ds.SOPInstanceUID for ds in slices}
    shared = out.SharedFunctionalGroupsSequence[0]
    assert list(shared.PlaneOrientationSequence[0].ImageOrientationPatient) == [1, 0, 0, 0, 1, 0]
    measures = shared.PixelMeasuresSequence[0]
    assert list(measures.PixelSpacing) == [0.5, 0.75] and float(measures.SpacingBetweenSlices) == 1.25
    assert float(shared.PixelValueTransformationSequence[0].RescaleIntercept) == -1024
    assert shared.PixelValueTransformationSequence[0].RescaleType == "HU"
    assert float(shared.FrameVOILUTSequence[0].WindowWidth) == 400
    assert out.PatientName == "Doe^Jane" and out.StudyInstanceUID == slices[0].StudyInstanceUID
    assert "SliceLocation" not in out and out.InstanceNumber == 1


def test_assembled_file_round_trips_and_validates(ct_series) -> None:
    slices = ct_series(5)
    data = to_bytes(assemble_series(slices))
    again = read_dicom(data)  # complete-file checks pass
    assert again.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    stacked = pixel_array(again)
    assert stacked.shape == (5, 32, 32)
    by_z = sorted(slices, key=z_of)
    for k, ds in enumerate(by_z):
        np.testing.assert_array_equal(stacked[k], pixel_array(ds))
        assert frame_geometry(again, k).ipp == (-16.0, -16.0, 1.25 * k)


def test_order_follows_the_normal_not_raw_z(ct_series) -> None:
    slices = ct_series(5)
    for ds in slices:
        ds.ImageOrientationPatient = [1, 0, 0, 0, -1, 0]  # normal points to -z
    order = slice_order(slices)
    assert [z_of(slices[i]) for i in order] == sorted((z_of(ds) for ds in slices), reverse=True)


def test_missing_positions_fall_back_to_instance_number(ct_series) -> None:
    slices = ct_series(6)
    for ds in slices:
        del ds.ImagePositionPatient
    order: list[int] = []
    out = assemble_series(slices, order_out=order)
    assert [int(slices[i].InstanceNumber) for i in order] == [1, 2, 3, 4, 5, 6]
    assert "PlanePositionSequence" not in out.PerFrameFunctionalGroupsSequence[0]


def test_degenerate_positions_fall_back_to_instance_number(ct_series) -> None:
    slices = ct_series(6)
    for ds in slices:
        ds.ImagePositionPatient = [0, 0, 0]
    assert [int(slices[i].InstanceNumber) for i in slice_order(slices)] == [1, 2, 3, 4, 5, 6]


def test_varying_rescale_and_window_go_per_frame(ct_series) -> None:
    slices = ct_series(3, shuffle=False)
    for k, ds in enumerate(slices):
        ds.RescaleIntercept = -1000 - k
        ds.WindowCenter = 40 + k
    out = assemble_series(slices)
    shared = out.SharedFunctionalGroupsSequence[0]
    assert "PixelValueTransformationSequence" not in shared and "FrameVOILUTSequence" not in shared
    assert "RescaleIntercept" not in out and "WindowCenter" not in out
    intercepts = [
        float(g.PixelValueTransformationSequence[0].RescaleIntercept) for g in out.PerFrameFunctionalGroupsSequence
    ]
    centers = [float(g.FrameVOILUTSequence[0].WindowCenter) for g in out.PerFrameFunctionalGroupsSequence]
    assert intercepts == [-1000, -1001, -1002] and centers == [40, 41, 42]


def test_compressed_inputs_are_decompressed(ct_series) -> None:
    slices = ct_series(4)
    expected = {ds.SOPInstanceUID: pixel_array(ds).copy() for ds in slices}
    for ds in slices:
        ds.compress(RLELossless, generate_instance_uid=False)
    order: list[int] = []
    out = assemble_series(slices, order_out=order)
    assert not out.file_meta.TransferSyntaxUID.is_compressed
    frames = pixel_array(out)
    for k, i in enumerate(order):
        np.testing.assert_array_equal(frames[k], expected[slices[i].SOPInstanceUID])


def test_assembly_refuses_bad_groups(ct_series) -> None:
    with pytest.raises(UnsupportedFormatError):
        assemble_series([])
    slices = ct_series(2)
    slices[1].Rows = slices[1].Columns = 16
    slices[1].PixelData = bytes(16 * 16 * 2)
    with pytest.raises(UnsupportedFormatError, match="differ"):
        assemble_series(slices)
    with pytest.raises(UnsupportedFormatError, match="single-frame"):
        assemble_series([read_dicom(pydicom_file("rtdose.dcm"))])


def test_assembled_filename_is_readable_and_safe(ct_series) -> None:
    ds = ct_series(1)[0]
    assert assembled_filename(ds) == "Axial_1.25mm_Chest_CT.dcm"
    ds.ImageLaterality = "L"
    assert assembled_filename(ds) == "Axial_1.25mm_Chest_CT_L.dcm"
    ds.SeriesDescription = "../../etc/passwd"
    ds.StudyDescription = ""
    name = assembled_filename(ds)
    assert "/" not in name and not name.startswith(".") and name.endswith("_20240101_L.dcm")
    del ds.SeriesDescription
    assert assembled_filename(ds).startswith("series3_")
    assert assembled_filename(Dataset()) == "series.dcm"


def test_frame_geometry_of_single_frame() -> None:
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"), stop_before_pixels=True)
    geometry = frame_geometry(ds, 0)
    assert geometry.ipp == pytest.approx((-158.135803, -179.035797, -75.699997))
    assert geometry.iop == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert geometry.pixel_spacing == pytest.approx((0.661468, 0.661468))
    with pytest.raises(IndexError, match=r"valid frames are 0\.\.0"):
        frame_geometry(ds, 1)


def test_frame_geometry_of_legacy_multiframe_uses_grid_offsets() -> None:
    ds = pydicom.dcmread(pydicom_file("rtdose.dcm"), stop_before_pixels=True)
    for k in (0, 1, 14):
        assert frame_geometry(ds, k).ipp == pytest.approx((189.43125, 199.43125, -761.87 + 5.0 * k))


def test_frame_geometry_of_legacy_multiframe_uses_spacing(ct_series) -> None:
    ds = ct_series(1)[0]
    ds.NumberOfFrames = 3
    ds.SpacingBetweenSlices = 2.5
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # sagittal: normal along -x
    assert frame_geometry(ds, 2).ipp == pytest.approx((-16.0 - 5.0, -16.0, 0.0))


def test_frame_geometry_of_enhanced_object() -> None:
    ds = pydicom.dcmread(pydicom_file("liver_1frame.dcm"), stop_before_pixels=True)
    expected = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
    geometry = frame_geometry(ds, 0)
    assert geometry.ipp == pytest.approx(tuple(float(v) for v in expected))
    assert geometry.pixel_spacing == pytest.approx((0.810547, 0.810547))


def test_frame_geometry_requires_patient_geometry() -> None:
    with pytest.raises(UnsupportedFormatError, match="no patient geometry"):
        frame_geometry(pydicom.dcmread(pydicom_file("SC_rgb_small_odd.dcm")), 0)


def test_native_series_assemble_without_decoding_to_the_same_bytes(tmp_path):
    """The fast path (concatenating uncompressed frames) gives the bytes the decoding path gives."""
    import pydicom
    from pydicom.pixels import pixel_array
    from pydicom.uid import generate_uid

    from datamint.imaging import assemble_series
    from datamint.imaging.dicom_assemble import _native_pixel_bytes
    from fixtures.files import make_ct_slice

    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for bits_stored, signed in ((16, 1), (12, 0)):
        slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=8) for i in range(4)]
        for ds in slices:
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits_stored, bits_stored - 1, signed
        slices = [pydicom.dcmread(_roundtrip(ds, tmp_path)) for ds in slices[::-1]]
        assert _native_pixel_bytes(slices) is not None
        fast = assemble_series(slices)
        expected = b"".join(pixel_array(ds).astype(pixel_array(ds).dtype.newbyteorder("<")).tobytes()
                            for ds in slices[::-1])
        assert fast.PixelData == expected
        assert (fast.BitsStored, fast.PixelRepresentation, int(fast.NumberOfFrames)) == (bits_stored, signed, 4)
    signed12 = slices[0].copy()
    signed12.PixelRepresentation, signed12.BitsStored = 1, 12
    assert _native_pixel_bytes([signed12]) is None


def _roundtrip(ds, folder):
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path

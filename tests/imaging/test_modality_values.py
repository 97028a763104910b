"""``modality_values``: stored DICOM values → the modality's units (Hounsfield units for CT)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from datamint.imaging import assemble_series
from datamint.imaging.dicom_io import modality_values


def test_per_frame_rescale_of_an_assembled_series(ct_series) -> None:
    slices = ct_series(3, shuffle=False)
    for k, ds in enumerate(slices):
        ds.RescaleSlope, ds.RescaleIntercept = 1 + k, -1000 - k
    volume = assemble_series(slices)
    stored = volume.pixel_array
    hu = modality_values(volume, stored)
    assert hu.dtype == np.float32 and hu.shape == stored.shape
    for k in range(3):  # frames keep their own slope and intercept
        assert np.array_equal(hu[k], stored[k].astype(np.float64) * (1 + k) - 1000 - k)


def test_single_frame_top_level_rescale_and_no_rescale(ct_series) -> None:
    (ds,) = ct_series(1)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    assert np.array_equal(modality_values(ds, ds.pixel_array), ds.pixel_array * 2.0 - 1024)
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    identity = modality_values(ds, ds.pixel_array)
    assert identity.dtype == ds.pixel_array.dtype and np.array_equal(identity, ds.pixel_array)
    del ds.RescaleSlope, ds.RescaleIntercept
    assert modality_values(ds, ds.pixel_array).dtype == ds.pixel_array.dtype


def test_modality_lut_sequence_and_colour_images(ct_series) -> None:
    (ds,) = ct_series(1)
    del ds.RescaleSlope, ds.RescaleIntercept
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.ModalityLUTType = "HU"
    lut.LUTData = list(range(0, 8192, 2))  # value v → 2 v
    ds.ModalityLUTSequence = Sequence([lut])
    stored = ds.pixel_array
    assert np.array_equal(modality_values(ds, stored), np.clip(stored, 0, 4095) * 2)
    rgb = np.zeros((4, 4, 3), np.uint8)
    ds.SamplesPerPixel = 3
    assert modality_values(ds, rgb) is rgb

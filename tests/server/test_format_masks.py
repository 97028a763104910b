"""The exports' quick reader of stored NIfTI masks gives exactly what nibabel reads, and falls back
to nibabel for files it does not handle (big-endian headers, 4-D data)."""

from __future__ import annotations

import gzip

import nibabel
import numpy as np
import pytest

from datamint.server.annotations.masks import _binary_nifti
from datamint.server.formats.archive import _quick_volume, read_volume_mask


@pytest.mark.parametrize("shape", [(16, 16, 8), (7, 5, 1), (9, 4), (1, 1, 1)])
def test_stored_masks_read_like_nibabel(shape):
    mask = np.random.default_rng(len(shape)).random(shape) > 0.5
    data = _binary_nifti(mask, np.diag([0.5, 0.7, 2.0, 1.0]))
    got = read_volume_mask(data)
    expected = mask if mask.ndim == 3 else mask[..., np.newaxis]
    assert got.dtype == bool and got.shape == expected.shape and np.array_equal(got, expected)
    assert _quick_volume(data) is not None


def test_other_files_go_through_nibabel():
    values = (np.arange(120).reshape(6, 5, 4) % 3).astype(np.int16)
    big_endian = nibabel.Nifti1Image(values, np.eye(4), header=nibabel.Nifti1Header(endianness=">"))
    data = gzip.compress(big_endian.to_bytes())
    assert _quick_volume(data) is None
    assert np.array_equal(read_volume_mask(data), values != 0)
    four_d = nibabel.Nifti1Image(np.ones((3, 2, 2, 1), np.uint8), np.eye(4)).to_bytes()
    assert _quick_volume(four_d) is None and read_volume_mask(four_d).shape == (3, 2, 2)

"""One way to read a DICOM file's frames (``dicom_frames.StoredFrames``): DICOMweb's ``read_frame``
and the viewers' ``volume.DicomFrames`` read the same bytes, as stored, without decoding the rest."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import RLELossless, generate_uid

from datamint.imaging import assemble_series
from datamint.imaging import volume as volume_module
from datamint.imaging.dicom_frames import StoredFrames, decoded_frame, read_frame
from datamint.imaging.errors import CorruptFileError
from datamint.imaging.volume import DicomFrames
from fixtures.files import make_ct_slice, to_bytes


@pytest.fixture
def series(tmp_path):  # type: ignore[no-untyped-def]
    """A native 5-frame CT and the same, RLE-compressed."""
    study, series_uid, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [make_ct_slice(i, study=study, series=series_uid, frame_of_reference=frame, size=12) for i in range(5)]
    native = tmp_path / "ct.dcm"
    native.write_bytes(to_bytes(assemble_series(slices)))
    compressed = tmp_path / "rle.dcm"
    copy = pydicom.dcmread(native)
    copy.compress(RLELossless)
    copy.save_as(compressed)
    return native, compressed


def test_native_frames_are_the_stored_bytes_for_both_readers(series, monkeypatch):
    native, _ = series
    whole = pydicom.dcmread(native).pixel_array
    volume = DicomFrames(native)
    monkeypatch.setattr(volume_module, "pixel_array", lambda *a, **k: pytest.fail("a native frame was decoded"))
    for k in range(5):
        data, syntax = read_frame(native, k)
        assert data == whole[k].astype("<i2").tobytes() == decoded_frame(native, k)
        assert syntax == "1.2.840.10008.1.2.1"
        slope, intercept = volume.rescales[k]
        assert np.array_equal(volume.values(k), whole[k] * slope + intercept)
    with pytest.raises(IndexError, match="frames 1..5"):
        read_frame(native, 5)


def test_compressed_frames_are_their_stored_bitstreams(series):
    _, compressed = series
    ds = pydicom.dcmread(compressed)
    stored = list(generate_frames(ds.PixelData, number_of_frames=5))
    reader = StoredFrames(compressed)
    assert reader.count == 5 and reader.pixel_length is None
    assert [reader.stored(k) for k in range(5)] == stored
    assert read_frame(compressed, 3) == (stored[3], RLELossless)


def test_a_truncated_file_says_which_frame_is_missing(series, tmp_path):
    native, _ = series
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(native.read_bytes()[:-200])  # the last frame (288 bytes) loses its end
    assert read_frame(cut, 3)[0] == read_frame(native, 3)[0]
    with pytest.raises(CorruptFileError, match="ends before frame 5"):
        read_frame(cut, 4)

"""Decoded-size limits in :mod:`datamint.imaging`: bombs refused from their headers before anything is
decoded (tracemalloc shows nothing was allocated), images just under the limits still decoded, and
one frame or slice read without materializing the file (tracemalloc bounds the peak)."""

from __future__ import annotations

import functools
import gzip
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import pytest

from bombs import deflated_dicom, native_dicom, nifti, png_bomb, rle_dicom
from datamint.imaging import read_dicom, render_frame_png
from datamint.imaging.limits import DecodedSizeError, DecodeLimits, check_frames, decode_limits
from datamint.imaging.nifti_io import load_nifti, read_nifti_header
from datamint.imaging.pixels import slice_geometry, slice_values
from datamint.imaging.render import load_frame, open_image
from datamint.imaging.validate import validate_content

MIB = 1024 * 1024
SERVER = DecodeLimits(setting_prefix="DATAMINT_SERVER_")


@functools.cache
def deflated_8192() -> bytes:
    return deflated_dicom(8192, 8192)


@functools.cache
def nifti_512() -> bytes:
    return nifti((512, 512, 512))


def peak_mib(work: Callable[[], Any]) -> tuple[Any, float]:
    """``work()``'s result and the peak of Python/numpy allocations during it, in MiB."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def refused(work: Callable[[], Any], limit: str) -> tuple[DecodedSizeError, float]:
    def attempt() -> DecodedSizeError:
        with pytest.raises(DecodedSizeError) as caught:
            work()
        return caught.value
    error, peak = peak_mib(attempt)
    assert error.limit == limit
    return error, peak


def test_check_frames_is_inclusive_at_each_limit() -> None:
    with decode_limits(DecodeLimits(max_frame_pixels=100, max_frames=4, max_decoded_mb=1, setting_prefix="X_")):
        assert check_frames(rows=10, columns=10, frames=4, bits=8) == 400
        with pytest.raises(DecodedSizeError, match=r"10 x 11\) is 110 pixels, over the server's limit of 100 "
                                                   r"pixels \(setting X_MAX_FRAME_PIXELS\)"):
            check_frames(rows=11, columns=10)
        with pytest.raises(DecodedSizeError, match=r"is 5 frames, over .* of 4 frames \(setting X_MAX_FRAMES\)"):
            check_frames(rows=1, columns=1, frames=5)
        assert check_frames(rows=8, columns=8, frames=4, samples=4, bits=8192) == MIB  # 1 KiB samples
        with pytest.raises(DecodedSizeError, match=r"is 2 MiB, over .* of 1 MiB \(setting X_MAX_DECODED_MB\)"):
            check_frames(rows=8, columns=8, frames=4, samples=4, bits=8192 + 8)


def test_deflated_dicom_of_8192_squared_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    data = deflated_8192()
    assert len(data) < 200 * 1024  # 128 MiB of pixels in ~128 KiB
    path = tmp_path / "bomb.dcm"
    path.write_bytes(data)
    with decode_limits(SERVER):
        for work in (lambda: read_dicom(data), lambda: read_dicom(path, stop_before_pixels=True, check=False),
                     lambda: render_frame_png(path, "application/dicom", 0),
                     lambda: slice_values(path, "application/dicom", 0),
                     lambda: slice_geometry(path, "application/dicom"),
                     lambda: validate_content(path, "application/dicom")):
            error, peak = refused(work, "max_frame_pixels")
            assert "(8192 x 8192) is 67,108,864 pixels" in str(error)
            assert "setting DATAMINT_SERVER_MAX_FRAME_PIXELS" in str(error)
            assert peak < 8, peak  # pydicom alone would have inflated 128 MiB before reading the header


def test_deflated_dicom_just_under_the_limit_is_read_and_rendered(tmp_path: Path) -> None:
    path = tmp_path / "ok.dcm"
    path.write_bytes(deflated_dicom(64, 48))
    with decode_limits(DecodeLimits(max_frame_pixels=64 * 48)):
        ds = read_dicom(path)
        assert ds.file_meta.TransferSyntaxUID.is_deflated and ds.pixel_array.shape == (64, 48)
        assert load_frame(path, "application/dicom", 0).shape == (64, 48)
        assert slice_values(path, "application/dicom", 0).tolist() == np.full((64, 48), -1024).tolist()
    with decode_limits(DecodeLimits(max_frame_pixels=64 * 48 - 1)), pytest.raises(DecodedSizeError):
        read_dicom(path)
    with decode_limits(DecodeLimits(max_decoded_mb=1)):  # 64 x 48 x 2 bytes: far below
        assert read_dicom(path, check=True).Rows == 64


def test_rle_frame_is_decoded_alone_and_rendered_in_strips(tmp_path: Path) -> None:
    path = tmp_path / "rle.dcm"
    path.write_bytes(rle_dicom(4096, 4096))  # 512 KiB holding 32 MiB of 16-bit pixels
    png, peak = peak_mib(lambda: render_frame_png(path, "application/dicom", 0))
    assert png.startswith(b"\x89PNG") and peak < 100, peak  # was about +540 MiB with float64 copies
    values, peak = peak_mib(lambda: slice_values(path, "application/dicom", 0))
    assert values.dtype == np.int16 and values.shape == (4096, 4096) and int(values[7, 9]) == -1024
    assert peak < 100, peak
    with decode_limits(DecodeLimits(max_frame_pixels=4096 * 4095)):
        refused(lambda: render_frame_png(path, "application/dicom", 0), "max_frame_pixels")


def test_multiframe_rle_over_the_frame_and_size_limits(tmp_path: Path) -> None:
    path = tmp_path / "frames.dcm"
    path.write_bytes(rle_dicom(256, 256, frames=20, bits=8))
    with decode_limits(DecodeLimits(max_frames=19)):
        error, _ = refused(lambda: render_frame_png(path, "application/dicom", 3), "max_frames")
        assert "is 20 frames" in str(error)
    with decode_limits(DecodeLimits(max_decoded_mb=1)):  # 256 x 256 x 20 = 1.25 MiB
        refused(lambda: read_dicom(path), "max_decoded_mb")
    with decode_limits(DecodeLimits(max_frames=20, max_decoded_mb=2)):
        assert load_frame(path, "application/dicom", 19).shape == (256, 256)


def test_native_multiframe_frame_access_reads_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "multi.dcm"
    path.write_bytes(native_dicom(512, 512, frames=40))  # 20 MiB of pixels
    values, peak = peak_mib(lambda: slice_values(path, "application/dicom", 33))
    expected = np.random.default_rng(3).integers(0, 2000, (40, 512, 512), dtype=np.uint16)[33].astype(int) - 1024
    assert np.array_equal(values, expected)
    assert peak < 6, peak  # one 512 KiB frame and its strips, not the 20 MiB file
    with decode_limits(DecodeLimits(max_decoded_mb=19)):
        for work in (lambda: read_dicom(path), lambda: validate_content(path, "application/dicom")):
            error, peak = refused(work, "max_decoded_mb")
            assert "(512 x 512 x 40 frames) is 20 MiB" in str(error)
            assert peak < 1, peak  # refused from the header: the 20 MiB of pixel data were never read


def test_gzip_nifti_of_512_cubed_renders_one_slice_in_a_few_mebibytes(tmp_path: Path) -> None:
    path = tmp_path / "vol"
    path.write_bytes(nifti_512())
    assert len(path.read_bytes()) < 200 * 1024
    png, peak = peak_mib(lambda: render_frame_png(path, "application/nifti", 256))
    assert png.startswith(b"\x89PNG") and peak < 12, peak  # was +2.3 GiB: the volume as float64
    values, peak = peak_mib(lambda: slice_values(path, "application/nifti", 100, "sagittal"))
    assert values.shape == (512, 512) and peak < 12, peak
    info, peak = peak_mib(lambda: slice_geometry(path, "application/nifti"))
    assert info.planes["coronal"].count == 512 and peak < 12, peak
    with decode_limits(DecodeLimits(max_frames=511, setting_prefix="DATAMINT_SERVER_")):
        error, peak = refused(lambda: render_frame_png(path, "application/nifti", 0), "max_frames")
        assert "DATAMINT_SERVER_MAX_FRAMES" in str(error) and peak < 1


def test_nifti_slices_streamed_equal_nibabel_in_every_plane(tmp_path: Path) -> None:
    volume = np.random.default_rng(5).integers(-300, 900, (7, 9, 11)).astype(np.int16)
    path = tmp_path / "v.nii.gz"
    path.write_bytes(nifti(volume.shape, np.int16, values=volume))
    loaded = np.asanyarray(nibabel.Nifti1Image.from_bytes(gzip.decompress(path.read_bytes())).dataobj)
    assert np.array_equal(loaded, volume)
    assert np.array_equal(slice_values(path, "application/nifti", 4, "axial"), volume[:, :, 4].T)
    assert np.array_equal(slice_values(path, "application/nifti", 2, "sagittal"), volume[2, :, :].T)
    assert np.array_equal(slice_values(path, "application/nifti", 8, "coronal"), volume[:, 8, :].T)
    low, high = volume.min(), volume.max()
    expected = np.clip(np.round((volume[:, :, 5].astype(float) - low) / (high - low) * 255), 0, 255).astype(np.uint8)
    rendered = load_frame(path, "application/nifti", 5)  # identity affine: flipped so +x is left, +y is up
    assert np.array_equal(rendered, np.flip(np.flip(expected, 0), 1).T)


def test_nifti_announcing_a_huge_volume_is_refused_from_its_header(tmp_path: Path) -> None:
    data = nifti((4096, 4096, 4096), truncate_at=1 << 16)  # announces 64 GiB, holds 64 KiB
    with decode_limits(SERVER):
        for work in (lambda: read_nifti_header(data), lambda: load_nifti(data),
                     lambda: validate_content(data, "application/nifti"),
                     lambda: render_frame_png(data, "application/nifti", 0)):
            error, peak = refused(work, "max_decoded_mb")
            assert "is 65,536 MiB, over the server's limit of 1,024 MiB (setting DATAMINT_SERVER_MAX_DECODED_MB)" \
                in str(error) and peak < 2, peak
    wide = nifti((8192, 8192, 1), truncate_at=1 << 16)  # one slice of 64 Mi pixels
    with decode_limits(SERVER):
        error, _ = refused(lambda: load_nifti(wide), "max_frame_pixels")
        assert "DATAMINT_SERVER_MAX_FRAME_PIXELS" in str(error)


def test_load_nifti_inflates_only_what_the_header_announces() -> None:
    small = nifti((8, 8, 4))
    padded = gzip.compress(gzip.decompress(small) + bytes(256 * MIB), compresslevel=1)  # 256 MiB of trailing zeros
    image, peak = peak_mib(lambda: load_nifti(padded))
    assert image.shape == (8, 8, 4) and peak < 4, peak


def test_png_of_30000_squared_is_refused_before_decoding() -> None:
    data = png_bomb(30000, 30000)
    assert len(data) < 200 * 1024
    with decode_limits(SERVER):
        for work in (lambda: open_image(data), lambda: validate_content(data, "image/png"),
                     lambda: load_frame(data, "image/png", 0)):
            error, peak = refused(work, "max_frame_pixels")
            assert "is 900,000,000 pixels, over the server's limit of 33,554,432 pixels (setting " \
                "DATAMINT_SERVER_MAX_FRAME_PIXELS)" in str(error) and peak < 2, peak
    with decode_limits(DecodeLimits(max_frame_pixels=300 * 200)):
        assert load_frame(png_bomb(300, 200), "image/png", 0).shape == (200, 300)
        refused(lambda: load_frame(png_bomb(301, 200), "image/png", 0), "max_frame_pixels")

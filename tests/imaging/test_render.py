from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from datamint.imaging import UnsupportedFormatError, assemble_series, load_frame, render_frame_png
from fixtures.files import image_bytes, make_ct_slice, nibabel_file, pydicom_file, to_bytes

DICOM = "application/dicom"


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(data)))


def ct_with(values: list[int], **attributes: object) -> pydicom.Dataset:
    """A 4×4 CT slice whose first row holds `values` (raw stored values, intercept -1024)."""
    pixels = np.zeros((4, 4), dtype=np.int16)
    pixels[0, : len(values)] = values
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid(),
                       size=4, pixels=pixels)  # fmt: skip
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_window_and_rescale_are_applied() -> None:
    # raw → HU (-1024): 1064 → 40 (the window centre), 824 → -200, 1300 → 276, 1024 → 0; window 40/400
    png = render_frame_png(to_bytes(ct_with([1064, 824, 1300, 1024])), DICOM, 0)
    row = decode_png(png)[0]
    assert decode_png(png).shape == (4, 4)
    assert list(row) == [128, 0, 255, 102]  # ((HU - 39.5) / 399 + 0.5) * 255, clipped


def test_monochrome1_is_inverted() -> None:
    ds = ct_with([1064, 824, 1300, 1024], PhotometricInterpretation="MONOCHROME1")
    assert list(load_frame(ds)[0]) == [127, 255, 0, 153]


def test_min_max_window_without_voi_attributes() -> None:
    ds = ct_with([0, 1000, 2000, 500])
    del ds.WindowCenter, ds.WindowWidth
    frame = load_frame(ds)
    assert list(frame[0]) == [0, 128, 255, 64]  # the 12 zero pixels are the minimum too


def test_sigmoid_voi_function() -> None:
    ds = ct_with([1064, 1264], VOILUTFunction="SIGMOID")
    assert list(load_frame(ds)[0][:2]) == [128, 225]  # 255 / (1 + exp(-4 * (HU - 40) / 400))


def test_per_frame_windows_of_an_assembled_series() -> None:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = []
    for k, center in enumerate((40, 240)):
        pixels = np.full((4, 4), 1064, dtype=np.int16)  # HU 40 everywhere
        ds = make_ct_slice(k, study=study, series=series, frame_of_reference=frame, size=4, pixels=pixels)
        ds.WindowCenter = center
        slices.append(ds)
    out = assemble_series(slices)
    assert load_frame(out, frame_index=0)[0, 0] == 128
    assert load_frame(out, frame_index=1)[0, 0] == 0  # 40 HU is below window 240/400


def test_lossless_compressions_render_identically() -> None:
    reference = load_frame(pydicom_file("MR_small.dcm"), DICOM)
    assert reference.shape == (64, 64) and reference.dtype == np.uint8 and reference.max() > 0
    for name in ("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"):
        np.testing.assert_array_equal(load_frame(pydicom_file(name), None), reference, err_msg=name)


def test_jpeg2000_renders_at_its_size() -> None:
    assert decode_png(render_frame_png(pydicom_file("JPEG2000.dcm"), DICOM, 0)).shape == (1024, 256)


@pytest.mark.parametrize("name", ["SC_rgb_small_odd.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_palette.dcm"])
def test_colour_dicom_renders_in_colour(name: str) -> None:
    ds = pydicom.dcmread(pydicom_file(name))
    frame = decode_png(render_frame_png(ds))
    assert frame.shape == (ds.Rows, ds.Columns, 3)
    if name == "SC_rgb_small_odd.dcm":
        np.testing.assert_array_equal(frame, ds.pixel_array)


def test_multiframe_dicom_index_range() -> None:
    path = pydicom_file("rtdose.dcm")
    assert load_frame(path, DICOM, 14).shape == (10, 10)
    with pytest.raises(IndexError, match=r"15 frame\(s\), valid indexes are 0\.\.14"):
        render_frame_png(path, DICOM, 15)
    with pytest.raises(IndexError):
        render_frame_png(path, DICOM, -1)


def test_dicom_without_pixels_cannot_be_rendered() -> None:
    with pytest.raises(UnsupportedFormatError, match="no Pixel Data"):
        render_frame_png(pydicom_file("test-SR.dcm"), DICOM)


def test_nifti_slice_is_scaled_by_volume_and_oriented(tmp_path: Path) -> None:
    data = np.zeros((4, 5, 3), dtype=np.float32)  # i: left→right, j: posterior→anterior (RAS affine)
    data[0, 4, 1] = 50.0  # patient's left, most anterior, slice 1
    data[2, 2, 2] = 100.0  # volume maximum lives in another slice
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    frame = decode_png(render_frame_png(path, "application/nifti", 1))
    assert frame.shape == (5, 4)  # rows = anterior→posterior, columns = right→left
    assert frame[0, 3] == 128  # anterior at the top, patient left on the image right, 50/100 of 255
    assert np.count_nonzero(frame) == 1
    with pytest.raises(IndexError, match=r"0\.\.2"):
        render_frame_png(path, "application/nifti", 3)


def test_nifti_4d_time_points() -> None:
    path = nibabel_file("example4d.nii.gz")
    assert load_frame(path, "application/nifti", 23, time_index=1).shape == (96, 128)
    with pytest.raises(IndexError):
        load_frame(path, "application/nifti", 24)
    with pytest.raises(IndexError, match="time_index"):
        load_frame(path, "application/nifti", 0, time_index=2)


@pytest.mark.parametrize(("key", "mime"), [("avi", "video/x-msvideo"), ("mp4", "video/mp4")])
def test_video_frames(videos: dict[str, Path], key: str, mime: str) -> None:
    frame = decode_png(render_frame_png(videos[key].read_bytes(), mime, 3))
    assert frame.shape == (32, 48, 3)
    assert abs(float(frame.mean()) - 90.0) < 6  # frame k is a flat gray of 30 * k
    with pytest.raises(IndexError, match=r"0\.\.5"):
        render_frame_png(videos[key], mime, 6)


def test_multipage_image(tmp_path: Path) -> None:
    pages = [Image.new("L", (8, 6), color=v) for v in (0, 100, 200)]
    path = tmp_path / "stack.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert int(load_frame(path, "image/tiff", 2)[0, 0]) == 200
    with pytest.raises(IndexError, match=r"3 frame\(s\)"):
        load_frame(path, "image/tiff", 3)


def test_png_round_trip_and_16_bit_image() -> None:
    frame = decode_png(render_frame_png(image_bytes("PNG", size=(40, 30)), None, 0))
    assert frame.shape == (30, 40, 3)
    buf = io.BytesIO()
    Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)).save(buf, format="PNG")
    assert load_frame(buf.getvalue(), "image/png").tolist() == [[0, 64], [128, 255]]


def test_unknown_types_cannot_be_rendered() -> None:
    with pytest.raises(UnsupportedFormatError, match="application/json"):
        render_frame_png(b'{"a": 1}', "application/json")


def test_iter_frames_equals_load_frame_for_every_kind(ct_series, videos, tmp_path) -> None:
    import io

    import nibabel as nib
    import numpy as np
    from PIL import Image

    from datamint.imaging import assemble_series, iter_frames, load_frame
    from fixtures.files import nibabel_file, to_bytes

    dicom = to_bytes(assemble_series(ct_series(5)))
    nifti = nibabel_file("example4d.nii.gz")
    pages = io.BytesIO()
    frames = [Image.fromarray(np.full((8, 6), v, np.uint8)) for v in (10, 90, 200)]
    frames[0].save(pages, format="TIFF", save_all=True, append_images=frames[1:])
    cases = [(dicom, "application/dicom", 5), (nifti, "application/nifti", nib.load(nifti).shape[2]),
             (videos["avi"], "video/x-msvideo", 6), (pages.getvalue(), "image/tiff", 3)]
    for source, mimetype, count in cases:
        all_frames = list(iter_frames(source, mimetype, time_index=1 if mimetype.endswith("nifti") else 0))
        assert len(all_frames) == count, mimetype
        for k in (0, count - 1):
            expected = load_frame(source, mimetype, k, time_index=1 if mimetype.endswith("nifti") else 0)
            assert np.array_equal(all_frames[k], expected), (mimetype, k)

"""The viewer in Chromium: a CT opened from "Next item", scrolled by wheel and keys, windowed by
presets (screen grey levels checked against the window formula); NIfTI in three planes; images."""

from __future__ import annotations

import re

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from web_helpers import ct_series_files, make_user, shot, sign_in, viewport_pixel, worklist_with

SLICES, SIZE = 20, 64


def _grey(hu: float, center: float, width: float) -> float:
    """The grey level DICOM's linear window (PS3.3 C.11.2.1.2) maps ``hu`` to (0..255)."""
    return float(np.clip((hu - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255)


def _assert_grey(page, hu: float, center: float, width: float) -> None:
    r, g, b = viewport_pixel(page, "viewport-axial")
    assert r == g == b, "a CT is shown in grey"
    assert abs(r - _grey(hu, center, width)) <= 1.5, (r, _grey(hu, center, width), hu, center, width)


def test_annotator_scrolls_and_windows_a_ct(web_server, page, tmp_path):
    # slice k is uniform at 20·k HU: slice 8 (index 7) is 140 HU, slice 1 is 0 HU
    paths = ct_series_files(tmp_path, lambda k: np.full((SIZE, SIZE), 20 * k), SLICES, SIZE)
    email, _ = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email)
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}")
    page.get_by_role("button", name="Next item").click()
    page.wait_for_url(re.compile(f"/items/{ids[0]}$"))
    counter = page.get_by_test_id("slice-counter-axial")
    counter.filter(has_text=f"1 / {SLICES}").wait_for()
    page.get_by_test_id("voi-axial").filter(has_text="W 400 L 40").wait_for()
    # a series is a volume: its sagittal and coronal planes (64 slices each) open beside the axial one
    page.get_by_test_id("slice-counter-sagittal").filter(has_text=f"33 / {SIZE}").wait_for()
    page.get_by_test_id("slice-counter-coronal").filter(has_text=f"33 / {SIZE}").wait_for()
    total = SLICES + 2 * SIZE
    page.get_by_test_id("loaded").filter(has_text=f"Loaded {total} / {total} slices").wait_for(timeout=60000)
    _assert_grey(page, 0, 40, 400)

    viewport = page.get_by_test_id("viewport-axial")
    viewport.hover()
    for _ in range(4):
        page.mouse.wheel(0, 120)
    counter.filter(has_text=f"5 / {SLICES}").wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    counter.filter(has_text=f"8 / {SLICES}").wait_for()
    page.wait_for_timeout(300)  # let the frame paint
    _assert_grey(page, 140, 40, 400)
    shot(page, "10-viewer-ct-soft-tissue")

    for preset, center, width in [("Lung", -600, 1500), ("Bone", 400, 1800)]:
        page.get_by_label("Window preset").select_option(label=preset)
        page.get_by_test_id("voi-axial").filter(has_text=f"W {width} L {center}").wait_for()
        page.wait_for_timeout(200)
        _assert_grey(page, 140, center, width)
    shot(page, "11-viewer-ct-bone")
    # the sagittal plane: frames run bottom (first, 0 HU) to top (last, 380 HU), 1.25 mm each
    box = page.get_by_test_id("viewport-sagittal").bounding_box()
    width_mm, height_mm = SIZE * 0.5, SLICES * 1.25
    scale = min(box["width"] / width_mm, box["height"] / height_mm)
    top = (box["height"] - height_mm * scale) / 2
    for frame in (2, 14):
        row = SLICES - 1 - frame  # shown from the top
        fy = (top + (row + 0.5) * 1.25 * scale) / box["height"]
        r, g, b = viewport_pixel(page, "viewport-sagittal", 0.5, fy)
        assert r == g == b and abs(r - _grey(20 * frame, 400, 1800)) <= 1.5, (frame, r, _grey(20 * frame, 400, 1800))
    page.keyboard.press("End")
    counter.filter(has_text=f"{SLICES} / {SLICES}").wait_for()
    page.keyboard.press("Home")
    counter.filter(has_text=f"1 / {SLICES}").wait_for()


def test_nifti_opens_in_three_planes(web_server, page, tmp_path):
    volume = np.zeros((24, 20, 16), dtype=np.int16)
    volume[4:10, 5:15, 2:14] = 300
    path = tmp_path / "brain.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.diag([1.0, 1.2, 2.0, 1.0])), path)
    email, _ = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, [str(path)], email)
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{ids[0]}")
    for plane, count in [("axial", 16), ("sagittal", 24), ("coronal", 20)]:
        page.get_by_test_id(f"slice-counter-{plane}").filter(has_text=f"{count // 2 + 1} / {count}").wait_for()
    page.get_by_test_id("loaded").filter(has_text="Loaded").wait_for()
    page.wait_for_timeout(300)
    shot(page, "12-viewer-nifti-three-planes")
    # the middle sagittal slice (i = 12) crosses no bright voxel; axial k = 8 does
    assert viewport_pixel(page, "viewport-sagittal") == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_opens_as_one_slice(web_server, page, tmp_path, fmt):
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    rgb[:, :] = (200, 40, 40)
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(rgb).save(path, format=fmt, quality=100)
    email, _ = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, [str(path)], email)
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{ids[0]}")
    page.get_by_test_id("slice-counter-axial").filter(has_text="1 / 1").wait_for()
    page.get_by_test_id("loaded").filter(has_text="Loaded 1 / 1 slices").wait_for()
    page.wait_for_timeout(300)
    r, g, b = viewport_pixel(page, "viewport-axial")
    assert abs(r - 200) <= 3 and abs(g - 40) <= 3 and abs(b - 40) <= 3
    shot(page, f"13-viewer-{fmt.lower()}")


def test_a_video_is_viewed_frame_by_frame(web_server, page, videos):
    email, _ = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, [str(videos["mp4"])], email)
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{ids[0]}")
    counter = page.get_by_test_id("slice-counter-axial")
    counter.filter(has_text="1 / 6").wait_for()
    page.get_by_test_id("viewport-axial").hover()
    page.keyboard.press("ArrowDown")
    counter.filter(has_text="2 / 6").wait_for()
    page.get_by_test_id("loaded").filter(has_text="Loaded 6 / 6 slices").wait_for()
    shot(page, "14-viewer-video")

"""Annotating in Chromium, read back through the SDK: a box on slice 13 of a CT is the same pixels
on frame 12, a brush stroke is the same mask, a classification is saved; reopening shows them all."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
from PIL import Image
from web_helpers import ct_series_files, make_user, shot, sign_in, worklist_with

from datamint import Api

SLICES, SIZE = 20, 64
ROW_SPACING, COL_SPACING = 0.5, 0.75  # the synthetic CT's PixelSpacing
SPECS = [
    {"type": "square", "identifier": "lesion", "scope": "frame"},
    {"type": "category", "identifier": "finding", "scope": "image", "values": ["benign", "malignant"]},
    {"type": "label", "identifier": "artifact", "scope": "frame"},
]
SEGMENTS = {"segmentationValueType": "single_label",
            "definitions": [{"identifier": "liver", "color": [255, 0, 0], "index": 1}]}


def _screen_to_pixel(box: dict, sx: float, sy: float) -> tuple[int, int]:
    """Where a screen point falls on the CT when Cornerstone fits the image to the viewport."""
    width_mm, height_mm = SIZE * COL_SPACING, SIZE * ROW_SPACING
    scale = min(box["width"] / width_mm, box["height"] / height_mm)
    left = box["x"] + (box["width"] - width_mm * scale) / 2
    top = box["y"] + (box["height"] - height_mm * scale) / 2
    return math.floor((sx - left) / (scale * COL_SPACING)), math.floor((sy - top) / (scale * ROW_SPACING))


def _pixel_to_screen(box: dict, x: float, y: float) -> tuple[float, float]:
    """The screen point at the centre of CT pixel (x, y) (the inverse of :func:`_screen_to_pixel`)."""
    width_mm, height_mm = SIZE * COL_SPACING, SIZE * ROW_SPACING
    scale = min(box["width"] / width_mm, box["height"] / height_mm)
    left = box["x"] + (box["width"] - width_mm * scale) / 2
    top = box["y"] + (box["height"] - height_mm * scale) / 2
    return left + (x + 0.5) * scale * COL_SPACING, top + (y + 0.5) * scale * ROW_SPACING


def _drag(page, points: list[tuple[float, float]]) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def test_box_brush_and_classification_round_trip_through_the_sdk(web_server, page, tmp_path):
    paths = ct_series_files(tmp_path, lambda k: np.full((SIZE, SIZE), 10 * k), SLICES, SIZE)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email, annotations=SPECS, segmentation_data=SEGMENTS)
    rid = ids[0]
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}")
    page.get_by_role("button", name="Next item").click()
    page.wait_for_url(re.compile(f"/items/{rid}$"))
    page.get_by_test_id("my-status").filter(has_text="opened").wait_for()
    counter = page.get_by_test_id("slice-counter-axial")
    counter.filter(has_text=f"1 / {SLICES}").wait_for()
    page.get_by_test_id("tool-lesion").wait_for()

    viewport = page.get_by_test_id("viewport-axial")
    viewport.hover()
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    counter.filter(has_text=f"13 / {SLICES}").wait_for()

    box = viewport.bounding_box()
    start = (box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.35)
    end = (box["x"] + box["width"] * 0.58, box["y"] + box["height"] * 0.62)
    page.keyboard.press("1")
    _drag(page, [start, end])
    drawn = page.get_by_test_id("drawn-item").filter(has_text="lesion")
    drawn.wait_for()
    assert drawn.get_attribute("data-frame") == "12" and drawn.get_attribute("data-plane") == "axial"
    corners = json.loads(drawn.get_attribute("data-pixels"))
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    expected = [_screen_to_pixel(box, *start), _screen_to_pixel(box, *end)]
    assert abs(min(xs) - expected[0][0]) <= 1 and abs(min(ys) - expected[0][1]) <= 1, (corners, expected)
    assert abs(max(xs) - expected[1][0]) <= 1 and abs(max(ys) - expected[1][1]) <= 1, (corners, expected)

    page.get_by_test_id("label-liver").click()
    stroke_y = _pixel_to_screen(box, 0, 50)[1]  # row 50 of 64, below the box
    stroke = [(box["x"] + box["width"] * f, stroke_y) for f in (0.40, 0.50, 0.60)]
    _drag(page, stroke)
    page.get_by_label("finding").select_option("malignant")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()
    shot(page, "20-annotate-box-brush")

    api = Api(web_server.url, key)
    found = api.annotations.get_list(resource=rid, worklist_id=worklist_id)
    by_type = {}
    for a in found:
        by_type.setdefault(a.type if isinstance(a.type, str) else a.type.value, []).append(a)
    (square,) = by_type["square"]
    assert square.identifier == "lesion" and square.frame_index == 12
    pixels = api.annotations.to_pixel_points(rid, square.geometry["points"])
    assert [(round(x, 6), round(y, 6), round(z, 6)) for x, y, z in pixels] == [
        (float(x), float(y), 12.0) for x, y in [(min(xs), min(ys)), (max(xs), min(ys)), (min(xs), max(ys)),
                                                (max(xs), max(ys))]]

    (category,) = by_type["category"]
    assert (category.identifier, category.value, category.frame_index) == ("finding", "malignant", None)

    (mask_annotation,) = by_type["segmentation"]
    assert mask_annotation.identifier == "liver" and mask_annotation.frame_index == 12
    mask = np.asarray(Image.open(io.BytesIO(api.annotations.download_file(mask_annotation)))) != 0
    if mask.ndim == 3:
        mask = mask[..., 0]
    assert mask.shape == (SIZE, SIZE)
    rows, cols = np.nonzero(mask)
    (x0, y0), (x1, _) = _screen_to_pixel(box, *stroke[0]), _screen_to_pixel(box, *stroke[-1])
    assert rows.size > 0
    assert abs(np.median(rows) - y0) <= 1, "the stroke is on its row: not flipped, not transposed"
    assert cols.min() <= x0 + 1 and cols.max() >= x1 - 1 and cols.max() - cols.min() <= (x1 - x0) + 20

    # reopening shows what was saved, and saving again changes nothing
    page.reload()
    page.get_by_test_id("drawn-item").filter(has_text="lesion").wait_for()
    assert page.get_by_label("finding").input_value() == "malignant"
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Nothing to save").wait_for()
    assert sorted(a.id for a in api.annotations.get_list(resource=rid, worklist_id=worklist_id)) == \
        sorted(a.id for a in found)


def test_line_point_polygon_undo_redo_eraser_and_help(web_server, page, tmp_path):
    specs = [{"type": "line", "identifier": "axis", "scope": "frame"},
             {"type": "point", "identifier": "centre", "scope": "frame"},
             {"type": "region", "identifier": "outline", "scope": "frame"}]
    paths = ct_series_files(tmp_path, lambda k: np.zeros((SIZE, SIZE)), 4, SIZE)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email, annotations=specs, segmentation_data=SEGMENTS)
    rid = ids[0]
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    page.get_by_test_id("tool-axis").wait_for()
    box = page.get_by_test_id("viewport-axial").bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:  # a fraction of the image's width and height
        return _pixel_to_screen(box, fx * SIZE - 0.5, fy * SIZE - 0.5)

    page.get_by_test_id("viewport-axial").hover()
    page.keyboard.press("1")
    _drag(page, [at(0.3, 0.3), at(0.7, 0.3)])
    items = page.get_by_test_id("drawn-item")
    items.filter(has_text="axis").wait_for()
    # Cornerstone holds a click back for a double-click's time before it acts: wait for each one
    page.keyboard.press("2")
    page.mouse.click(*at(0.5, 0.5))
    items.filter(has_text="centre").wait_for()
    page.keyboard.press("Control+z")
    items.filter(has_text="centre").wait_for(state="detached")
    page.keyboard.press("Control+y")
    items.filter(has_text="centre").wait_for()
    page.keyboard.press("3")
    for corner in [(0.3, 0.6), (0.5, 0.9), (0.7, 0.6), (0.3, 0.6)]:  # clicking the first point closes it
        page.mouse.click(*at(*corner))
        page.wait_for_timeout(600)
    for identifier in ("axis", "centre", "outline"):
        items.filter(has_text=identifier).wait_for()
    line = json.loads(items.filter(has_text="axis").get_attribute("data-pixels"))
    assert [tuple(p) for p in line] == [_screen_to_pixel(box, *at(0.3, 0.3)), _screen_to_pixel(box, *at(0.7, 0.3))] \
        or all(abs(a - b) <= 1 for p, q in zip(line, [_screen_to_pixel(box, *at(0.3, 0.3)),
                                                      _screen_to_pixel(box, *at(0.7, 0.3))], strict=True)
               for a, b in zip(p, q, strict=True))


    # a stroke, then the eraser over all of it: no mask is saved
    page.keyboard.press("b")
    _drag(page, [at(0.45, 0.45), at(0.55, 0.45)])
    page.keyboard.press("e")
    page.get_by_label("Brush size").fill("64")
    _drag(page, [at(0.40, 0.45), at(0.60, 0.45)])
    page.keyboard.press("?")
    page.get_by_test_id("help").filter(has_text="Undo / redo").wait_for()
    shot(page, "21-annotate-line-point-polygon-help")
    page.keyboard.press("Control+s")
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()

    api = Api(web_server.url, key)
    found = {a.identifier: a for a in api.annotations.get_list(resource=rid, worklist_id=worklist_id)}
    assert set(found) == {"axis", "centre", "outline"}, "the erased stroke left no mask"
    assert (found["axis"].type, found["centre"].type, found["outline"].type) == ("line", "point", "region")
    assert found["outline"].geometry["closed"] is True and len(found["outline"].geometry["points"]) == 3
    centre = api.annotations.to_pixel_points(rid, found["centre"].geometry["points"])[0]
    expected = _screen_to_pixel(box, *at(0.5, 0.5))
    assert abs(centre[0] - expected[0]) <= 1 and abs(centre[1] - expected[1]) <= 1 and round(centre[2], 6) == 0


def test_angle_circle_and_polyline_are_the_sdks_points(web_server, page, tmp_path):
    specs = [{"type": "angle", "identifier": "knee", "scope": "frame"},
             {"type": "circle", "identifier": "nodule", "scope": "frame"},
             {"type": "spline", "identifier": "vessel", "scope": "frame"},
             {"type": "region", "identifier": "border", "scope": "frame"}]
    paths = ct_series_files(tmp_path, lambda k: np.zeros((SIZE, SIZE)), 3, SIZE)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email, annotations=specs)
    rid = ids[0]
    admin = Api(web_server.url, web_server.admin_key)
    # the SDK's polyline (an open region) drawn by someone else shows open, on its pixels
    admin.annotations.add_polyline_annotation([(5, 5), (12, 9), (20, 5)], rid, "border", frame_index=0,
                                              worklist_id=worklist_id)
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    items = page.get_by_test_id("drawn-item")
    theirs = items.filter(has_text="border")
    theirs.wait_for()
    assert json.loads(theirs.get_attribute("data-pixels")) == [[5, 5], [12, 9], [20, 5]]
    assert theirs.get_attribute("data-closed") == "false" and theirs.get_attribute("data-mine") == "false"
    box = page.get_by_test_id("viewport-axial").bounding_box()

    def at(x: int, y: int) -> tuple[float, float]:
        return _pixel_to_screen(box, x, y)

    page.get_by_test_id("viewport-axial").hover()
    page.keyboard.press("1")  # angle: drag the first arm, click the third point
    _drag(page, [at(10, 40), at(20, 30)])
    page.wait_for_timeout(600)
    page.mouse.click(*at(30, 40))
    items.filter(has_text="knee").wait_for()
    page.keyboard.press("2")  # circle: drag from the centre to the rim
    _drag(page, [at(40, 20), at(46, 20)])
    items.filter(has_text="nodule").wait_for()
    page.keyboard.press("3")  # polyline: click, click, double-click
    for point in [(34, 50), (46, 44)]:  # (clear of the circle's statistics, which a click would select)
        page.mouse.click(*at(*point))
        page.wait_for_timeout(600)
    page.mouse.dblclick(*at(58, 52))
    mine = items.filter(has_text="vessel")
    mine.wait_for()
    assert mine.get_attribute("data-closed") == "false"
    shot(page, "24-annotate-angle-circle-polyline")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()

    api = Api(web_server.url, key)
    found = {a.identifier: a for a in api.annotations.get_list(resource=rid, worklist_id=worklist_id)
             if a.identifier != "border"}
    assert {k: (found[k].type if isinstance(found[k].type, str) else found[k].type.value) for k in found} == {
        "knee": "angle", "nodule": "circle", "vessel": "spline"}

    def pixels(identifier: str) -> list[tuple[int, int]]:
        points = api.annotations.to_pixel_points(rid, found[identifier].geometry["points"])
        assert all(round(z, 6) == 0 for _, _, z in points) and found[identifier].frame_index == 0
        return [(round(x), round(y)) for x, y, _ in points]

    def near(got: list[tuple[int, int]], want: list[tuple[int, int]]) -> bool:
        return len(got) == len(want) and all(abs(a - c) <= 1 and abs(b - d) <= 1
                                             for (a, b), (c, d) in zip(got, want, strict=True))

    assert near(pixels("knee"), [(10, 40), (20, 30), (30, 40)]), pixels("knee")
    assert near(pixels("nodule"), [(40, 20), (46, 20)]), pixels("nodule")
    assert near(pixels("vessel"), [(34, 50), (46, 44), (58, 52)]), pixels("vessel")
    assert found["vessel"].geometry["closed"] is False


def test_a_model_prediction_is_shown_apart_and_accepted_as_mine(web_server, page, tmp_path):
    paths = ct_series_files(tmp_path, lambda k: np.zeros((SIZE, SIZE)), 2, SIZE)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email, annotations=SPECS[:1])
    rid = ids[0]
    admin = Api(web_server.url, web_server.admin_key)
    corners = [(10, 12), (30, 12), (10, 40), (30, 40)]
    points = [list(p) for p in admin.annotations._geometry(rid).convert(corners, 1)]  # pixels → patient mm
    admin.annotations.create(rid, {"type": "square", "identifier": "lesion", "scope": "frame", "frame_index": 1,
                                   "geometry": {"points": points}, "annotation_worklist_id": worklist_id,
                                   "source": "model_deploy", "model_id": "liver-net", "is_model": True})
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    predicted = page.get_by_test_id("drawn-item").filter(has_text="lesion")
    predicted.wait_for()
    assert predicted.get_attribute("data-mine") == "false" and predicted.get_attribute("data-frame") == "1"
    assert json.loads(predicted.get_attribute("data-pixels")) == [list(c) for c in corners]
    layer = page.get_by_label("Show others' and models' annotations (1)")
    layer.uncheck()
    layer.check()
    predicted.get_by_role("button", name="accept as mine").click()
    page.wait_for_function("""() => document.querySelector('[data-testid=drawn-item]').dataset.mine === 'true'""")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()

    found = Api(web_server.url, key).annotations.get_list(resource=rid, worklist_id=worklist_id)
    by_source = {a.source if isinstance(a.source, str) else a.source.value: a for a in found}
    assert set(by_source) == {"model_deploy", "manual"}, "the prediction stays; my copy is added"
    mine = by_source["manual"]
    assert mine.frame_index == 1 and [round(v, 6) for v in mine.geometry["points"][3]] == \
        [round(v, 6) for v in by_source["model_deploy"].geometry["points"][3]]


def test_a_models_mask_is_shown_in_its_layer_hidden_and_accepted_as_mine(web_server, page, tmp_path):
    paths = ct_series_files(tmp_path, lambda k: np.zeros((SIZE, SIZE)), 2, SIZE)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, paths, email, segmentation_data=SEGMENTS)
    rid = ids[0]
    predicted = np.zeros((SIZE, SIZE), dtype=np.uint8)
    predicted[20:31, 10:21] = 1  # rows 20..30, columns 10..20: 121 pixels
    Api(web_server.url, web_server.admin_key).annotations.upload_segmentations(
        rid, predicted, "liver", frame_index=1, worklist_id=worklist_id, ai_model_name="liver-net")
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    layer = page.get_by_test_id("others-masks")
    layer.wait_for()
    viewport = page.get_by_test_id("viewport-axial")
    viewport.hover()
    page.keyboard.press("ArrowDown")
    page.get_by_test_id("slice-counter-axial").filter(has_text="2 / 2").wait_for()
    page.wait_for_timeout(300)
    box = viewport.bounding_box()
    inside, outside = _pixel_to_screen(box, 15, 25), _pixel_to_screen(box, 40, 25)

    def red(point) -> float:
        r, g, _ = _colour(page, *point)
        return r - g

    assert red(inside) > 40 and abs(red(outside)) < 5, "the model's mask shows on its pixels only"
    shot(page, "23-annotate-model-mask-layer")
    page.get_by_label("Show others' and models' masks").uncheck()
    page.wait_for_timeout(200)
    assert abs(red(inside)) < 5, "the layer is hidden"
    page.get_by_label("Show others' and models' masks").check()
    layer.get_by_role("button", name="accept their masks as mine").click()
    page.get_by_test_id("save-status").filter(has_text="121 voxels").wait_for()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()

    api = Api(web_server.url, key)
    mine = [a for a in api.annotations.get_list(resource=rid, worklist_id=worklist_id)
            if (a.source if isinstance(a.source, str) else a.source.value) == "manual"]
    assert [(a.type if isinstance(a.type, str) else a.type.value, a.identifier, a.frame_index) for a in mine] == [
        ("segmentation", "liver", 1)]
    mask = _frame_mask(api, rid, worklist_id, "liver", 1, tmp_path, source="manual")
    assert np.array_equal(mask != 0, predicted != 0), "my copy is the model's mask, pixel for pixel"


def _bright_centre(page, testid: str) -> tuple[float, float]:
    """The screen position of the bright pixels' centroid in a viewport (where the marker shows)."""
    box = page.get_by_test_id(testid).bounding_box()
    image = np.array(Image.open(io.BytesIO(page.screenshot(clip=box))).convert("L"))
    image[:30], image[-30:] = 0, 0  # leave out the overlays' white text
    rows, cols = np.nonzero(image > 200)
    assert rows.size, f"the marker is not visible in {testid}"
    return box["x"] + float(cols.mean()), box["y"] + float(rows.mean())


def _colour(page, x: float, y: float) -> np.ndarray:
    """The mean RGB of the 3×3 screen pixels around (x, y)."""
    clip = {"x": x - 1, "y": y - 1, "width": 3, "height": 3}
    return np.array(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"), dtype=float).mean(axis=(0, 1))


def _frame_mask(api, rid: str, worklist_id: str, label: str, frame: int, folder, source: str | None = None
                ) -> np.ndarray | None:
    """The saved mask of ``label`` on ``frame`` (of ``source`` when given), read with the datasets'
    reader ((height, width) = (j, i))."""
    from datamint.dataset.readers import read_mask

    masks = [a for a in api.annotations.get_list(resource=rid, worklist_id=worklist_id)
             if a.identifier == label and a.frame_index == frame
             and (source is None or (a.source if isinstance(a.source, str) else a.source.value) == source)]
    assert len(masks) <= 1, label
    if not masks:
        return None
    file = folder / f"{label}-{frame}.png"
    file.write_bytes(api.annotations.download_file(masks[0]))
    return read_mask(file)


def test_brush_strokes_show_in_every_plane_at_once_and_land_on_the_right_voxels(web_server, page, tmp_path):
    import nibabel as nib

    from datamint.dataset.readers import read_nifti

    i0, j0, k0 = 5, 14, 11  # an off-centre marker: any flip or transpose would miss it
    volume = np.zeros((24, 20, 16), dtype=np.int16)
    volume[i0 - 1:i0 + 2, j0 - 1:j0 + 2, k0 - 1:k0 + 2] = 1000
    path = tmp_path / "marker.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.diag([-1.0, 1.0, 1.5, 1.0])), path)
    segments = {"segmentationValueType": "single_label",
                "definitions": [{"identifier": "organ", "color": [0, 200, 0], "index": 1},
                                {"identifier": "vessel", "color": [0, 0, 255], "index": 2}]}
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, [str(path)], email, segmentation_data=segments)
    rid = ids[0]
    sign_in(page, email)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    page.get_by_test_id("label-organ").wait_for()
    page.get_by_label("Brush size").fill("3")
    page.get_by_label("Brush size").blur()  # a focused slider keeps the arrow keys for itself
    axial = page.get_by_test_id("slice-counter-axial")
    page.get_by_test_id("viewport-axial").hover()
    for _ in range(k0 - 8):
        page.keyboard.press("ArrowDown")
    axial.filter(has_text=f"{k0 + 1} / 16").wait_for()
    sagittal = page.get_by_test_id("slice-counter-sagittal")
    page.get_by_test_id("viewport-sagittal").hover()
    for _ in range(12 - i0):
        page.keyboard.press("ArrowUp")
    sagittal.filter(has_text=f"{i0 + 1} / 24").wait_for()
    page.wait_for_timeout(300)
    on_axial, on_sagittal = _bright_centre(page, "viewport-axial"), _bright_centre(page, "viewport-sagittal")
    white = _colour(page, *on_axial)
    assert white.min() > 200, "the marker is white under the file's window"

    # organ painted on the sagittal view shows on the axial view at once, before any save
    page.get_by_test_id("label-organ").click()
    x, y = on_sagittal
    _drag(page, [(x - 4, y), (x + 4, y)])  # the brush paints while the mouse moves
    page.wait_for_timeout(200)
    green = _colour(page, *on_axial)
    assert green[1] - green[0] > 40 and green[1] - green[2] > 40, f"no organ colour on the axial view: {green}"
    shot(page, "22-annotate-brush-crosses-planes")
    page.keyboard.press("Control+z")  # undone in every plane
    page.wait_for_timeout(200)
    assert np.abs(_colour(page, *on_axial) - white).max() < 20
    page.keyboard.press("Control+y")
    page.wait_for_timeout(200)
    assert _colour(page, *on_axial)[1] - _colour(page, *on_axial)[0] > 40
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()

    api = Api(web_server.url, key)
    image = read_nifti(path).array  # the datasets' reader: (z, y, x, t)
    assert image[k0, j0, i0, 0] == 1000
    organ = _frame_mask(api, rid, worklist_id, "organ", k0, tmp_path)
    assert organ is not None and organ.shape == (20, 24) and organ[j0, i0], "the sagittal stroke missed the marker"
    rows, cols = np.nonzero(organ)
    assert set(cols) == {i0} and np.abs(rows - j0).max() <= 4, "a sagittal stroke is one column i0 of each frame"

    # vessel painted on the axial view over the marker replaces organ there (one label per voxel)
    page.get_by_test_id("label-vessel").click()
    x, y = on_axial
    _drag(page, [(x - 4, y), (x + 4, y)])
    page.wait_for_timeout(200)
    blue = _colour(page, *on_sagittal)
    assert blue[2] - blue[1] > 40, f"no vessel colour on the sagittal view: {blue}"
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()
    shot(page, "22-annotate-nifti-brush")
    vessel = _frame_mask(api, rid, worklist_id, "vessel", k0, tmp_path)
    assert vessel is not None and vessel[j0, i0], "the axial stroke missed the marker"
    rows, cols = np.nonzero(vessel)
    assert np.hypot(rows - j0, cols - i0).max() <= 5, "a small brush paints only near the stroke"
    organ = _frame_mask(api, rid, worklist_id, "organ", k0, tmp_path)
    assert organ is None or not organ[j0, i0], "the voxel is the vessel's now"


def test_brush_masks_on_a_video_frame_and_a_colour_image(web_server, page, tmp_path, videos):
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    rgb[:, :] = (40, 120, 200)
    photo = tmp_path / "photo.png"
    Image.fromarray(rgb).save(photo)
    email, key = make_user(web_server)
    _, worklist_id, ids = worklist_with(web_server, [str(videos["mp4"]), str(photo)], email,
                                        segmentation_data=SEGMENTS)
    api = Api(web_server.url, key)
    sign_in(page, email)
    for rid, (height, width), frame in [(ids[0], (32, 48), 3), (ids[1], (30, 40), 0)]:
        page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
        page.get_by_test_id("label-liver").wait_for()
        viewport = page.get_by_test_id("viewport-axial")
        viewport.hover()
        for _ in range(frame):
            page.keyboard.press("ArrowDown")
        page.get_by_test_id("slice-counter-axial").filter(has_text=f"{frame + 1} / ").wait_for()
        page.get_by_test_id("label-liver").click()
        box = viewport.bounding_box()
        y = box["y"] + box["height"] / 2
        _drag(page, [(box["x"] + box["width"] * f, y) for f in (0.4, 0.5, 0.6)])
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_test_id("save-status").filter(has_text="Saved").wait_for()
        mask = _frame_mask(api, rid, worklist_id, "liver", frame, tmp_path)
        assert mask is not None and mask.shape == (height, width), (rid, None if mask is None else mask.shape)
        rows, cols = np.nonzero(mask)
        assert mask[height // 2, width // 2] and abs(np.median(rows) - (height - 1) / 2) <= 1.5, "across the middle"
        assert cols.min() < width // 2 < cols.max()
    shot(page, "25-annotate-brush-on-an-image")

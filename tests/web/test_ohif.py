"""OHIF Viewer (npm's @ohif/app build, fetched by `make ohif`) served at /ohif/, reading our DICOMweb
with the web app's session: its study list shows a study uploaded to the server, and the study
opens in its viewer, which draws the CT slice with the stored window."""

from __future__ import annotations

import io
import re

import httpx
import numpy as np
import pytest
from PIL import Image
from web_helpers import ct_series_files, make_user, shot, sign_in

from datamint import Api
from datamint.server.webapp.router import OHIF_DIR

SLICES, SIZE, HU = 5, 64, 40  # HU 40 at window 40/400 is mid grey (128)


@pytest.fixture
def ohif_installed() -> None:
    if not (OHIF_DIR / "index.html").is_file():
        pytest.fail(f"OHIF Viewer is not installed ({OHIF_DIR} has no index.html): run `make ohif`")


def test_ohif_lists_and_opens_a_study_from_our_server(ohif_installed, web_server, page, tmp_path):
    key = web_server.new_org()  # an organization of its own: the study list holds only this study
    email, _ = make_user(web_server, admin_key=key)
    paths = ct_series_files(tmp_path, lambda k: np.full((SIZE, SIZE), HU), SLICES, SIZE)
    with Api(web_server.url, key) as api:
        api.resources.upload_resources(paths, assemble_dicoms=False, progress_bar=False)
    # without a session the viewer's DICOMweb requests are refused
    assert httpx.get(f"{web_server.url}/dicomweb/studies").status_code == 401

    failed: list[str] = []
    frames: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if "/dicomweb/" in r.url and r.status >= 400
            else frames.append(r.url) if re.search(r"/dicomweb/.*/frames/\d", r.url) else None)
    sign_in(page, email)
    page.goto("/ohif/")
    row = page.get_by_text("Doe, Jane")  # the study list formats the PN Doe^Jane
    row.wait_for(timeout=60_000)
    page.get_by_text("Chest CT").first.wait_for()
    shot(page, "50-ohif-study-list")
    row.click()
    page.get_by_role("button", name=re.compile("Basic Viewer")).first.click()
    page.wait_for_url(re.compile(r"/ohif/viewer\?StudyInstanceUIDs="))
    canvas = page.locator("canvas.cornerstone-canvas").first
    canvas.wait_for(timeout=60_000)
    page.wait_for_function("() => performance.getEntriesByType('resource').some(e => /\\/frames\\/\\d/.test(e.name))",
                           timeout=60_000)
    # the slice is drawn: the viewport's centre is the grey of 40 HU through the stored window 40/400
    for _ in range(40):
        box = canvas.bounding_box()
        assert box is not None
        grey = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB").getpixel(
            (int(box["width"] / 2), int(box["height"] / 2)))
        if grey != (0, 0, 0):
            break
        page.wait_for_timeout(250)
    shot(page, "51-ohif-viewer")
    assert grey[0] == grey[1] == grey[2] and abs(grey[0] - 128) <= 3, grey
    assert frames, "the viewer fetched frames over WADO-RS"
    assert not failed, failed
    assert page.get_by_text(re.compile("Something went wrong|Error", re.I)).count() == 0


def test_ohif_files_and_pages(ohif_installed, web_server):
    with httpx.Client(base_url=web_server.url) as http:
        page = http.get("/ohif/viewer", params={"StudyInstanceUIDs": "1.2.3"})  # a viewer page: index.html
        assert page.status_code == 200 and 'window.PUBLIC_URL="/ohif/"' in page.text
        csp = page.headers["content-security-policy"]
        assert "'sha256-" in csp and "frame-ancestors 'self'" in csp
        config = http.get("/ohif/app-config.js")
        assert config.status_code == 200 and "window.location.origin + '/dicomweb'" in config.text
        assert config.headers["content-type"].startswith("text/javascript")
        assert http.get("/ohif/no-such-bundle.js").status_code == 404
        assert http.get("/ohif/..%2Frouter.py").status_code == 404  # webapp/router.py: outside the build
        assert (OHIF_DIR / "VERSION").read_text().strip() == "3.13.2"

"""The web app's viewer with a big CT: time to the first painted slice, and scrolling once loaded.

Starts ``datamint server run`` (SQLite) in a subprocess, uploads a synthetic 250-slice 512×512 CT
through the SDK (assembled into one multi-frame resource), then drives Debian's Chromium with
Playwright:

* **first slice**: from ``page.goto`` of the item page (the app's code, the slice geometry and the
  first slice's values all fetched) until the first slice is on screen: the viewport's centre
  pixel shows the grey level slice 1's value maps to through the file's window;
* **scroll**: once every slice is cached ("Loaded 1274 / 1274": the 250 axial frames and the
  series' 512 sagittal and 512 coronal slices), ArrowDown 249 times in the page, each
  step waiting until the slice counter shows the new slice; the line gives the total, the mean
  per slice and the slowest step (a stutter shows there). Best of ``--repeat`` passes; the last
  slice's grey level is checked at the end of each pass.

Usage:
    PYTHONPATH=src python benchmarks/webapp.py [--slices 250] [--size 512] [--repeat 3]

Needs the built app (``make web``) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from annotations import running_server
from ingest import synthesize
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

#: Reads the grey level at the centre of the axial viewport's canvas.
CENTRE_GREY = """() => {
    const canvas = document.querySelector('[data-testid=viewport-axial] canvas');
    if (!canvas || !canvas.width) return -1;
    const copy = document.createElement('canvas');
    copy.width = canvas.width; copy.height = canvas.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(canvas, 0, 0);
    return ctx.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data[0];
}"""

#: Scrolls from the first to the last slice, one ArrowDown at a time; returns the step durations (ms).
SCROLL = """async (count) => {
    const counter = document.querySelector('[data-testid=slice-counter-axial]');
    const steps = [];
    for (let i = 2; i <= count; i++) {
        const start = performance.now();
        document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
        while (!counter.textContent.startsWith(i + ' /')) {
            if (performance.now() - start > 10000) throw new Error('slice ' + i + ' did not show within 10 s');
            await new Promise(requestAnimationFrame);
        }
        await new Promise(requestAnimationFrame);
        steps.push(performance.now() - start);
    }
    return steps;
}"""


def grey(hu: float, center: float = 40, width: float = 400) -> float:
    """The grey level DICOM's linear window maps ``hu`` to."""
    return float(np.clip((hu - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255)


def uniform_ct(folder: Path, slices: int, size: int) -> list[Path]:
    """The benchmark CT: :func:`ingest.synthesize`'s series with slice ``k`` set to ``-150 + k`` HU."""
    import pydicom

    paths = synthesize(folder, 1, slices, size)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.PixelData = np.full((size, size), 1024 - 150 + k, dtype=np.int16).tobytes()
        ds.save_as(path, enforce_file_format=True)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=250)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from datamint import Api

    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", None) as (url, key):
        folder = Path(tmp) / "ct"
        folder.mkdir()
        paths = uniform_ct(folder, args.slices, args.size)
        api = Api(url, key)
        project = api.projects.create("Benchmark CT", "")
        rid = api.resources.upload_resources([str(p) for p in paths], publish_to=project.id, progress_bar=False)[0]
        page_url = f"{url}/app/worklists/{project.worklist_id}/items/{rid}"
        first_slice, scrolls = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(args.repeat):
                context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 820})
                page = context.new_page()
                context.request.post("/auth/session", data={"api_key": key})
                expected_first = grey(-150)
                started = time.perf_counter()
                page.goto(page_url)
                page.wait_for_function(f"() => Math.abs(({CENTRE_GREY})() - {expected_first}) <= 1.5",
                                       polling="raf", timeout=120_000)
                first_slice.append(time.perf_counter() - started)
                # every slice of the three planes (a series is resliced: + 2 × size sagittal/coronal)
                page.get_by_test_id("loaded").filter(
                    has_text=re.compile(r"Loaded (\d+) / \1 slices")).wait_for(timeout=300_000)
                page.get_by_test_id("viewport-axial").hover()
                steps = page.evaluate(SCROLL, args.slices)
                page.wait_for_timeout(100)
                last = page.evaluate(CENTRE_GREY)
                if abs(last - grey(-150 + args.slices - 1)) > 1.5:
                    sys.exit(f"webapp: the last slice shows grey {last}, expected {grey(-150 + args.slices - 1):.1f}")
                scrolls.append(steps)
                context.close()
            browser.close()
    best = min(scrolls, key=sum)
    print(f"webapp: {args.slices}-slice {args.size}x{args.size} CT  first slice painted {min(first_slice):.2f} s  "
          f"scroll {len(best) + 1} slices {sum(best) / 1000:.2f} s ({np.mean(best):.1f} ms/slice, slowest "
          f"{max(best):.0f} ms)  best of {args.repeat}")


if __name__ == "__main__":
    main()

"""The web app's memory with a very long study: does a 2,000-slice CT exhaust the tab?

Starts ``datamint server run`` (SQLite) in a subprocess, uploads a synthetic CT of ``--slices``
``--size``² slices through the SDK (assembled into one multi-frame resource) into a project whose
worklist has a segmentation label (so the annotator's labelmap is allocated, as when annotating),
then drives Debian's Chromium with Playwright as the annotator would:

* opens the item (first slice painted), then scrolls through **every axial slice** (ArrowDown, each
  step waiting until the slice is shown) and then through **every sagittal slice** (each crosses
  all 2,000 frames), so every slice of both planes passes through the viewer's cache;
* samples, every 0.25 s, the resident memory (VmRSS) of the Chromium processes this script
  started: the tab's renderer and the GPU process (where WebGL textures live), and reports the
  peaks, the JS heap at the end (Chrome DevTools Protocol ``Performance.getMetrics``) and the last
  axial slice's grey level (checked: slices evicted from the cache are fetched again correctly).

The line compares with the study's own size (its values as int16) and the app's budgets: 512 MiB of
slices (``web/src/viewer/cornerstone.ts``) plus one byte per voxel of labelmap.

Usage:
    PYTHONPATH=src python benchmarks/webapp_memory.py [--slices 2000] [--size 512]

Needs the built app (``make web``) and /usr/bin/chromium. Takes a few minutes (the synthetic
series alone is ``slices × size² × 2`` bytes, 1 GB by default).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from annotations import running_server
from playwright.sync_api import sync_playwright
from webapp import CENTRE_GREY, CHROMIUM_ARGS, SCROLL, grey, uniform_ct

MIB = 1024 * 1024

#: The question here is memory, not speed: a step may take up to a minute on a busy machine.
SCROLL_PATIENTLY = SCROLL.replace("> 10000", "> 60000").replace("within 10 s", "within 60 s")
#: Scrolls the sagittal view from its first to its last slice (as SCROLL_PATIENTLY does the axial one).
SCROLL_SAGITTAL = SCROLL_PATIENTLY.replace("slice-counter-axial", "slice-counter-sagittal")


def _descendants(root: int) -> list[int]:
    """The processes started (transitively) by ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rss_by_type(root: int) -> dict[str, int]:
    """Resident bytes of our Chromium's renderer and GPU processes."""
    totals = {"renderer": 0, "gpu-process": 0}
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/status") as f:
                rss = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
        for kind in totals:
            if f"--type={kind}" in cmdline:
                totals[kind] += rss
    return totals


class Sampler(threading.Thread):
    """Polls the renderer and GPU memory every 0.25 s and keeps the peaks."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"renderer": 0, "gpu-process": 0, "sum": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = _rss_by_type(os.getpid())
            for kind, value in [*now.items(), ("sum", sum(now.values()))]:
                self.peak[kind] = max(self.peak[kind], value)
            self.stop.wait(0.25)


def _stage(started: float, what: str) -> None:
    print(f"[{time.perf_counter() - started:7.1f} s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=2000)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    from datamint import Api

    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "data", None) as (url, key):
        folder = Path(tmp) / "ct"
        folder.mkdir()
        paths = uniform_ct(folder, args.slices, args.size)
        api = Api(url, key)
        project = api.projects.create("Benchmark long CT", "")
        api.annotationsets.update(project.worklist_id, segmentation_data={
            "segmentationValueType": "single_label",
            "definitions": [{"identifier": "liver", "color": [255, 0, 0], "index": 1}]})
        t0 = time.perf_counter()
        _stage(t0, "synthesized; uploading")
        rid = api.resources.upload_resources([str(p) for p in paths], publish_to=project.id, progress_bar=False)[0]
        _stage(t0, "uploaded")
        for p in paths:
            p.unlink()
        page_url = f"{url}/app/worklists/{project.worklist_id}/items/{rid}"
        sampler = Sampler()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 820})
            page = context.new_page()
            page.on("console", lambda m: print(f"console {m.type}: {m.text}", file=sys.stderr)
                    if m.type in ("error", "warning") else None)
            context.request.post("/auth/session", data={"api_key": key})
            sampler.start()
            started = time.perf_counter()
            page.goto(page_url)
            page.wait_for_function(f"() => Math.abs(({CENTRE_GREY})() - {grey(-150)}) <= 1.5",
                                   polling="raf", timeout=300_000)
            _stage(t0, "first slice painted")
            page.get_by_test_id("label-liver").wait_for(timeout=300_000)  # the labelmap exists
            _stage(t0, "annotation layer ready")
            page.wait_for_timeout(1000)
            opened = sum(_rss_by_type(os.getpid()).values())
            page.get_by_test_id("viewport-axial").hover()
            page.evaluate(SCROLL_PATIENTLY, args.slices)
            page.wait_for_timeout(100)
            last = page.evaluate(CENTRE_GREY)
            _stage(t0, "axial scrolled")
            page.get_by_test_id("viewport-sagittal").hover()
            page.keyboard.press("Home")
            page.get_by_test_id("slice-counter-sagittal").filter(has_text=f"1 / {args.size}").wait_for()
            page.evaluate(SCROLL_SAGITTAL, args.size)
            elapsed = time.perf_counter() - started
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            sampler.stop.set()
            sampler.join()
            context.close()
            browser.close()
    if abs(last - grey(-150 + args.slices - 1)) > 1.5:
        sys.exit(f"webapp memory: the last slice shows grey {last}, expected {grey(-150 + args.slices - 1):.1f}")
    voxels = args.slices * args.size * args.size
    study = voxels * 2
    labelmaps = voxels * (1 if voxels > 64 * MIB else 3)  # axial only above MPR_LABELMAP_VOXELS (controller.ts)
    print(f"webapp memory: {args.slices}-slice {args.size}x{args.size} CT ({study / MIB:.0f} MiB of values)  "
          f"tab {opened / MIB:.0f} MiB once open, peak {sampler.peak['sum'] / MIB:.0f} MiB "
          f"(renderer {sampler.peak['renderer'] / MIB:.0f} + GPU "
          f"{sampler.peak['gpu-process'] / MIB:.0f})  JS heap {metrics.get('JSHeapUsedSize', 0) / MIB:.0f} MiB  "
          f"budgets: slices 512 MiB + labelmaps {labelmaps / MIB:.0f} MiB  every axial and sagittal slice shown "
          f"in {elapsed:.0f} s")


if __name__ == "__main__":
    main()

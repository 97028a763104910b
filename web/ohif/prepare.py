"""Fetch OHIF Viewer's published build and prepare it to be served by Datamint at ``/ohif/``.

``npm pack @ohif/app@<version>`` (the npm client: its cache, proxy and registry settings apply)
downloads the package, whose ``dist/`` is OHIF's production build; its SHA-512 must match the
pinned one. Then, into ``--out`` (replaced whole, atomically):

- ``dist/`` without ``ort/`` (ONNX Runtime, 136 MB, for the AI segmentation tools) and
  ``dicom-microscopy-viewer/`` (20 MB, slide microscopy), both loaded only by those modes;
- the build's absolute paths moved below ``/ohif/`` (it was built for ``/``): the webpack public
  path of each bundle and the links of ``index.html``; the service-worker script, which
  unregisters every service worker of the origin, is dropped from the page;
- ``app-config.js`` replaced by ours (``web/ohif/app-config.js``: Datamint's DICOMweb root).

Needs only Python's standard library and npm. Usage:
    python web/ohif/prepare.py --out src/datamint/server/webapp/ohif
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.13.2"
#: ``npm view @ohif/app@3.13.2 dist.integrity``
INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
PRUNED = ("ort/", "dicom-microscopy-viewer/")
BASE = "/ohif/"
HERE = Path(__file__).resolve().parent


def fetch(folder: Path) -> Path:
    """The package tarball, checked against :data:`INTEGRITY`."""
    subprocess.run(["npm", "pack", f"@ohif/app@{VERSION}", "--pack-destination", str(folder), "--silent",
                    "--no-audit", "--no-fund"], check=True, stdout=subprocess.DEVNULL)
    tarball = folder / f"ohif-app-{VERSION}.tgz"
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise SystemExit(f"{tarball.name}: SHA-512 {digest} is not the pinned {INTEGRITY}")
    return tarball


def extract(tarball: Path, out: Path) -> None:
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/dist/")
            if name == member.name or not member.isfile() or name.startswith(PRUNED):
                continue
            target = out / name
            if not target.resolve().is_relative_to(out.resolve()):
                raise SystemExit(f"unsafe path in the package: {member.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())


def rebase(out: Path) -> None:
    """Move the build from ``/`` to :data:`BASE`."""
    moved = 0
    for script in out.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        if '__webpack_require__.p = "/";' in text:
            script.write_text(text.replace('__webpack_require__.p = "/";', f'__webpack_require__.p = "{BASE}";'),
                              encoding="utf-8")
            moved += 1
    if not moved:
        raise SystemExit("no webpack public path found in the bundles: has the build's shape changed?")
    index = out / "index.html"
    html = index.read_text(encoding="utf-8")
    html = html.replace('<script rel="preload" as="script" type="module" src="/init-service-worker.js"></script>', "")
    html = html.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{BASE}"')
    html = html.replace('src="/', f'src="{BASE}').replace('href="/', f'href="{BASE}')
    if f'window.PUBLIC_URL="{BASE}"' not in html or "init-service-worker" in html:
        raise SystemExit("index.html does not have the expected shape")
    index.write_text(html, encoding="utf-8")
    for name in ("init-service-worker.js", "sw.js", "_redirects", "_headers", "serve.json"):
        (out / name).unlink(missing_ok=True)
    shutil.copyfile(HERE / "app-config.js", out / "app-config.js")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out: Path = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="ohif-", dir=out.parent) as tmp:
        staged = Path(tmp) / "ohif"
        extract(fetch(Path(tmp)), staged)
        rebase(staged)
        (staged / "VERSION").write_text(VERSION + "\n")
        old = Path(tmp) / "old"
        if out.exists():
            out.rename(old)
        staged.rename(out)


if __name__ == "__main__":
    main()

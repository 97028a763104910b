"""The wheel ships what the server serves: migrations, the web app's build and OHIF Viewer's.

The built files are git-ignored (``make web`` and ``make ohif`` make them, ``make test`` runs both
first); a wheel built from the tree must carry them, or a server installed from it answers 503 where
the source checkout answers pages. Builds one wheel from a copy of the tree (nothing is left in
the checkout) with the test venv's setuptools, no download.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "datamint"


def _shipped(folder: Path) -> set[str]:
    """The files under ``folder`` of the source tree, as paths inside the wheel."""
    return {f"datamint/{p.relative_to(PACKAGE).as_posix()}" for p in folder.rglob("*") if p.is_file()}


def test_the_wheel_carries_migrations_the_web_app_and_ohif(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(tree)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("datamint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    webapp, ohif = PACKAGE / "server" / "webapp" / "static", PACKAGE / "server" / "webapp" / "ohif"
    assert (webapp / "index.html").is_file() and (ohif / "index.html").is_file(), "run make web and make ohif"
    for folder in (webapp, ohif, PACKAGE / "server" / "db" / "migrations"):
        expected = {n for n in _shipped(folder) if not n.endswith((".pyc", ".pyo"))}
        assert expected and expected <= names, sorted(expected - names)[:5]
    assert "datamint/server/webapp/ohif/app-config.js" in names  # ours, which points OHIF at /dicomweb

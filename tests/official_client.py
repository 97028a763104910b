"""Run the official ``datamint`` 2.45.0 client (in its own virtualenv) against a live server.

The interpreter is ``DATAMINT_OFFICIAL_PYTHON`` or ``.venv-official/bin/python`` (built by
``make test``). Scripts get ``DATAMINT_API_URL`` / ``DATAMINT_API_KEY`` in their environment and
print what the test checks.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def official_python() -> str:
    """Path of the Python interpreter that has the official client installed."""
    path = os.environ.get("DATAMINT_OFFICIAL_PYTHON") or str(REPO / ".venv-official" / "bin" / "python")
    if not Path(path).exists():
        raise AssertionError(f"The official client's virtualenv is missing ({path}); run 'make official-client'")
    return path


def run_official(script: str, url: str, api_key: str, timeout: float = 300) -> str:
    """Run ``script`` with the official client against ``url``; return its stdout (fails on error)."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DATAMINT_API_URL": url, "DATAMINT_API_KEY": api_key, "DATAMINT_LOG_FILE": "0",
               "HOME": home, "XDG_CONFIG_HOME": str(Path(home) / "config"), "PYTHONPATH": "",
               "MLFLOW_TRACKING_URI": "", "MLFLOW_TRACKING_TOKEN": "", "PYTHONWARNINGS": "ignore"}
        for name in ("DATAMINT_DATA_DIR", "MLFLOW_WORKSPACE", "DATAMINT_PROJECT_ID", "MLFLOW_EXPERIMENT_NAME"):
            env.pop(name, None)
        result = subprocess.run([official_python(), "-c", textwrap.dedent(script)], env=env, capture_output=True,
                                text=True, timeout=timeout, cwd=home)
    if result.returncode != 0:
        raise AssertionError(f"official client failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return result.stdout

"""Helpers of the models tests: run a script with the stock MLflow client (or our SDK) in a subprocess.

MLflow keeps process-wide state (tracking URI, workspace, the official client's plug-ins), so
each client script runs in its own interpreter, with the environment a user would set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[3] / "src")


def run_python(script: str, env: dict[str, str], cwd: Path, timeout: float = 600) -> dict[str, Any]:
    """Run ``script`` with this venv's Python and our ``src``; the JSON object its last line prints."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MLFLOW_", "DATAMINT_PROJECT", "DATAMINT_API"))}
    full_env = {**inherited, "PYTHONPATH": SRC, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONWARNINGS": "ignore",
                "GIT_PYTHON_REFRESH": "quiet", **env}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=full_env, capture_output=True,
                            text=True, timeout=timeout, cwd=cwd)
    if result.returncode != 0:
        raise AssertionError(f"client script failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])

"""The suite's own settings: an empty or unknown ``DATAMINT_TEST_BACKENDS`` is an error, never a
silent run in which every server test is skipped and pytest exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


@pytest.mark.parametrize(("value", "phrase"), [("", "names no backend"), (" , ", "names no backend"),
                                               ("sqlite,mysql", "unknown ['mysql']")])
def test_a_backend_list_that_names_nothing_runnable_fails_the_run(value, phrase):
    env = {**os.environ, "DATAMINT_TEST_BACKENDS": value}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co",
                             str(TESTS / "server" / "test_times.py")], env=env, cwd=TESTS.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert phrase in result.stdout + result.stderr
    assert "use a comma-separated subset of sqlite, postgresql" in result.stdout + result.stderr

"""The CLI points of issue 10 (a new user's first hour), each against the real command: version,
help without internal types, ``config`` tests before saving, ``upload`` without a terminal, a bad
key or a wrong URL, non-image files, duplicates, and ``sample-data``."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest

from datamint import Api, __version__, configs
from fixtures.files import png_file


def _datamint(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "datamint.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd, stdin=stdin)


def _env(server, key: str) -> dict[str, str]:
    return {**os.environ, "DATAMINT_API_URL": server.url, "DATAMINT_API_KEY": key}


def test_version():
    result = _datamint("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"datamint {__version__}"


HELPS = [("--help",), ("config", "--help"), ("upload", "--help"), ("sample-data", "--help"), ("server", "--help"),
         ("server", "run", "--help"), ("server", "migrate", "--help"), ("server", "create-org", "--help")]


@pytest.mark.parametrize("args", HELPS, ids=lambda a: " ".join(a))
def test_help_shows_no_internal_types_and_explains_every_option(args):
    result = _datamint(*args)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float|path|list\[[^>]*\]|Path|int range)>", text), text
    assert "…" not in text  # nothing cut off
    options = text.split("Options:")[1] if "Options:" in text else ""
    for line in options.splitlines():  # an option line alone (no help text on it or the next line)
        if re.match(r"^  -", line) and len(line.split("  ")) < 3:
            following = options.splitlines()[options.splitlines().index(line) + 1]
            assert following.startswith(" " * 10), f"no help text for: {line.strip()}"
    if args == ("upload", "--help"):
        assert "--segmentation-path, --segmentation_path PATH" in text and "Swap the first two axes" in text
        assert "--on-duplicate keep|skip" in text


def test_config_tests_before_saving_and_test_exits_1_on_failure(server):
    bad = _datamint("config", "--api-key", "dmk_wrong_key_0123456789", "--url", server.url)
    assert bad.returncode == 1 and "Connection test failed" in bad.stderr and "Nothing was saved" in bad.stderr
    assert configs.read_config() == {}
    wrong_path = _datamint("config", "--api-key", server.admin_key, "--url", f"{server.url}/api")
    assert wrong_path.returncode == 1 and "is not a Datamint server URL" in wrong_path.stderr
    assert f"use the server's base URL, e.g. {server.url}" in wrong_path.stderr and configs.read_config() == {}
    unreachable = "http://127.0.0.1:9"
    untested = _datamint("config", "--api-key", server.admin_key, "--url", unreachable, "--no-test")
    assert untested.returncode == 0 and configs.read_config()["default_api_url"] == unreachable
    down = _datamint("config", "--test")
    assert down.returncode == 1 and "Could not reach" in down.stderr
    assert _datamint("config").returncode == 0  # showing the config tests nothing
    good = _datamint("config", "--url", server.url)
    assert good.returncode == 0 and "Connected" in good.stdout
    assert configs.read_config() == {"api_key": server.admin_key, "default_api_url": server.url}
    assert _datamint("config", "--test").returncode == 0


def test_api_names_a_dict_given_as_key():
    with pytest.raises(TypeError, match=r"accept_invitation\(\) returns a dict, pass its \['api_key'\]"):
        Api("http://127.0.0.1:9", {"api_key": "dmk_x", "user": {}})  # type: ignore[arg-type]


def test_upload_without_a_terminal_needs_yes_and_checks_the_key_first(server, tmp_path):
    png = png_file(tmp_path / "x.png")
    key = server.new_org()
    no_tty = _datamint("upload", str(png), env=_env(server, key))
    assert no_tty.returncode == 1 and "pass --yes" in no_tty.stderr and "Aborted" not in no_tty.stdout
    assert "1 file(s) to upload" in no_tty.stdout and Api(server.url, key).resources.get_list() == []
    bad_key = _datamint("upload", str(png), "--yes", env=_env(server, "dmk_wrong_key_0123456789"))
    assert bad_key.returncode == 1 and "to upload" not in bad_key.stdout  # refused before the plan
    assert bad_key.stderr.count("\n") == 1 and "API key" in bad_key.stderr
    env = {**_env(server, key), "DATAMINT_API_URL": f"{server.url}/api"}
    wrong_url = _datamint("upload", str(png), "--yes", env=env)
    assert wrong_url.returncode == 1 and "is not a Datamint server URL" in wrong_url.stderr


def _run_in_terminal(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin (a person at a keyboard) and answer its question."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "datamint.cli", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    output, deadline = b"", time.monotonic() + 120
    while b"Upload these files?" not in output and time.monotonic() < deadline:
        if select.select([master], [], [], 1)[0]:
            output += os.read(master, 4096)
    os.write(master, answer)
    while proc.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                output += os.read(master, 4096)
            except OSError:
                break
    code = proc.wait(timeout=60)
    os.close(master)
    return code, output.decode("utf-8", "replace")


def test_upload_asks_at_a_terminal(server, tmp_path):
    png = png_file(tmp_path / "x.png")
    key = server.new_org()
    code, output = _run_in_terminal(["upload", str(png)], _env(server, key), b"n\n")
    assert code == 1 and "Cancelled; nothing was uploaded" in output
    assert Api(server.url, key).resources.get_list() == []
    code, output = _run_in_terminal(["upload", str(png)], _env(server, key), b"y\n")
    assert code == 0 and "Uploaded 1 of 1 file(s)" in output
    assert len(Api(server.url, key).resources.get_list()) == 1


def test_upload_says_what_was_stored_as_what_and_names_files_once(server, tmp_path):
    key = server.new_org()
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    png = png_file(tmp_path / "x.png")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"this is not DICOM at all")
    result = _datamint("upload", str(notes), str(png), str(junk), "--yes", env=_env(server, key))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "notes.txt: not a medical image, image or video (text/plain); it will be stored as a plain file" \
        in result.stdout
    assert "Stored as: 1 image/png, 1 text/plain" in result.stdout
    (line,) = [line for line in result.stderr.splitlines() if "junk.dcm" in line]
    assert line.count("junk.dcm") == 1, line
    stored = {r.filename: r.mimetype for r in Api(server.url, key).resources.get_list()}
    assert stored == {"notes.txt": "text/plain", "x.png": "image/png"}


def test_upload_duplicates_are_kept_by_default_or_skipped(server, tmp_path):
    key = server.new_org()
    png = png_file(tmp_path / "x.png")
    first = _datamint("upload", str(png), "--yes", env=_env(server, key))
    assert first.returncode == 0 and "already on the server" not in first.stdout
    (original,) = [r.id for r in Api(server.url, key).resources.get_list()]
    again = _datamint("upload", str(png), "--yes", env=_env(server, key))
    assert again.returncode == 0
    assert f"1 file(s) were already on the server and were uploaded again (--on-duplicate skip skips them): " \
           f"x.png (as {original})" in again.stdout
    skipped = _datamint("upload", str(png), "--yes", "--on-duplicate", "skip", env=_env(server, key))
    assert skipped.returncode == 0 and "Uploaded 0 of 1 file(s)" in skipped.stdout
    assert f"Skipped 1 file(s) already on the server (same content): x.png = {original}" in skipped.stdout
    assert len(Api(server.url, key).resources.get_list()) == 2
    assert _datamint("upload", str(png), "--yes", "--on-duplicate", "maybe", env=_env(server, key)).returncode == 2


def test_sample_data_writes_a_consistent_study(tmp_path):
    result = _datamint("sample-data", "study", cwd=tmp_path)
    assert result.returncode == 0 and "liver_mask.nii.gz" in result.stdout
    slices = sorted((tmp_path / "study" / "ct").glob("*.dcm"))
    assert [p.name for p in slices] == [f"slice{k:03d}.dcm" for k in range(1, 17)]
    first = pydicom.dcmread(slices[0])
    assert (first.Rows, first.Columns, first.Modality, str(first.PatientName)) == (64, 80, "CT", "Sample^Patient")
    hu = first.pixel_array.astype(float) * float(first.RescaleSlope) + float(first.RescaleIntercept)
    assert hu.min() == -1000 and hu.max() == 700  # air and spine, in Hounsfield units
    mask = nibabel.load(tmp_path / "study" / "liver_mask.nii.gz")
    assert mask.shape == (80, 64, 16) and set(np.unique(np.asanyarray(mask.dataobj))) == {0, 1, 2}
    tumor_slice = pydicom.dcmread(slices[8]).pixel_array.astype(float) - 1024
    labels = np.asanyarray(mask.dataobj)[:, :, 8].T  # (rows, columns) of slice 9
    assert np.all(tumor_slice[labels == 2] == 110) and np.all(tumor_slice[labels == 1] == 60)
    assert nibabel.load(tmp_path / "study" / "mr.nii.gz").shape == (48, 40, 12)
    before = slices[0].read_bytes()
    again = _datamint("sample-data", "study", cwd=tmp_path)
    assert again.returncode == 0 and slices[0].read_bytes() == before  # the same study every time

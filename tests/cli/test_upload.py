"""``datamint upload`` against the real server: selection rules, summary, confirmation, report, exit code."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from datamint import Api
from datamint.cli.upload import _pair_segmentations, parse_mung, parse_retain_attribute, upload_command
from datamint.cli.upload_files import select_files
from fixtures.files import nibabel_file, png_file, pydicom_file, write_ct_series


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(upload_command)
    return app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    write_ct_series(root / "ct", slices=3)
    png_file(root / "photo.png")
    (root / "notes.txt").write_text("ignored by default")
    (root / ".hidden.png").write_bytes(b"x")
    shutil.copy(nibabel_file("example4d.nii.gz"), root / "ct" / "vol.nii.gz")
    (root / "ct" / "vol.json").write_text(json.dumps({"Modality": "MR", "site": "x"}))
    (root / "deep" / "deeper").mkdir(parents=True)
    png_file(root / "deep" / "deeper" / "far.png")
    shutil.copy(pydicom_file("test-SR.dcm"), root / "report.dcm")
    return root


def test_selection_rules(folder):
    flat = select_files([folder])
    assert sorted(p.name for p in flat.files) == ["photo.png", "report.dcm"]
    assert flat.skipped[".txt files"] == 1 and flat.skipped["system or hidden file"] == 1
    one_level = select_files([folder], recursive=True, max_depth=1)
    assert "far.png" not in {p.name for p in one_level.files} and "vol.nii.gz" in {p.name for p in one_level.files}
    everything = select_files([folder], recursive=True, exclude=["*.dcm"], include_extensions=["png", "nii.gz"])
    assert sorted(p.name for p in everything.files) == ["far.png", "photo.png", "vol.nii.gz"]
    sidecars = dict(zip((p.name for p in everything.files), everything.metadata, strict=True))
    assert sidecars["vol.nii.gz"] == folder / "ct" / "vol.json" and sidecars["photo.png"] is None
    assert [p.name for p in select_files([folder], recursive=True, include=["ct/*"]).files][:1] == ["ct_000.dcm"]
    with pytest.raises(FileNotFoundError):
        select_files([folder / "missing"])


def test_option_parsers():
    assert parse_retain_attribute("0x0010,0x0020") == (0x10, 0x20)
    assert parse_retain_attribute("PatientID") == "PatientID"
    assert parse_mung("all") == "all" and parse_mung("1,2") == [1, 2] and parse_mung(None) is None
    for bad in ("0,x", "a b"):
        with pytest.raises(typer.BadParameter):
            parse_retain_attribute(bad)
    with pytest.raises(typer.BadParameter):
        parse_mung("0")


def test_segmentation_folder_is_paired_by_file_stem(tmp_path):
    segs = tmp_path / "segs"
    (segs / "a.d").mkdir(parents=True)  # a folder is never a segmentation
    for name in ("a.nii.gz", "a.mask.png", "c.png"):
        (segs / name).write_bytes(b"x")
    paired = _pair_segmentations([tmp_path / "a.dcm", tmp_path / "b.dcm"], segs, "lesion")
    assert paired == [{"files": [str(segs / "a.mask.png"), str(segs / "a.nii.gz")], "names": "lesion"}, None]


def test_upload_folder_summary_confirmation_and_report(server, folder, monkeypatch):
    key = server.new_org()
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", key)
    (folder / "broken.dcm").write_text("not dicom at all")
    runner = CliRunner()
    args = [str(folder), "-r", "--channel", "cli", "--tag", "t1", "--retain-attribute", "0x0010,0x0040"]

    declined = runner.invoke(_app(), args, input="y\n")  # no terminal: no question, whatever stdin says
    assert declined.exit_code == 1 and "pass --yes" in declined.output
    api = Api(server.url, key)
    assert api.resources.get_list() == []
    assert "7 file(s) to upload" in declined.output and "skipped 1 DICOM report" in declined.output

    result = runner.invoke(_app(), [*args, "--yes"])
    assert result.exit_code == 1, result.output
    assert "Uploaded 6 of 7 file(s) as 4 resource(s)" in result.output
    assert "broken.dcm" in result.output and "not a DICOM" in result.output
    resources = {r.filename: r for r in api.resources.get_list(channel="cli")}
    assert {"photo.png", "far.png", "vol.nii.gz"} <= set(resources) and len(resources) == 4
    series = next(r for name, r in resources.items() if name.endswith(".dcm"))
    assert series.metadata["frame_count"] == 3 and series.tags == ["t1"]
    assert resources["vol.nii.gz"].modality == "MR" and resources["vol.nii.gz"].metadata["site"] == "x"
    stored = api.resources.download_resource_file(series)
    assert stored.PatientIdentityRemoved == "YES" and stored.PatientSex == "F"


def test_upload_files_with_yes_and_project(server, tmp_path, monkeypatch):
    key = server.new_org()
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", key)
    api = Api(server.url, key)
    project = api.projects.create("cli-project", "d")
    (tmp_path / "a" / "b").mkdir(parents=True)
    png = png_file(tmp_path / "a" / "b" / "x.png")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_app(), ["a/b/x.png", "--project", "cli-project", "--mungfilename", "1", "--yes",
                                         "--retain-pii"])
    assert result.exit_code == 0, result.output
    assert [r.filename for r in api.projects.get_project_resources(project)] == ["b_x.png"]
    assert png.exists()
    missing = CliRunner().invoke(_app(), ["nope.png", "--yes"])
    assert missing.exit_code == 1 and "No such file" in missing.output


def test_dicom_is_deidentified_whatever_its_file_name(server, tmp_path, monkeypatch):
    key = server.new_org()
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", key)
    (source,) = write_ct_series(tmp_path / "s", slices=1)
    scan = tmp_path / "IM0001.IMA"  # a scanner's own extension: not recognisable as DICOM by name
    shutil.copy(source, scan)
    result = CliRunner().invoke(_app(), [str(scan), "--yes"])
    assert result.exit_code == 0, result.output
    assert "de-identify DICOM: yes" in result.output
    api = Api(server.url, key)
    (resource,) = api.resources.get_list()
    stored = api.resources.download_resource_file(resource)
    assert stored.PatientIdentityRemoved == "YES" and "Doe" not in str(stored.PatientName)


def test_datamint_upload_subcommand_and_legacy_script(server, tmp_path):
    png = png_file(tmp_path / "x.png")
    env = {"DATAMINT_API_URL": server.url, "DATAMINT_API_KEY": server.new_org(),
           "PYTHONPATH": ":".join(sys.path), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    out = subprocess.run([sys.executable, "-m", "datamint.cli", "upload", str(png), "--yes"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Uploaded 1 of 1" in out.stdout
    legacy = subprocess.run([sys.executable, "-c", "from datamint.cli.upload import legacy_main; legacy_main()",
                             "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert legacy.returncode == 0 and "--retain-pii" in legacy.stdout


def test_upload_with_a_segmentation_mask(server, tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    key = server.new_org()
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", key)
    image = png_file(tmp_path / "scan.png")
    width, height = Image.open(image).size
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[2:6, 3:9] = 255
    Image.fromarray(mask).save(tmp_path / "scan_mask.png")
    result = CliRunner().invoke(_app(), [str(image), "--segmentation-path", str(tmp_path / "scan_mask.png"),
                                         "--segmentation-names", "lesion", "--yes"])
    assert result.exit_code == 0, result.output
    api = Api(server.url, key)
    (resource,) = api.resources.get_list()
    (annotation,) = api.annotations.get_list(resource=resource)
    assert annotation.identifier == "lesion" and annotation.type == "segmentation"
    downloaded = np.array(Image.open(io.BytesIO(api.annotations.download_file(annotation))))
    assert np.array_equal(downloaded > 0, mask > 0)

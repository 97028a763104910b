"""``datamint export``, ``datamint import`` and ``datamint download`` against the real server."""

from __future__ import annotations

import json
import zipfile

import pytest
from typer.testing import CliRunner

from datamint.cli.main import _register, app
from format_samples import annotated_project, annotations_of


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    from datamint import Api

    api = Api(server.url, server.admin_key)
    yield annotated_project(api, server, tmp_path_factory.mktemp("formats-cli"))
    api.close()


@pytest.fixture
def cli(server, monkeypatch):
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", server.admin_key)
    _register()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_export_then_import_through_the_cli(api, server, cli, sample, tmp_path):
    result = cli("export", sample.project.name, "--format", "datamint", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "out").glob("*.zip")
    assert f"{len(sample.original)} annotation(s) of 3 resource(s)" in result.output
    assert len(zipfile.ZipFile(archive).read("annotations.jsonl").splitlines()) == len(sample.original)
    target = api.projects.create("cli-import-" + sample.project.id[:8], "cli", resources_ids=[sample.png, sample.ct,
                                                                                            sample.nifti])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [], "annotations": [{"id": 1, "image_id": 9}], "categories": []}))
    result = cli("import", target.name, archive, bad)
    assert result.exit_code == 1
    assert "failed     bad.json" in result.output and "At bad.json: annotation 1: image_id 9 is not in 'images'" in \
        result.output
    assert f"{len(sample.original)} annotation(s) created; 1 file(s) failed" in result.output
    target = api.projects.get_by_id(target.id)
    assert len(annotations_of(server, [sample.png, sample.ct, sample.nifti], target.worklist_id)) == \
        len(sample.original)


def test_download_resources_resumes_and_downloads_a_dataset(api, cli, sample, tmp_path):
    first = cli("download", tmp_path / "data", "--project", sample.project.name)
    assert first.exit_code == 0, first.output
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert len(files) == 3 and any(name.startswith(sample.png) and name.endswith("image.png") for name in files)
    png = next((tmp_path / "data").glob(f"{sample.png}_*"))
    assert png.read_bytes() == api.resources.download_resource_file(sample.png, auto_convert=False)
    again = cli("download", tmp_path / "data", "--project", sample.project.name)
    assert "3 resource(s)" in again.output and "(3 already there)" in again.output
    dataset = cli("download", tmp_path / "ds", "--dataset", sample.project.dataset_id, "--format", "npy")
    assert dataset.exit_code == 0, dataset.output
    (archive,) = (tmp_path / "ds").glob("*.zip")
    assert "manifest.json" in zipfile.ZipFile(archive).namelist()
    nothing = cli("download", tmp_path / "x")
    assert nothing.exit_code == 2 and "Say what to download" in nothing.output

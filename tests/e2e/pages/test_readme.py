"""The README runs as written: its set-up commands are the two make targets, its sample-data command
writes the files the examples use, and its Python snippets, in order, run against a live server
(each backend) and leave exactly what they say."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from datamint import Api

README = Path(__file__).resolve().parents[3] / "README.md"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of the README in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_setup_commands_are_the_two_make_targets():
    shell = [b.strip() for b in blocks("bash")]
    assert shell[:2] == ["make run", "make test"]
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)


def test_every_python_snippet_runs_as_written(server, tmp_path):
    (sample,) = [b.strip() for b in blocks("bash") if b.strip().startswith("datamint sample-data")]
    args = shlex.split(sample)[1:]
    written = subprocess.run([sys.executable, "-m", "datamint.cli", *args], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    key = server.new_org()
    env = {**os.environ, "DATAMINT_API_URL": server.url, "DATAMINT_API_KEY": key, "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "home" / "config"), "DATAMINT_DATA_DIR": str(tmp_path / "home" / "dm"),
           "PYTHONWARNINGS": "ignore"}
    script = "\n\n".join(blocks("python"))
    assert len(blocks("python")) == 4 and "user_id" not in script
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"
    out = run.stdout

    api = Api(server.url, key)
    project = api.projects.get_by_name("Liver CT")
    assert project.description == "Portal-phase CT"
    resources = {r.modality or r.mimetype: r for r in api.projects.get_project_resources(project)}
    assert sorted(resources) == ["CT", "application/nifti", "image/png"]  # 16 slices became one resource
    ct = resources["CT"]
    assert ct.tags == ["batch-1"] and ct.metadata["frame_count"] == 16
    assert "16 64 80" in out and "Sample^Patient" not in out  # assembled and de-identified
    annotations = {(a.identifier, a.type, a.frame_index) for a in api.annotations.get_list(resource=ct)}
    assert annotations == {("tumor", "square", 8), ("liver", "segmentation", None), ("tumor", "segmentation", None)}
    assert (tmp_path / "labels.xlsx").stat().st_size > 0 and (tmp_path / "liver-v1.zip").stat().st_size > 0
    assert [v.name for v in api.datasets.get_versions(project.dataset_id)] == ["v1"]
    assert "torch.Size([1, 16, 64, 80]) -1000.0 ['background', 'liver', 'tumor']" in out  # Hounsfield units
    ana = api.users.get_by_email("ana@hospital.org")
    members = {m["email"]: m["roles"] for m in api.projects.get_members(project)}
    assert members["ana@hospital.org"] == ["PROJECT_ANNOTATOR"] and ana.roles == ["member"]
    assert members["annotator@hospital.org"] == ["PROJECT_REVIEWER"]
    assert "ana@hospital.org ['PROJECT_ANNOTATOR']" in out

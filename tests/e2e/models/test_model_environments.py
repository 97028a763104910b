"""Isolated per-model environments: a model whose requirements the workers lack is deployed into a
virtualenv of its own (built once per requirement set, reused after), served by a model host process
that is restarted when it dies and stopped with its deployment; unresolvable requirements and other
torch pins fail the deploy naming them; cancelling a deploy kills pip and leaves no half-built environment.

The package the workers lack is ``roman`` (pure Python, one module, on PyPI; the model imports it in
``predict_image``). The session's servers share one environments folder (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow_helpers import run_python
from PIL import Image

from datamint import Api

from conftest import one_backend, unique

# One backend: virtualenvs, pip and model host processes are the same whatever database the server
# has (each deploy here builds or reuses an environment: the slowest tests of the suite). What the
# database holds for deploys and predictions (jobs, logs, saved masks) runs on both in
# test_deploy_inference.py and test_inference_files_geometry.py, through the same code.
pytestmark = one_backend

LOG_MODELS = r"""
import json, os
import mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
dm.set_project(env["project"], api=Api(env["url"], env["key"]))

class Numeral(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "bright", "scope": "image"},
                        {"type": "category", "identifier": "numeral", "scope": "image"}]
    def predict_image(self, inputs, level=100, **params):
        import roman  # only in the model's environment
        return [[dm.Mask("bright", x.pixels > level), dm.Category("numeral", roman.toRoman(int(x.pixels.max())))]
                for x in inputs]

class Broken(Numeral):
    def load_context(self, context):
        raise RuntimeError("the weights file is missing")

class Plain(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input

with mlflow.start_run():
    for name, requirements in env["models"].items():
        dm.log_model(Numeral(), name=name, registered_model_name=name, pip_requirements=requirements)
    dm.log_model(Broken(), name="broken", registered_model_name=env["broken"], pip_requirements=env["roman"])
    mlflow.pyfunc.log_model(name="plain", python_model=Plain(), registered_model_name=env["plain"],
                            pip_requirements=env["roman"])
print(json.dumps({"ok": True}))
"""

ROMAN = ["numpy", "roman==4.2"]


def _image() -> np.ndarray:
    image = np.zeros((16, 24), np.uint8)
    image[4:9, 6:15] = 150
    image[10, 20] = 214  # the brightest pixel: CCXIV
    return image


@pytest.fixture(scope="module")
def prepared(server, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("model-envs")
    project = api.projects.create(name=unique("envs"), description="model environments")
    path = folder / "image.png"
    Image.fromarray(_image()).save(path, format="PNG")
    rid = api.resources.upload_resource(str(path))
    api.projects.add_resources([rid], project)
    wid = api.annotationsets.create("predictions", [rid], project=project.id, annotations=[
        {"type": "segmentation", "identifier": "bright", "scope": "image"},
        {"type": "category", "identifier": "numeral", "scope": "image", "values": ["CCXIV"]}])
    server.app.state.mlflow.ensure_ready()
    # A requirement the workers satisfy, unique to this run: a new environment for the concurrency test.
    fresh = [*ROMAN, f"packaging>=1.{uuid.uuid4().int % 10**6}"]
    # A local package whose build (setup.py, run by pip) writes a marker and then takes two minutes.
    slow = folder / "slowbuild"
    slow.mkdir()
    marker = folder / "slowbuild-started"
    (slow / "setup.py").write_text(f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\n"
                                   "time.sleep(120)\nfrom setuptools import setup\nsetup(name='slowbuild')\n")
    names = {"first": unique("roman"), "second": unique("roman"), "c1": unique("conc"), "c2": unique("conc"),
             "bad": unique("bad"), "torch": unique("torch"), "slow": unique("slow")}
    models = {names["first"]: ROMAN, names["second"]: ROMAN, names["c1"]: fresh, names["c2"]: fresh,
              names["bad"]: ["numpy", "roman==999.0"], names["torch"]: ["numpy", "torch==2.0.0"],
              names["slow"]: ["numpy", f"slowbuild @ {slow.as_uri()}"]}
    names.update(broken=unique("broken"), plain=unique("plain"))
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "models": models, "roman": ROMAN,
           "broken": names["broken"], "plain": names["plain"]}
    run_python(LOG_MODELS, {"TEST_INPUT": json.dumps(env)}, folder)
    yield {"api": api, "resource": rid, "worklist": wid, "server": server, "slow_dir": str(slow),
           "marker": marker, **names}
    api.close()


def _deploy(api: Api, name: str) -> Any:
    job = api.deploy.start(name, model_version=1)
    job.wait(timeout=600)
    return job


def _predict(api: Api, name: str, rid: str, **kwargs: Any) -> Any:
    job = api.inference.predict_image(name, model_version=1, resource_id=rid, **kwargs)
    api.inference.wait(job, timeout=600)
    assert job.status == "completed", job.error_message
    return job


def _host_pid(lines: list[str]) -> int:
    found = (re.search(r"model host (?:started|restarted) \(pid (\d+)", line) for line in lines)
    pids = [int(m.group(1)) for m in found if m]
    assert pids, lines
    return pids[-1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_model_with_a_package_the_workers_lack_runs_in_its_own_environment(prepared) -> None:  # type: ignore[no-untyped-def]
    api, rid = prepared["api"], prepared["resource"]
    job = _deploy(api, prepared["first"])
    assert job.status == "completed", job.error_message
    logs = job.logs()
    assert any("environment of its own" in line and "roman==4.2" in line for line in logs)
    assert any("loaded Numeral in its environment" in line for line in logs)
    host = _host_pid(logs)
    assert _alive(host)

    first = _predict(api, prepared["first"], rid, save_results=True,
                     save_results_options={"worklist_id": prepared["worklist"]})
    (predictions,) = first.predictions
    assert [(p["type"], p["identifier"], p.get("value")) for p in predictions] == [
        ("segmentation", "bright", None), ("category", "numeral", "CCXIV")]
    seg_id, cat_id = first.annotation_ids
    assert np.array_equal(api.annotations.get_by_id(seg_id).fetch_mask() > 0, _image() > 100)
    category = api.annotations.get_by_id(cat_id)
    assert (category.identifier, category.text_value, category.source) == ("numeral", "CCXIV", "model_deploy")
    assert any(f"already loaded in its model host (pid {host})" in x["line"] for x in api.jobs.logs(first.id))

    # The same requirements: the environment is reused, no pip run.
    second = _deploy(api, prepared["second"])
    assert second.status == "completed", second.error_message
    second_logs = second.logs()
    assert any("reusing the model environment" in line and "no pip run" in line for line in second_logs)
    assert not any(line.split(" ", 2)[-1].startswith("pip") for line in second_logs)

    # The host dies between two predictions: the next one starts it again and succeeds.
    os.kill(host, signal.SIGKILL)
    again = _predict(api, prepared["first"], rid, params={"level": 200})
    (predictions,) = again.predictions
    assert [(p["type"], p["identifier"], p.get("value")) for p in predictions] == [
        ("segmentation", "bright", None), ("category", "numeral", "CCXIV")]
    again_logs = [x["line"] for x in api.jobs.logs(again.id)]
    assert any(f"the model host (pid {host}) had ended (killed by SIGKILL); starting it again" in line
               for line in again_logs)
    restarted = _host_pid(again_logs)
    assert restarted != host and _alive(restarted)

    # Its environment's folder is deleted (cleanup) and the host dies: the next prediction builds it again.
    key = next(re.search(r"model environment (\w+)", line).group(1) for line in second_logs
               if "reusing the model environment" in line)
    shutil.rmtree(prepared["server"].app.state.settings.resolved_model_envs_dir / key)
    os.kill(restarted, signal.SIGKILL)
    rebuilt = _predict(api, prepared["first"], rid)
    assert [p.get("value") for p in rebuilt.predictions[0]] == [None, "CCXIV"]
    rebuilt_logs = [x["line"] for x in api.jobs.logs(rebuilt.id)]
    assert any(f"building the model environment {key}" in line for line in rebuilt_logs), rebuilt_logs
    restarted = _host_pid(rebuilt_logs)

    # Removing the deployment stops its host.
    assert api.deploy.remove_image(prepared["first"], "1")["success"] is True
    deadline = time.time() + 15
    while _alive(restarted) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(restarted)


def test_two_deploys_of_the_same_requirements_build_the_environment_once(prepared) -> None:  # type: ignore[no-untyped-def]
    api = prepared["api"]
    jobs: dict[str, Any] = {}

    def deploy(name: str) -> None:
        jobs[name] = _deploy(api, name)

    threads = [threading.Thread(target=deploy, args=(prepared[n],)) for n in ("c1", "c2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert [jobs[prepared[n]].status for n in ("c1", "c2")] == ["completed", "completed"]
    logs = [jobs[prepared[n]].logs() for n in ("c1", "c2")]
    built = [any("building the model environment" in line for line in lines) for lines in logs]
    reused = [any("reusing the model environment" in line for line in lines) for lines in logs]
    assert sorted(built) == [False, True] and sorted(reused) == [False, True]
    pip_runs = [sum("Successfully installed" in line for line in lines) for lines in logs]
    assert sorted(pip_runs) == [0, 1]


def test_unresolvable_requirements_and_another_torch_fail_the_deploy_naming_them(prepared) -> None:  # type: ignore[no-untyped-def]
    api = prepared["api"]
    bad = _deploy(api, prepared["bad"])
    assert bad.status == "failed"
    assert "roman==999.0" in bad.error_message
    assert "cannot be installed" in bad.error_message and "pip_requirements" in bad.error_message
    assert api.deploy.image_exists(prepared["bad"], "1") is False

    torch = _deploy(api, prepared["torch"])
    assert torch.status == "failed"
    assert "torch==2.0.0" in torch.error_message and "never install another torch" in torch.error_message
    assert not any("building the model environment" in line for line in torch.logs())


def test_cancelling_a_deploy_stops_pip_and_leaves_no_half_built_environment(prepared) -> None:  # type: ignore[no-untyped-def]
    api, marker = prepared["api"], prepared["marker"]
    job = api.deploy.start(prepared["slow"], model_version=1)
    deadline = time.time() + 300
    while not marker.exists():  # pip is building the package
        assert time.time() < deadline and api.deploy.get_by_id(job.id).status in ("queued", "running")
        time.sleep(0.2)
    assert api.deploy.cancel(job) is True
    deadline = time.time() + 60
    while (job := api.deploy.get_by_id(job.id)).status not in ("cancelled", "failed", "completed"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert job.status == "cancelled"
    logs = [x["line"] for x in api.jobs.logs(job.id)]
    assert "pip stopped (the deploy was cancelled)" in logs
    builders = [p for p in Path("/proc").iterdir() if p.name.isdigit() and (p / "cmdline").exists()
                and prepared["slow_dir"].encode() in (p / "cmdline").read_bytes()]
    assert builders == []
    envs = prepared["server"].app.state.settings.resolved_model_envs_dir
    key = next(re.search(r"building the model environment (\w+)", line).group(1) for line in logs
               if "building the model environment" in line)
    assert [p.name for p in envs.iterdir() if key in p.name and not p.name.endswith(".lock")] == []
    assert api.deploy.image_exists(prepared["slow"], "1") is False


def test_models_that_do_not_load_or_are_not_datamint_models_fail_in_their_environment(prepared) -> None:  # type: ignore[no-untyped-def]
    api = prepared["api"]
    broken = _deploy(api, prepared["broken"])
    assert broken.status == "failed"
    assert broken.error_message.startswith("The model does not load in its environment (RuntimeError: the weights "
                                           "file is missing). Check that it loads with mlflow.pyfunc.load_model")
    plain = _deploy(api, prepared["plain"])
    assert plain.status == "failed"
    assert plain.error_message.startswith("The model is a Plain, not a datamint.mlflow.DatamintModel: subclass "
                                          "DatamintModel")
    assert api.deploy.image_exists(prepared["broken"], "1") is False
    assert api.deploy.image_exists(prepared["plain"], "1") is False

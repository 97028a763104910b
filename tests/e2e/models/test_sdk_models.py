"""``datamint.mlflow`` (set_project, DatamintModel, log_model, load_model) and ``api.models`` against a live server."""

from __future__ import annotations

import json

from mlflow_helpers import run_python

from conftest import unique

SCRIPT = r"""
import json, os
import numpy as np
import mlflow
import datamint.mlflow as dm
from datamint import Api
from datamint.exceptions import ValidationError

env = json.loads(os.environ["TEST_INPUT"])
api = Api(env["url"], env["key"])
out = {"uri": os.environ["MLFLOW_TRACKING_URI"], "token_set": os.environ["MLFLOW_TRACKING_TOKEN"] == env["key"]}
out["project_id"] = dm.set_project(env["project_name"], api=api)

class Threshold(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "bright", "scope": "image"}]
    def predict_image(self, inputs, **params):
        return [[dm.Mask("bright", x.pixels > params.get("level", 5))] for x in inputs]

with mlflow.start_run() as run:
    info = dm.log_model(Threshold(), registered_model_name=env["model"], pip_requirements=["numpy"])
out["experiment"] = mlflow.get_experiment(run.info.experiment_id).name
model = dm.load_model(f"models:/{env['model']}/1")
x = dm.ModelInput(pixels=np.arange(9).reshape(3, 3), kind="image")
pred = model.predict(None, [x], {"mode": "slice", "level": 6})
out["mask"] = pred[0][0].mask.astype(int).tolist()
out["label"] = pred[0][0].label
try:
    model.predict(None, [x], {"mode": "volume"})
except NotImplementedError as exc:
    out["volume_error"] = str(exc)
meta = mlflow.models.Model.load(f"models:/{env['model']}/1").metadata["datamint"]
out["modes"], out["specs"] = meta["supported_modes"], meta["annotation_specs"]
out["created"] = api.models.create(env["model"] + "-empty")["name"]
out["all"] = sorted(m["name"] for m in api.models.get_all())
out["by_name"] = api.models.get_by_name(env["model"])["latest_versions"][0]["version"]
out["missing"] = api.models.get_by_name("no-such-model")
try:
    api.models.create(env["model"])
except ValidationError as exc:
    out["duplicate"] = "RESOURCE_ALREADY_EXISTS" in str(exc) or "already exists" in str(exc)
print(json.dumps(out))
"""


def test_sdk_logs_a_datamint_model_into_the_active_project(server, api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = unique("sdk-models")
    project = api.projects.create(name=name, description="sdk")
    project_id = project if isinstance(project, str) else project.id
    model = unique("thr")
    server.app.state.mlflow.ensure_ready()  # what the server's warm-up does when it starts
    env = {"url": server.url, "key": server.admin_key, "project_name": name, "model": model}

    out = run_python(SCRIPT, {"TEST_INPUT": json.dumps(env)}, tmp_path)

    assert out["uri"] == server.url and out["token_set"] is True
    assert out["project_id"] == project_id
    assert out["experiment"] == name  # runs without an experiment go to the project's own
    assert out["mask"] == [[0, 0, 0], [0, 0, 0], [0, 1, 1]] and out["label"] == "bright"
    assert "has no predict_volume()" in out["volume_error"] and "image" in out["volume_error"]
    assert out["modes"] == ["image"]
    assert out["specs"] == [{"type": "segmentation", "identifier": "bright", "scope": "image"}]
    assert out["created"] == model + "-empty"
    assert out["all"] == sorted([model, model + "-empty"])
    assert out["by_name"] == "1" and out["missing"] is None and out["duplicate"] is True

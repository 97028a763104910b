"""The official ``datamint`` 2.45.0 client against our server: its MLflow plug-in (``project_id`` in the
bodies, wire §4.9), ``api.models``, ``api.deploy`` and ``api.inference`` (wire §4.8, §10).

Its deploy/inference client talks to the "MLflow host" ``http://<host>:5000`` (wire §1.3); our server
answers both hosts on one port, which is 5000 by default. The test server listens on a random port,
so the script points that derivation at the server's own URL.

The first test's deployed model is logged with our SDK, and the official client tracks, registers,
deploys and runs it. The second logs a model with the official client's own flavor
(``datamint.mlflow.flavors.log_model``), which our server deploys into an environment with the
official package (``docs/models.md``, "Serving environment") and runs, saving its annotations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow_helpers import run_python

from datamint import Api
from fixtures.official_client import run_official
from fixtures.projects import write_nifti

from conftest import one_backend, unique

OUR_SDK = r"""
import json, os
import mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
dm.set_project(env["project"], api=Api(env["url"], env["key"]))

class Threshold(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "bright", "scope": "image"}]
    def predict_volume(self, inputs, **params):
        return [[dm.Mask("bright", x.pixels > 400)] for x in inputs]

with mlflow.start_run():
    dm.log_model(Threshold(), registered_model_name=env["deployable"], pip_requirements=["numpy"])
mlflow.MlflowClient().set_registered_model_alias(env["deployable"], "champion", "1")
print(json.dumps({"ok": True}))
"""

#: The start of every official-client script: the env, and our server as its own MLflow host.
PRELUDE = r"""
import json, os
env = json.loads({env!r})
os.environ["MLFLOW_TRACKING_URI"] = env["url"]
import datamint.api.client as client_module
import datamint.utils.urls as urls_module
import datamint.mlflow.env_utils as env_module
for module in (client_module, urls_module, env_module):  # our server is its own "MLflow host"
    module.derive_mlflow_url = lambda url: url
"""

OFFICIAL = PRELUDE + r"""
from datamint import Api
from datamint.exceptions import ModelNotDeployedError
import datamint.mlflow
import mlflow, mlflow.pyfunc

api = Api()
datamint.mlflow.set_project(env["project"])
out = {{}}

class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x * 2 for x in model_input]

with mlflow.start_run() as run:
    mlflow.log_param("lr", 0.5)
    mlflow.log_metric("loss", 0.125, step=3)
    info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name=env["tracked"],
                                   pip_requirements=["numpy"])
out["experiment"] = mlflow.get_experiment(run.info.experiment_id).name
client = mlflow.MlflowClient()
client.set_registered_model_alias(env["tracked"], "champion", info.registered_model_version)
out["loaded"] = list(mlflow.pyfunc.load_model(f"models:/{{env['tracked']}}@champion").predict([1, 2]))
out["metrics"] = client.get_run(run.info.run_id).data.metrics
out["models"] = sorted(m.name for m in api.models.get_all())
out["by_name"] = api.models.get_by_name(env["tracked"]).name
out["projects"] = [p.id for p in api.models.get_projects(env["deployable"])]

job = api.deploy.start(env["deployable"], model_alias="champion")
job = api.deploy.wait(job, timeout=600) or api.deploy.get_by_id(job.id)
job = api.deploy.get_by_id(job.id)
out["deploy"] = [job.status, job.image_name, job.image_tag]
out["exists"] = api.deploy.image_exists(env["deployable"], "champion")
inference = api.inference.predict_volume(env["deployable"], model_alias="champion", resource_id=env["resource"],
                                         save_results=True)
api.inference.wait(inference, timeout=600)
inference = api.inference.get_status(inference.id)
out["inference"] = inference.status
out["predicted"] = [[a.identifier for a in group] for group in inference.predictions]
try:
    api.inference.predict_volume(env["deployable"], model_alias="staging", resource_id=env["resource"])
    out["not_deployed"] = "no error"
except ModelNotDeployedError:
    out["not_deployed"] = "ModelNotDeployedError"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def prepared(server, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("official-models")
    api = Api(server.url, server.admin_key)
    project = api.projects.create(unique("official-models"), "official client")
    resource = api.resources.upload_resource(str(write_nifti(folder / "vol.nii.gz")))
    api.projects.add_resources([resource], project)
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "resource": resource,
           "deployable": unique("thr"), "tracked": unique("doubler")}
    run_python(OUR_SDK, {"TEST_INPUT": json.dumps(env)}, folder)
    yield env
    api.close()


def test_official_client_tracks_registers_deploys_and_predicts(server, prepared) -> None:  # type: ignore[no-untyped-def]
    script = OFFICIAL.format(env=json.dumps(prepared))
    out = json.loads(run_official(script, server.url, server.admin_key, timeout=900).strip().splitlines()[-1])
    assert out["loaded"] == [2, 4]
    assert out["metrics"] == {"loss": 0.125}
    assert out["models"] == sorted([prepared["deployable"], prepared["tracked"]])
    assert out["by_name"] == prepared["tracked"]
    assert out["projects"] == [prepared["project"]]
    assert out["deploy"] == ["completed", prepared["deployable"], "champion"]
    assert out["exists"] is True
    assert out["inference"] == "completed"
    assert out["predicted"] == [["bright"]]
    assert out["not_deployed"] == "ModelNotDeployedError"


OFFICIAL_FLAVOR = PRELUDE + r"""
import numpy as np
import mlflow
import datamint.mlflow
from datamint import Api
from datamint.entities.annotations import CategoryAnnotation, ImageSegmentation
from datamint.mlflow.flavors import log_model
from datamint.mlflow.flavors.model import DatamintModel

api = Api()
datamint.mlflow.set_project(env["project"])

class Bright(DatamintModel):
    def predict_image(self, model_input, level=100, **kwargs):
        out = []
        for resource in model_input:
            pixels = np.asarray(resource.fetch_file_data(auto_convert=True))
            out.append([ImageSegmentation(mask=(pixels > level).astype(np.uint8), name="bright"),
                        CategoryAnnotation(name="size", value=f"{{pixels.shape[1]}}x{{pixels.shape[0]}}")])
        return out

with mlflow.start_run():
    # (with pip_requirements, the flavor adds datamint and medimgkit only when missing, as
    # extra_pip_requirements, which MLflow refuses beside pip_requirements: name them)
    info = log_model(Bright(), name="model", model_name=env["flavored"],
                     pip_requirements=["numpy", "datamint==2.45.0", "medimgkit==0.18.1"])
print(json.dumps({{"version": info.registered_model_version}}))
"""


# One backend: what this adds to the test above is the official flavor's own environment (a virtualenv
# with the official client, built by pip) and its model host, which do not involve the database. The
# official client's deploy and inference run on both backends in the test above; saving predictions
# (the same code for a model host as in process) in test_deploy_inference.py.
@one_backend
def test_a_model_logged_with_the_official_flavor_deploys_and_predicts(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    api = Api(server.url, server.admin_key)
    project = api.projects.create(unique("official-flavor"), "official flavor")
    pixels = np.zeros((16, 24), np.uint8)
    pixels[3:7, 5:20] = 180
    pixels[12, 2] = 101
    Image.fromarray(pixels).save(tmp_path / "image.png", format="PNG")
    rid = api.resources.upload_resource(str(tmp_path / "image.png"))
    api.projects.add_resources([rid], project)
    wid = api.annotationsets.create("official predictions", [rid], project=project.id, annotations=[
        {"type": "segmentation", "identifier": "bright", "scope": "image"},
        {"type": "category", "identifier": "size", "scope": "image", "values": ["24x16"]}])
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "project": project.id, "flavored": unique("flavored")}
    out = json.loads(run_official(OFFICIAL_FLAVOR.format(env=json.dumps(env)), server.url, server.admin_key,
                                  timeout=900).strip().splitlines()[-1])
    assert out["version"] == "1"

    job = api.deploy.start(env["flavored"], model_version=1)
    job.wait(timeout=900)
    assert job.status == "completed", job.error_message
    logs = job.logs()
    assert any("the official client's flavor (datamint 2.45.0)" in line for line in logs)
    assert any(line.endswith("loaded Bright in its environment; modes: image, frame, slice") for line in logs)

    inference = api.inference.predict_image(env["flavored"], model_version=1, resource_id=rid, save_results=True,
                                            save_results_options={"worklist_id": wid})
    api.inference.wait(inference, timeout=600)
    assert inference.status == "completed", inference.error_message
    (group,) = inference.predictions
    assert [(p["type"], p["identifier"], p["scope"], p.get("value"), p["source"], p["model_id"]) for p in group] == [
        ("segmentation", "bright", "image", None, "model_deploy", env["flavored"]),
        ("category", "size", "image", "24x16", "model_deploy", env["flavored"])]
    seg_id, cat_id = inference.annotation_ids
    segmentation = api.annotations.get_by_id(seg_id)
    assert (segmentation.resource_id, segmentation.annotation_worklist_id) == (rid, wid)
    assert np.array_equal(segmentation.fetch_mask() > 0, pixels > 100)
    category = api.annotations.get_by_id(cat_id)
    assert (category.identifier, category.text_value, category.imported_from) == ("size", "24x16",
                                                                                  f"{env['flavored']} v1")
    api.close()

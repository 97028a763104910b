"""Deploys and inference as jobs, through our SDK: deploy a registered DatamintModel, run it on a NIfTI volume,
find its mask as a ``model_deploy`` annotation in the worklist; and what fails, and for whom."""

from __future__ import annotations

import json
from typing import Any

import httpx
import nibabel
import numpy as np
import pytest
from mlflow_helpers import run_python

from datamint import Api
from datamint.exceptions import ItemNotFoundError, ModelNotDeployedError, PermissionDeniedError
from fixtures.projects import write_nifti

from conftest import unique

LOG_MODELS = r"""
import json, os
import mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
dm.set_project(env["project"], api=Api(env["url"], env["key"]))

class Threshold(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "bright", "scope": "image"}]
    def predict_volume(self, inputs, level=0, **params):
        return [[dm.Mask("bright", x.pixels > level)] for x in inputs]
    def predict_image(self, inputs, level=0, **params):
        return [[dm.Mask("bright", x.pixels > level), dm.Category("has_bright", str(bool((x.pixels > level).any())))]
                for x in inputs]

with mlflow.start_run():
    dm.log_model(Threshold(), registered_model_name=env["model"], pip_requirements=["numpy"])
    dm.log_model(Threshold(), name="bad", registered_model_name=env["bad"],
                 pip_requirements=["numpy", "no-such-package-dm-test==1.0"])
mlflow.MlflowClient().set_registered_model_alias(env["model"], "champion", "1")
print(json.dumps({"ok": True}))
"""


@pytest.fixture(scope="module")
def registered(server, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A project with a NIfTI volume in a worklist, and two registered models (one with a missing requirement)."""
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("deploy")
    project = api.projects.create(name=unique("deploy"), description="models")
    path = write_nifti(folder / "vol.nii.gz")
    rid = api.resources.upload_resource(str(path))
    api.projects.add_resources([rid], project)
    wid = api.annotationsets.create("predictions", [rid], project=project.id,
                                    annotations=[{"type": "segmentation", "identifier": "bright", "scope": "image"},
                                                 {"type": "category", "identifier": "has_bright", "scope": "image",
                                                  "values": ["True", "False"]}])
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "model": unique("thr"),
           "bad": unique("bad")}
    run_python(LOG_MODELS, {"TEST_INPUT": json.dumps(env)}, folder)
    voxels = np.asarray(nibabel.load(str(path)).dataobj)
    yield {**env, "api": api, "project_id": project.id, "resource": rid, "worklist": wid, "voxels": voxels}
    api.close()


def test_deploy_then_predict_volume_saves_the_mask_in_the_worklist(registered) -> None:  # type: ignore[no-untyped-def]
    api, model = registered["api"], registered["model"]
    job = api.deploy.start(model, model_alias="champion")
    assert job.status in ("queued", "running", "completed")
    job.wait(timeout=300)
    assert job.status == "completed", job.error_message
    assert (job.image_name, job.image_tag, job.model_version) == (model, "champion", 1)
    assert any("loaded Threshold" in line for line in job.logs())
    assert api.deploy.image_exists(model, "champion") is True
    assert api.deploy.image_exists(model, "staging") is False
    images = api.deploy.list_images(model)
    assert [(i["image_name"], i["model_version"], i["supported_modes"]) for i in images] == [
        (f"{model}:champion", 1, ["image", "volume"])]

    level = 400
    inference = api.inference.predict_volume(model, model_alias="champion", resource_id=registered["resource"],
                                             save_results=True, params={"level": level},
                                             save_results_options={"worklist_id": registered["worklist"]})
    api.inference.wait(inference, timeout=300)
    assert inference.status == "completed", inference.error_message
    (predictions,) = inference.predictions
    assert [(p["type"], p["identifier"], p["source"], p["model_id"]) for p in predictions] == [
        ("segmentation", "bright", "model_deploy", model)]
    (annotation_id,) = inference.annotation_ids
    annotation = api.annotations.get_by_id(annotation_id)
    assert annotation.source == "model_deploy" and annotation.model_id == model
    assert annotation.annotation_worklist_id == registered["worklist"]
    assert annotation.resource_id == registered["resource"]
    mask = annotation.fetch_mask()
    assert mask.shape == registered["voxels"].shape  # the volume's own voxel grid
    assert np.array_equal(mask, registered["voxels"] > level)

    # A second run: the worker kept the model loaded; an axial slice falls back to predict_image.
    second = api.inference.predict_slice(model, 2, "axial", model_alias="champion", resource_id=registered["resource"],
                                         params={"level": level})
    api.inference.wait(second, timeout=300)
    assert second.status == "completed", second.error_message
    seg, category = second.predictions[0]
    assert (seg["scope"], seg["frame_index"], category["identifier"], category["value"]) == ("frame", 2, "has_bright",
                                                                                              "True")
    assert second.annotation_ids is None  # not saved
    logs = api.jobs.logs(second.id)
    assert any("already loaded" in line["line"] for line in logs)
    # The deployment's "pod" logs: its deploy job's and its inference jobs' lines.
    headers = {"apikey": registered["key"]}
    pod = httpx.get(f"{registered['url']}/datamint/api/v1/pod-logs/{model}", params={"tag": "champion"},
                    headers=headers, timeout=30).json()
    assert pod["status"] == "running" and pod["image_tag"] == "champion"
    assert any("loaded Threshold" in line for line in pod["logs"])
    assert any("already loaded" in line for line in pod["logs"])
    pods = httpx.get(f"{registered['url']}/datamint/api/v1/pod-logs/{model}/pods", headers=headers, timeout=30).json()
    assert [(p["name"], p["is_running"]) for p in pods] == [(f"{model}:champion", True)]


def test_undeployed_models_and_unservable_versions_fail_clearly(registered) -> None:  # type: ignore[no-untyped-def]
    api, model = registered["api"], registered["model"]
    with pytest.raises(ModelNotDeployedError):
        api.inference.predict_volume(model, model_alias="staging", resource_id=registered["resource"])
    with pytest.raises(ItemNotFoundError, match="not found"):
        api.deploy.start(model, model_alias="no-such-alias")
    bad = api.deploy.start(registered["bad"], model_version=1)
    bad.wait(timeout=300)
    assert bad.status == "failed"
    # the workers lack it, so the deploy builds the model's environment, where pip cannot find it
    assert "No matching distribution found for no-such-package-dm-test==1.0" in bad.error_message
    assert "cannot be installed" in bad.error_message
    assert api.deploy.image_exists(registered["bad"], "1") is False


def test_other_people_cannot_deploy_or_run_the_model(server, registered) -> None:  # type: ignore[no-untyped-def]
    model, rid = registered["model"], registered["resource"]
    other_org = Api(server.url, server.new_org())
    _, outsider_key = server.new_user()
    annotator_email, annotator_key = server.new_user()
    registered["api"].projects.set_member(registered["project_id"], annotator_email, ["PROJECT_ANNOTATOR"])
    for key_api in (other_org, Api(server.url, outsider_key)):
        with pytest.raises(ItemNotFoundError):
            key_api.deploy.start(model, model_alias="champion")
        with pytest.raises(ItemNotFoundError):
            key_api.inference.predict_volume(model, model_alias="champion", resource_id=rid)
        assert key_api.deploy.list_images() == []
    annotator = Api(server.url, annotator_key)
    with pytest.raises(PermissionDeniedError):
        annotator.deploy.start(model, model_alias="champion")
    with pytest.raises(PermissionDeniedError):
        annotator.inference.predict_volume(model, model_alias="champion", resource_id=rid)


def test_cli_lists_deploys_and_predicts(server, registered, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from datamint.cli.models import app as models_app

    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", server.admin_key)
    runner = CliRunner()
    model = registered["model"]
    deployed = runner.invoke(models_app, ["deploy", model, "--version", "1"])
    assert deployed.exit_code == 0, deployed.output
    assert f"deployed {model}:1 (version 1)" in deployed.output
    listed = runner.invoke(models_app, ["list", "--project", registered["project_id"]])
    assert listed.exit_code == 0, listed.output
    assert model in listed.output and f"deployed: {model}:1" in listed.output
    predicted = runner.invoke(models_app, ["predict", model, registered["resource"], "--mode", "slice", "--index", "1",
                                           "--version", "1"])
    assert predicted.exit_code == 0, predicted.output
    out = json.loads(predicted.output[predicted.output.index("{"):])
    assert [p["identifier"] for p in out["predictions"][0]] == ["bright", "has_bright"]
    assert out["annotation_ids"] is None
    failed = runner.invoke(models_app, ["deploy", registered["bad"], "--version", "1"])
    assert failed.exit_code == 1 and "no-such-package-dm-test" in failed.output


def test_saving_into_a_worklist_checks_every_resource_before_the_job(registered, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Only the first resource was checked against ``save_results_options.worklist_id`` when the
    request came: with a second resource outside the worklist the job was queued, ran the model on
    every resource, and failed when saving. Each resource is now checked at once (422)."""
    api, model = registered["api"], registered["model"]
    deploy = api.deploy.start(model, model_alias="champion")
    deploy.wait(timeout=300)
    assert deploy.status == "completed", deploy.error_message
    path = tmp_path / "outside.nii.gz"
    voxels = np.random.default_rng().integers(0, 900, (8, 8, 4)).astype(np.int16)
    nibabel.Nifti1Image(voxels, np.eye(4)).to_filename(path)
    outside = api.resources.upload_resource(str(path))
    api.projects.add_resources([outside], registered["project_id"])
    jobs_before = len(api.jobs.get_list(kind="models.inference"))
    response = httpx.post(f"{registered['url']}/datamint/api/v1/model-inference/predict-volume",
                          headers={"apikey": registered["key"]}, timeout=60,
                          json={"model_name": model, "model_alias": "champion",
                                "resource_ids": [registered["resource"], outside], "save_results": True,
                                "save_results_options": {"worklist_id": registered["worklist"]}})
    assert response.status_code == 422, response.text
    assert response.json()["message"] == (f"Resource {outside} is not part of worklist 'predictions'; "
                                          "add it to the worklist first")
    assert len(api.jobs.get_list(kind="models.inference")) == jobs_before

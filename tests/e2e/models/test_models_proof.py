"""The proof of the models loop, as a data scientist runs it against our server:

a small CT project with lesion masks → a frozen dataset version → a tiny torch model trained a few
steps on that version's files → logged and registered through MLflow, aliased ``champion`` →
deployed → ``predict_volume`` on a new CT with ``save_results=True`` → the predicted mask is an
annotation in the project's worklist (and can be approved) → the model version and the dataset
version name each other.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
from mlflow_helpers import run_python

from datamint import Api

from conftest import unique

SHAPE = (24, 24, 12)
AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])

TRAIN = r"""
import json, os
import numpy as np, nibabel, torch, mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
api = Api(env["url"], env["key"])
dm.set_project(env["project"], api=api)
manifest = api.datasets.get_manifest(env["dataset_id"], env["version"])
(resource,) = manifest["resources"]
(mask_ann,) = [a for a in manifest["annotations"] if a.get("mask") and a["identifier"] == "lesion"]
api.datasets.download_version_files(env["dataset_id"], env["version"], [
    (resource["sha256"], "train.nii.gz"), (mask_ann["mask"]["sha256"], "mask.nii.gz")])
x = torch.as_tensor(np.asarray(nibabel.load("train.nii.gz").dataobj, dtype=np.float32) / 100.0)[None, None]
y = torch.as_tensor((np.asarray(nibabel.load("mask.nii.gz").dataobj) > 0).astype(np.float32))[None, None]

torch.manual_seed(0)
net = torch.nn.Conv3d(1, 1, kernel_size=1)
opt = torch.optim.Adam(net.parameters(), lr=0.2)
class TinySeg(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "lesion", "scope": "image"}]
    def __init__(self, net):
        self.net = net
    def torch_module(self):
        return self.net
    def predict_volume(self, inputs, **params):
        out = []
        with torch.no_grad():
            for item in inputs:
                t = torch.as_tensor(np.asarray(item.pixels, dtype=np.float32) / 100.0)[None, None]
                out.append([dm.Mask("lesion", (torch.sigmoid(self.net(t))[0, 0] > 0.5).numpy())])
        return out

with mlflow.start_run() as run:
    mlflow.log_params({"lr": 0.2, "steps": 60, "kernel": 1})
    for step in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
        if step % 20 == 19:
            mlflow.log_metric("loss", float(loss), step=step)
    info = dm.log_model(TinySeg(net.eval()), registered_model_name=env["model"], pip_requirements=["torch", "numpy"],
                        dataset_version=(env["dataset_id"], env["version"]))
mlflow.MlflowClient().set_registered_model_alias(env["model"], "champion", info.registered_model_version)
print(json.dumps({"run_id": run.info.run_id, "version": int(info.registered_model_version), "loss": float(loss)}))
"""


def _ct(path: Path, center: tuple[int, int, int], seed: int) -> tuple[Path, np.ndarray]:
    """A small CT-like NIfTI: soft tissue around 40 HU with noise, a bright lesion sphere at ``center``."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"))
    lesion = sum((g - c) ** 2 for g, c in zip(grid, center, strict=True)) <= 16
    values = rng.normal(40, 15, SHAPE) + lesion * 260
    nibabel.save(nibabel.Nifti1Image(values.astype(np.int16), AFFINE), str(path))
    return path, lesion


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float(np.logical_and(a, b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def trained(server, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("proof")
    api = Api(server.url, server.admin_key)
    train_path, train_lesion = _ct(folder / "train.nii.gz", (8, 10, 5), seed=1)
    new_path, new_lesion = _ct(folder / "new.nii.gz", (15, 13, 6), seed=2)
    train_id = api.resources.upload_resource(str(train_path))
    project = api.projects.create(unique("liver-ct"), "lesions", resources_ids=[train_id])
    api.annotationsets.update(project.worklist_id,
                              annotations=[{"type": "segmentation", "identifier": "lesion", "scope": "image"}])
    api.annotations.upload_volume_segmentation(train_id, train_lesion.astype(np.uint8), {1: "lesion"},
                                               worklist_id=project.worklist_id)
    version = api.datasets.create_version(project.dataset_id, "train-v1")
    new_id = api.resources.upload_resource(str(new_path))
    api.projects.add_resources([new_id], project)
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "model": unique("lesion-seg"),
           "dataset_id": project.dataset_id, "version": version.number}
    out = run_python(TRAIN, {"TEST_INPUT": json.dumps(env)}, folder)
    yield {**env, **out, "api": api, "worklist": project.worklist_id, "new": new_id, "new_lesion": new_lesion}
    api.close()


def test_trained_model_predicts_into_the_worklist_with_lineage(server, trained) -> None:  # type: ignore[no-untyped-def]
    api, model = trained["api"], trained["model"]
    assert trained["loss"] < 0.2  # it did learn on the frozen version's files
    deploy = api.deploy.start(model, model_alias="champion", convert_to_onnx=True,
                              input_shape=[1, 1, *SHAPE]).wait(timeout=600)
    assert deploy.status == "completed", deploy.error_message
    onnx = deploy.result["onnx"]  # exported, run with onnxruntime and checked against torch
    assert onnx["max_abs_difference"] < 1e-4 and onnx["input_shape"] == [1, 1, *SHAPE]
    assert server.app.state.blob_store.size(onnx["key"]) == onnx["size"] > 0

    job = api.inference.predict_volume(model, model_alias="champion", resource_id=trained["new"], save_results=True,
                                       save_results_options={"worklist_id": trained["worklist"]})
    api.inference.wait(job, timeout=600)
    assert job.status == "completed", job.error_message
    (annotation_id,) = job.annotation_ids
    in_worklist = api.annotations.get_list(resource=trained["new"], worklist_id=trained["worklist"])
    (found,) = [a for a in in_worklist if a.id == annotation_id]
    assert (found.identifier, found.source, found.model_id) == ("lesion", "model_deploy", model)
    mask = found.fetch_mask()
    assert mask.shape == SHAPE
    assert _dice(mask, trained["new_lesion"]) > 0.95
    api.annotations.approve(annotation_id)  # the review workflow applies to predictions
    assert api.annotations.get_by_id(annotation_id).status == "published"

    lineage = api.models.get_lineage(model, alias="champion")
    assert (lineage["version"], lineage["run_id"]) == (trained["version"], trained["run_id"])
    assert (lineage["dataset_version"]["dataset_id"], lineage["dataset_version"]["number"]) == (
        trained["dataset_id"], trained["version"])
    assert lineage["dataset_version"]["name"] == "train-v1"
    trained_on = api.models.get_trained_models(trained["dataset_id"], trained["version"])
    assert [(m["model_name"], m["version"], m["aliases"]) for m in trained_on] == [
        (model, trained["version"], ["champion"])]

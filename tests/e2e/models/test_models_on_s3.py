"""MLflow artifacts on the S3 blob store, against a real S3-compatible server (moto's, in a subprocess):
log a model through our server, find its files in the bucket, load it back with MLflow, deploy it and
predict with it. The server's blobs (resources, masks, model artifacts) all live in the bucket."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from mlflow_helpers import run_python

from datamint import Api
from fixtures.projects import png_path
from fixtures.s3 import CREDENTIALS, moto_server

from conftest import BACKENDS, own_database, start_server, unique

BUCKET = "datamint-models"

LOG_AND_LOAD = r"""
import json, os
import numpy as np
import mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
dm.set_project(env["project"], api=Api(env["url"], env["key"]))

class Bright(dm.DatamintModel):
    annotation_specs = [{"type": "segmentation", "identifier": "bright", "scope": "image"}]
    def predict_image(self, inputs, level=50, **params):
        return [[dm.Mask("bright", x.pixels > level), dm.Category("mean", str(int(x.pixels.mean())))]
                for x in inputs]

with mlflow.start_run() as run:
    mlflow.log_text("trained on nothing", "notes.txt")
    info = dm.log_model(Bright(), registered_model_name=env["model"], pip_requirements=["numpy"])
client = mlflow.MlflowClient()
client.set_registered_model_alias(env["model"], "champion", "1")
loaded = dm.load_model(f"models:/{env['model']}@champion")
x = dm.ModelInput(pixels=np.full((4, 6), 90, dtype=np.uint8), kind="image")
(preds,) = loaded.predict_image([x])
notes = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt")
print(json.dumps({"run_id": run.info.run_id, "notes": notes, "mask_sum": int(preds[0].mask.sum()),
                  "mean": preds[1].value}))
"""


@pytest.fixture(scope="module", params=BACKENDS)
def s3_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(f"s3-{request.param}")
    with moto_server() as endpoint, own_database(request.param, folder) as database_url:
        url = (f"s3://{BUCKET}/dm?endpoint_url={endpoint}&access_key={CREDENTIALS['access_key']}"
               f"&secret_key={CREDENTIALS['secret_key']}&region={CREDENTIALS['region']}&create_bucket=true")
        running = start_server(request.param, request, folder, storage_url=url, database_url=database_url)
        live = next(running)
        try:
            yield live, endpoint
        finally:
            running.close()


def test_model_artifacts_on_s3_log_load_deploy_predict(s3_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, endpoint = s3_server
    assert type(server.app.state.blob_store).__name__ == "S3BlobStore"
    api = Api(server.url, server.admin_key)
    project = api.projects.create(name=unique("s3"), description="models on S3")
    rid = api.resources.upload_resource(str(png_path(tmp_path, 24, 16)))  # a flat image of value 90
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "model": unique("bright")}
    out = run_python(LOG_AND_LOAD, {"TEST_INPUT": json.dumps(env)}, tmp_path)
    assert (out["notes"], out["mask_sum"], out["mean"]) == ("trained on nothing", 24, "90")

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=CREDENTIALS["access_key"],
                      aws_secret_access_key=CREDENTIALS["secret_key"], region_name=CREDENTIALS["region"])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="dm/mlflow/")
            for o in page.get("Contents", [])]
    mine = [k for k in keys if k.startswith(f"dm/mlflow/workspaces/{project.id}/")]
    assert any(k.endswith(f"/{out['run_id']}/artifacts/notes.txt") for k in mine), keys
    assert any(k.endswith("/MLmodel") for k in mine) and any(k.endswith("/python_model.pkl") for k in mine), mine
    assert not server.data_dir.joinpath("blobs").exists() or not any(server.data_dir.joinpath("blobs").rglob("MLmodel"))

    job = api.deploy.start(env["model"], model_alias="champion")
    job.wait(timeout=300)
    assert job.status == "completed", job.error_message
    inference = api.inference.predict_image(env["model"], resource_id=rid, params={"level": 50})
    api.inference.wait(inference, timeout=300)
    assert inference.status == "completed", inference.error_message
    mask, mean = inference.predictions[0]
    assert (mask["type"], mask["identifier"], mean["value"]) == ("segmentation", "bright", "90")
    api.close()

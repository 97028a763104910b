"""The MLflow tracking server and model registry inside the platform, driven by the stock MLflow client.

One client script per backend does what a data scientist does (experiment, run, params, metrics,
an artifact, ``pyfunc.log_model`` with registration, the ``champion`` alias, loading
``models:/m@champion``) and then tries the same objects with other people's keys.
"""

from __future__ import annotations

import httpx
from mlflow_helpers import run_python

from conftest import unique

CLIENT = r"""
import json, os
import mlflow, mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

env = json.loads(os.environ["TEST_INPUT"])

class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x * 2 for x in model_input]

def as_(key, workspace=None):
    os.environ["MLFLOW_TRACKING_TOKEN"] = key
    if workspace:
        os.environ["MLFLOW_WORKSPACE"] = workspace
    else:
        os.environ.pop("MLFLOW_WORKSPACE", None)
    return MlflowClient()

def error(fn):
    try:
        fn()
    except MlflowException as exc:
        return exc.error_code
    return "no error"

out = {}
as_(env["owner"], env["project"])
mlflow.set_experiment("segmentation")
with mlflow.start_run() as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 0.5, step=1)
    mlflow.log_metric("loss", 0.25, step=2)
    with open("notes.txt", "w") as f:
        f.write("hello artifacts")
    mlflow.log_artifact("notes.txt")
    info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name=env["model"])
client = MlflowClient()
client.set_registered_model_alias(env["model"], "champion", info.registered_model_version)
out["version"] = info.registered_model_version
out["prediction"] = list(mlflow.pyfunc.load_model(f"models:/{env['model']}@champion").predict([1, 2, 3]))
data = client.get_run(run.info.run_id).data
out["metrics"], out["params"] = data.metrics, data.params
out["history"] = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
out["artifacts"] = [f.path for f in client.list_artifacts(run.info.run_id)]
out["artifact_uri"] = run.info.artifact_uri
out["alias_version"] = client.get_model_version_by_alias(env["model"], "champion").version
out["run_id"] = run.info.run_id

# The owner without naming the project: objects still resolve by id and by (unique) name.
c = as_(env["owner"])
out["owner_by_name"] = c.get_registered_model(env["model"]).name
out["owner_run_by_id"] = c.get_run(run.info.run_id).info.run_id

for who in ("other_org", "outsider"):
    c = as_(env[who], env["project"])
    out[who] = {
        "search_in_project": error(lambda: c.search_registered_models()),
        "model_by_name": error(lambda: as_(env[who]).get_registered_model(env["model"])),
        "run_by_id": error(lambda: as_(env[who]).get_run(run.info.run_id)),
        "load_champion": error(lambda: mlflow.pyfunc.load_model(f"models:/{env['model']}@champion")),
        "log_to_run": error(lambda: as_(env[who]).log_metric(run.info.run_id, "loss", 9.0)),
    }
c = as_(env["annotator"], env["project"])
out["annotator"] = {
    "models": [m.name for m in c.search_registered_models()],
    "create_model": error(lambda: c.create_registered_model(env["model"] + "-2")),
    "log_to_run": error(lambda: c.log_metric(run.info.run_id, "loss", 9.0)),
}
print(json.dumps(out))
"""


def test_stock_mlflow_client_tracks_registers_and_loads_in_its_project(server, api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    project = api.projects.create(name=unique("mlflow"), description="models")
    project_id = project if isinstance(project, str) else project.id
    other_org_key = server.new_org()
    _, outsider_key = server.new_user()
    annotator_email, annotator_key = server.new_user()
    api.projects.set_member(project_id, annotator_email, ["PROJECT_ANNOTATOR"])
    model = unique("seg")
    server.app.state.mlflow.ensure_ready()  # what the server's warm-up does when it starts
    env = {"owner": server.admin_key, "project": project_id, "model": model, "other_org": other_org_key,
           "outsider": outsider_key, "annotator": annotator_key}

    out = run_python(CLIENT, {"MLFLOW_TRACKING_URI": server.url, "TEST_INPUT": json.dumps(env)}, tmp_path)

    assert str(out["version"]) == "1" and str(out["alias_version"]) == "1"
    assert out["prediction"] == [2, 4, 6]
    assert out["metrics"] == {"loss": 0.25} and out["params"] == {"lr": "0.1"}
    assert out["history"] == [[1, 0.5], [2, 0.25]]
    assert out["artifacts"] == ["notes.txt"]
    assert out["owner_by_name"] == model and out["owner_run_by_id"] == out["run_id"]
    # Artifacts live in our blob store, in the project's folder.
    prefix = f"mlflow-artifacts:/workspaces/{project_id}/"
    assert out["artifact_uri"].startswith(prefix)
    blob_key = "mlflow/" + out["artifact_uri"][len("mlflow-artifacts:/"):] + "/notes.txt"
    assert server.app.state.blob_store.get(blob_key) == b"hello artifacts"
    for who in ("other_org", "outsider"):
        assert out[who] == {"search_in_project": "RESOURCE_DOES_NOT_EXIST", "model_by_name": "RESOURCE_DOES_NOT_EXIST",
                            "run_by_id": "RESOURCE_DOES_NOT_EXIST", "load_champion": "RESOURCE_DOES_NOT_EXIST",
                            "log_to_run": "RESOURCE_DOES_NOT_EXIST"}, who
    assert out["annotator"] == {"models": [model], "create_model": "PERMISSION_DENIED",
                                "log_to_run": "PERMISSION_DENIED"}

    # The artifact proxy: the owner reads the file; other people's keys and no key do not.
    path = f"/api/2.0/mlflow-artifacts/artifacts/{out['artifact_uri'][len('mlflow-artifacts:/'):]}/notes.txt"
    owner = httpx.get(server.url + path, headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=30)
    assert owner.status_code == 200 and owner.content == b"hello artifacts"
    for other in (other_org_key, outsider_key):
        denied = httpx.get(server.url + path, headers={"Authorization": f"Bearer {other}"}, timeout=30)
        assert denied.status_code == 404 and denied.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        upload = httpx.put(server.url + path, content=b"overwritten", headers={"Authorization": f"Bearer {other}"},
                           timeout=30)
        assert upload.status_code == 404
    assert server.app.state.blob_store.get(blob_key) == b"hello artifacts"
    anonymous = httpx.get(server.url + path, timeout=30)
    assert anonymous.status_code == 401 and "API key" in anonymous.json()["message"]
    # A model's files are not small: the artifact proxy takes bodies up to the upload limit.
    big = bytes(range(256)) * 8192  # 2 MiB
    big_path = path.rsplit("/", 1)[0] + "/weights.bin"
    stored = httpx.put(server.url + big_path, content=big, headers={"Authorization": f"Bearer {server.admin_key}"},
                       timeout=60)
    assert stored.status_code == 200, stored.text
    assert server.app.state.blob_store.get(blob_key.rsplit("/", 1)[0] + "/weights.bin") == big
    # Paths outside every project's folder, and MLflow routes we do not serve.
    outside = httpx.get(server.url + "/api/2.0/mlflow-artifacts/artifacts/0/x.txt",
                        headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=30)
    assert outside.status_code == 404
    gateway = httpx.get(server.url + "/api/3.0/mlflow/gateway/secrets/list",
                        headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=30)
    assert gateway.status_code == 404

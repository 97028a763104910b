"""Deploy and inference routes in the authorization matrix (see tests/e2e/authz_world.py).

Project ``P`` gets a registered model (in MLflow's store, P's workspace) deployed as
``<model>:champion``; status, log and stream routes act on finished jobs of the right kind created
by P's manager; cancelling acts on a fresh running job per call (held by a lease no worker of the
test server owns). Starting a deploy uses a fresh registered model per call, so that no call is
refused as a duplicate of another caller's; undeploying removes a fresh deployment per call.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from datamint.server.db.base import utcnow
from datamint.server.jobs.models import Job
from datamint.server.models.mlflow_backend import backend_for
from datamint.server.models.models import ModelDeployment

if TYPE_CHECKING:
    from authz_world import Request, World


def _register(w: World, name: str) -> None:
    backend = backend_for(w.db.url, w.store)
    backend.ensure_ready()
    token = backend.bind(w.project_id)
    try:
        backend.registry.create_registered_model(name)
        backend.registry.create_model_version(name, f"mlflow-artifacts:/workspaces/{w.project_id}/0/missing")
    finally:
        backend.unbind(token)


def _job(w: World, kind: str, status: str, params: dict[str, Any]) -> str:
    manager = w.actors["manager"]
    with w.db.transaction() as s:
        now = utcnow()
        job = Job(customer_id=w.customer_id, kind=kind, project_id=w.project_id, created_by=manager.user_id,
                  created_by_email=manager.email, params=params, status=status, attempt=1, started_at=now,
                  finished_at=now if status == "completed" else None,
                  lease_owner=None if status == "completed" else "matrix:0:none",
                  lease_expires_at=None if status == "completed" else now + timedelta(days=1))
        s.add(job)
        s.flush()
        return job.id


def _setup(w: World) -> dict[str, str]:
    if not hasattr(w, "_models"):
        name = f"m-{uuid.uuid4().hex[:8]}"
        _register(w, name)
        with w.db.transaction() as s:
            s.add(ModelDeployment(customer_id=w.customer_id, project_id=w.project_id, model_name=name, tag="champion",
                                  model_version=1, image_name=f"{name}:champion", source="mlflow-artifacts:/x",
                                  supported_modes=["image", "frame", "slice", "volume", "default"],
                                  annotation_specs=[], details={}, created_at=utcnow()))
        params = {"model_name": name, "tag": "champion"}
        w._models = {  # type: ignore[attr-defined]
            "model_name": name,
            "deploy": _job(w, "models.deploy", "completed", params),
            "inference": _job(w, "models.inference", "completed", {**params, "resource_ids": [w.resource_id]}),
        }
    return w._models  # type: ignore[attr-defined]


def model_defaults(w: World) -> dict[str, str]:
    """The ``model_name`` path parameter: P's deployed model."""
    return {"model_name": _setup(w)["model_name"]}


def _req(**kwargs: Any) -> Request:
    from authz_world import Request

    return Request(**kwargs)


def _deploy_job(w: World, a: Any) -> Request:
    return _req(params={"job_id": _setup(w)["deploy"]})


def _inference_job(w: World, a: Any) -> Request:
    return _req(params={"job_id": _setup(w)["inference"]})


def _fresh(kind: str) -> Any:
    def build(w: World, a: Any) -> Request:
        return _req(params={"job_id": _job(w, kind, "running", {"model_name": _setup(w)["model_name"]})})
    return build


def _start(w: World, a: Any) -> Request:
    name = f"d-{uuid.uuid4().hex[:8]}"
    _register(w, name)
    return _req(json={"model_name": name, "model_version": 1})


def _undeploy(w: World, a: Any) -> Request:
    name = f"u-{uuid.uuid4().hex[:8]}"
    _register(w, name)
    with w.db.transaction() as s:
        s.add(ModelDeployment(customer_id=w.customer_id, project_id=w.project_id, model_name=name, tag="champion",
                              model_version=1, image_name=f"{name}:champion", source="mlflow-artifacts:/x",
                              supported_modes=["image"], annotation_specs=[], details={}, created_at=utcnow()))
    return _req(params={"model_name": name})


def _predict(**extra: Any) -> Any:
    def build(w: World, a: Any) -> Request:
        return _req(json={"model_name": _setup(w)["model_name"], "model_alias": "champion",
                          "resource_id": w.resource_id, **extra})
    return build


BASE = "/datamint/api/v1"
MODEL_REQUESTS: dict[str, Any] = {
    f"POST {BASE}/deploy-model/start": _start,
    f"GET {BASE}/deploy-model/status/{{job_id}}": _deploy_job,
    f"GET {BASE}/deploy-model/status/{{job_id}}/stream": _deploy_job,
    f"POST {BASE}/deploy-model/cancel/{{job_id}}": _fresh("models.deploy"),
    f"DELETE {BASE}/deploy-model/image/{{model_name}}": _undeploy,
    f"GET {BASE}/deploy-model/logs/{{job_id}}": _deploy_job,
    f"GET {BASE}/deploy-model/logs/{{job_id}}/stream": _deploy_job,
    f"POST {BASE}/model-inference": _predict(),
    f"POST {BASE}/model-inference/predict-image": _predict(),
    f"POST {BASE}/model-inference/predict-frame": _predict(frame_index=0),
    f"POST {BASE}/model-inference/predict-slice": _predict(slice_index=0, axis="axial"),
    f"POST {BASE}/model-inference/predict-volume": _predict(),
    f"GET {BASE}/model-inference/status/{{job_id}}": _inference_job,
    f"GET {BASE}/model-inference/status/{{job_id}}/stream": _inference_job,
    f"POST {BASE}/model-inference/cancel/{{job_id}}": _fresh("models.inference"),
    f"POST {BASE}/model-info/get-project": lambda w, a: _req(json={"model_name": _setup(w)["model_name"]}),
}

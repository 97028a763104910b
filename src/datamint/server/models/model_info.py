"""Model information (wire §4.8) and lineage between model versions and dataset versions.

Lineage is recorded on the MLflow run that produced a model version, as the run tags
``datamint.dataset_id`` and ``datamint.dataset_version`` (``datamint.mlflow.log_model(...,
dataset_version=...)`` or ``tag_dataset_version`` set them; stock MLflow can set them with
``mlflow.set_tags``). Both sides read it:

* ``GET /datamint/api/v1/model-info/lineage/{model_name}?version=`` → the dataset version a model
  version was trained on;
* ``GET /datasets/{dataset_id}/versions/{ref}/models`` → the model versions trained on a dataset
  version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from datamint.server import policy
from datamint.server.common.values import RequestBody, line
from datamint.server.datasets import service as datasets_service
from datamint.server.datasets import snapshot as snap
from datamint.server.deps import CurrentUser, SessionDep
from datamint.server.errors import NotFoundError
from datamint.server.models import common, serving
from datamint.server.models.mlflow_backend import MlflowBackend
from datamint.server.projects import repository as projects_repo
from datamint.server.workflow import scope, statistics

DATASET_ID_TAG = "datamint.dataset_id"
DATASET_VERSION_TAG = "datamint.dataset_version"

router = APIRouter(prefix="/datamint/api/v1/model-info", tags=["models"])
datasets_router = APIRouter(prefix="/datasets", tags=["datasets"])
experiments_router = APIRouter(prefix="/experiments", tags=["models"])


def registered_names(backend: MlflowBackend, project_id: str) -> list[str]:
    """The names of the project's registered models."""
    backend.ensure_ready()
    token = backend.bind(project_id)
    try:
        names: list[str] = []
        page_token = None
        while True:
            page = backend.registry.search_registered_models(max_results=1000, page_token=page_token)
            names.extend(m.name for m in page)
            page_token = page.token
            if not page_token:
                return names
    finally:
        backend.unbind(token)


@router.get("/get-models/{project_id}")
def get_models(project_id: str, request: Request, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The project's registered models, and the models whose predictions are among its annotations."""
    found = scope.of_project(session, me, project_id)
    from_annotations = statistics.model_names(session, found)
    registered = registered_names(request.app.state.mlflow, project_id)
    return {"model_names": sorted(set(from_annotations) | set(registered))}


class ProjectQuery(RequestBody):
    """``POST /model-info/get-project`` (the official client's ``customer_id`` is ignored: it is the caller's)."""

    model_name: line(300, min_length=1)


@router.post("/get-project")
def get_project(body: ProjectQuery, request: Request, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The projects of yours that hold a registered model called ``model_name``."""
    backend: MlflowBackend = request.app.state.mlflow
    backend.ensure_ready()
    _, name = common.split_model_name(body.model_name)
    ids = []
    for workspace in backend.workspaces_of_registered_model(name):
        project = projects_repo.get_project(session, me.customer_id, workspace)
        if project is not None and common._sees(session, me, workspace):
            ids.append(project.id)
    return {"project_ids": sorted(ids)}


def _run_tags(backend: MlflowBackend, project_id: str, run_id: str | None) -> dict[str, str]:
    if not run_id:
        return {}
    token = backend.bind(project_id)
    try:
        return dict(backend.tracking.get_run(run_id).data.tags)
    except Exception:  # noqa: BLE001 - a deleted run has no lineage
        return {}
    finally:
        backend.unbind(token)


@router.get("/lineage/{model_name}")
def lineage(model_name: str, request: Request, session: SessionDep, me: CurrentUser,
            version: Annotated[int | None, Query(ge=1)] = None, alias: Annotated[str | None, Query()] = None,
            project_id: str | None = None) -> dict[str, Any]:
    """The dataset version a model version was trained on (its run's ``datamint.dataset_*`` tags)."""
    backend = request.app.state.mlflow
    pid, name = common.model_project(session, backend, me, model_name, project_id, policy.ProjectAction.READ)
    mv = serving.resolve_version(backend, pid, name, version, alias)
    tags = _run_tags(backend, pid, mv.run_id)
    dataset = None
    if tags.get(DATASET_ID_TAG) and tags.get(DATASET_VERSION_TAG):
        try:
            found = datasets_service.get_version(session, me, tags[DATASET_ID_TAG], tags[DATASET_VERSION_TAG])
            dataset = {**snap.version_to_wire(found), "dataset_id": tags[DATASET_ID_TAG]}
        except NotFoundError:
            dataset = {"dataset_id": tags[DATASET_ID_TAG], "number": int(tags[DATASET_VERSION_TAG]),
                       "missing": True}
    return {"model_name": name, "version": mv.version, "run_id": mv.run_id, "project_id": pid,
            "dataset_version": dataset}


@datasets_router.get("/{dataset_id}/versions/{ref}/models")
def trained_models(dataset_id: str, ref: str, request: Request, session: SessionDep,
                   me: CurrentUser) -> dict[str, Any]:
    """The registered model versions whose runs trained on this dataset version."""
    version = datasets_service.get_version(session, me, dataset_id, ref)
    project_id = version.project_id
    if project_id is None:
        return {"model_versions": []}
    backend: MlflowBackend = request.app.state.mlflow
    backend.ensure_ready()
    token = backend.bind(project_id)
    try:
        experiments = [e.experiment_id for e in backend.tracking.search_experiments(max_results=50000)]
        runs = backend.tracking.search_runs(
            experiments, f"tags.`{DATASET_ID_TAG}` = '{version.dataset_id}' and "
                         f"tags.`{DATASET_VERSION_TAG}` = '{version.number}'", run_view_type=1,
            max_results=50000) if experiments else []
        run_ids = [r.info.run_id for r in runs]
        found: list[dict[str, Any]] = []
        for start in range(0, len(run_ids), 100):
            chunk = ", ".join(f"'{r}'" for r in run_ids[start:start + 100])
            for mv in backend.registry.search_model_versions(f"run_id IN ({chunk})", max_results=10000):
                full = backend.registry.get_model_version(mv.name, mv.version)  # search leaves aliases out
                found.append({"model_name": mv.name, "version": int(mv.version), "run_id": mv.run_id,
                              "aliases": sorted(full.aliases or [])})
    finally:
        backend.unbind(token)
    return {"dataset_id": version.dataset_id, "number": version.number,
            "model_versions": sorted(found, key=lambda v: (v["model_name"], v["version"]))}


@experiments_router.get("/project/{project_id}/deployed-models/{model_name}/info")
def deployed_model_info(project_id: str, model_name: str, request: Request, session: SessionDep,
                        me: CurrentUser, tag: str = common.DEFAULT_TAG) -> dict[str, Any]:
    """What a deployed model predicts (its annotation specs) and its deployment (wire §4.8, main host)."""
    pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id,
                                     policy.ProjectAction.READ)
    deployment = common.deployment(session, pid, name, tag)
    if deployment is None:
        raise NotFoundError("Deployed image", f"No deployed image found for model '{name}:{tag}'")
    return {**common.deployment_to_wire(deployment), "metadata_status": "ready"}

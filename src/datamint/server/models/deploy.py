"""Deploys (wire §4.8, ``/datamint/api/v1/deploy-model/...``) as jobs of kind ``models.deploy``.

A deploy job makes a registered model version servable by this server's workers:

1. resolve the version (``model_version``, ``model_alias``, or the latest) in the model's project;
2. copy its artifacts from the blob store to the worker's model cache;
3. compare its requirements with the worker's packages: when they all are satisfied, the model runs
   in the worker's process; otherwise (or for a model logged with the official client's flavor) in
   an environment of its own, built or reused now (:mod:`~datamint.server.models.environments`);
4. load it once to prove it works (``mlflow.pyfunc`` in-process, or its model host process,
   :mod:`~datamint.server.models.hosting`), and check it is a DatamintModel with at least one
   ``predict_*`` method;
5. optionally export its torch module to ONNX and check onnxruntime's output against torch's on a
   random input of ``input_shape``;
6. record the deployment ``<image_name or model>:<tag>`` (tag = the alias, the version, or
   ``latest``) in the same transaction that completes the job.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import delete, select

from datamint.server import policy
from datamint.server.common.values import Line, RequestBody, line
from datamint.server.db import unit_of_work
from datamint.server.db.base import iso, utcnow
from datamint.server.deps import CurrentUser, JobsDep, SessionDep, UnitOfWork
from datamint.server.errors import ValidationFailedError
from datamint.server.jobs import events, registry
from datamint.server.jobs import repository as jobs_repo
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext
from datamint.server.jobs.models import Job
from datamint.server.jobs.router import SSE_HEADERS
from datamint.server.models import common, environments, hosting, serving
from datamint.server.models.models import ModelDeployment
from datamint.server.projects import repository as projects_repo

KIND = "models.deploy"
router = APIRouter(prefix="/datamint/api/v1/deploy-model", tags=["models"])


class DeployBody(RequestBody):
    """``POST /deploy-model/start``."""

    model_name: line(300, min_length=1)
    model_version: int | None = Field(default=None, ge=1)
    model_alias: line(128, min_length=1) | None = None
    image_name: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._/-]+$")
    with_gpu: bool = False
    convert_to_onnx: bool = False
    input_shape: list[int] | None = Field(default=None, min_length=1, max_length=8)
    project_id: Line | None = None


def tag_of(version: int | None, alias: str | None) -> str:
    """The deployment tag a request names: its alias, its version, or ``latest``."""
    return alias or (str(version) if version is not None else "latest")


def deploy_wire(job: Job) -> dict[str, Any]:
    """A deploy job as the official client's ``DeployJob`` reads it (plus our job fields)."""
    wire = jobs_service.to_wire(job)
    p = job.params or {}
    result = job.result or {}
    image = result.get("image_name") or f"{p.get('image_name') or p.get('model_name')}:{p.get('tag')}"
    return {**wire, "job_id": job.id, "model_name": p.get("model_name"),
            "model_version": result.get("model_version", p.get("model_version")),
            "model_alias": p.get("model_alias"), "image_name": image.rsplit(":", 1)[0],
            "image_tag": image.rsplit(":", 1)[-1], "with_gpu": bool(p.get("with_gpu")),
            "completed_at": iso(job.finished_at), "build_logs": ""}


@router.post("/start")
def start(body: DeployBody, request: Request, session: UnitOfWork, me: CurrentUser, jobs: JobsDep) -> dict[str, Any]:
    """Start deploying a registered model version: ``{"job_id"}`` (follow it at ``/status/{job_id}``)."""
    if body.convert_to_onnx and not body.input_shape:
        raise ValidationFailedError("convert_to_onnx needs input_shape (e.g. [1, 1, 64, 64]) for the export's "
                                    "example input")
    backend = request.app.state.mlflow
    project_id, name = common.model_project(session, backend, me, body.model_name, body.project_id,
                                            policy.ProjectAction.MODELS)
    serving.resolve_version(backend, project_id, name, body.model_version, body.model_alias)  # 404 now, not later
    tag = tag_of(body.model_version, body.model_alias)
    params = {**body.model_dump(exclude={"project_id"}), "model_name": name, "tag": tag}
    job = jobs_service.submit(session, jobs, me, KIND, params, project_id=project_id,
                              dedupe_key=f"{project_id}:{name}:{tag}",
                              duplicate=f"{name}:{tag} is already being deployed")
    return {"job_id": job.id}


@router.get("/status/{job_id}")
def status(job_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """A deploy job's state."""
    return deploy_wire(common.job_of_kind(session, me, job_id, KIND, "Deploy"))


@router.get("/status/{job_id}/stream")
def stream_status(job_id: str, request: Request, session: SessionDep, me: CurrentUser) -> StreamingResponse:
    """Server-Sent Events of a deploy job's status until it ends (wire §10)."""
    job = common.job_of_kind(session, me, job_id, KIND, "Deploy")
    return StreamingResponse(events.status_events(request.app.state.database, job.id, request.is_disconnected),
                             media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/cancel/{job_id}")
def cancel(job_id: str, session: UnitOfWork, me: CurrentUser, jobs: JobsDep) -> dict[str, bool]:
    """Cancel a deploy job: ``{"success": bool}``."""
    return common.cancel_wire(session, jobs, me, common.job_of_kind(session, me, job_id, KIND, "Deploy"))


@router.get("/jobs")
def active_jobs(session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The caller's visible deploy jobs still queued or running, and their count."""
    items = [item for status_ in ("queued", "running") for item in
             jobs_service.list_jobs(session, me, kind=KIND, status=status_, project_id=None, creator=None,
                                    offset=0, limit=500)[0]]
    return {"active_jobs": len(items), "jobs": items}


def _deployments(session: SessionDep, me: CurrentUser, request: Request, model_name: str | None,
                 project_id: str | None, action: policy.ProjectAction) -> tuple[str | None, list[ModelDeployment]]:
    stmt = select(ModelDeployment).where(ModelDeployment.customer_id == me.customer_id)
    if model_name:
        pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id, action)
        stmt = stmt.where(ModelDeployment.project_id == pid, ModelDeployment.model_name == name)
    else:
        visible = [p for p in _visible_projects(session, me)]
        stmt = stmt.where(ModelDeployment.project_id.in_(visible))
    return model_name, list(session.scalars(stmt.order_by(ModelDeployment.model_name, ModelDeployment.tag)))


def _visible_projects(session: SessionDep, me: CurrentUser) -> list[str]:

    rows, _ = projects_repo.list_projects(session, me.customer_id, None if me.is_admin else me.user_id,
                                          include_archived=True, offset=0, limit=100000)
    return [p.id for p in rows]


@router.get("/images")
def list_images(request: Request, session: SessionDep, me: CurrentUser,
                model_name: Annotated[str | None, Query(max_length=300)] = None,
                project_id: Line | None = None) -> list[dict[str, Any]]:
    """The deployed images (model versions ready to serve) of your projects, or of one model."""
    _, rows = _deployments(session, me, request, model_name, project_id, policy.ProjectAction.READ)
    return [common.deployment_to_wire(d) for d in rows]


@router.get("/image/{model_name}/exists")
def image_exists(model_name: str, request: Request, session: SessionDep, me: CurrentUser,
                 tag: Annotated[str, Query(max_length=128)] = "latest",
                 project_id: Line | None = None) -> dict[str, bool]:
    """Whether ``model_name:tag`` is deployed."""
    pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id,
                                     policy.ProjectAction.READ)
    return {"exists": common.deployment(session, pid, name, tag) is not None}


@router.delete("/image/{model_name}")
def remove_image(model_name: str, request: Request, session: UnitOfWork, me: CurrentUser,
                 tag: Annotated[str | None, Query(max_length=128)] = None,
                 project_id: Line | None = None) -> dict[str, Any]:
    """Undeploy ``model_name:tag`` (every tag when none is given); inference on it then gets 404."""
    pid, name = common.model_project(session, request.app.state.mlflow, me, model_name, project_id,
                                     policy.ProjectAction.MODELS)
    stmt = delete(ModelDeployment).where(ModelDeployment.project_id == pid, ModelDeployment.model_name == name)
    if tag:
        stmt = stmt.where(ModelDeployment.tag == tag)
    removed = session.execute(stmt.returning(ModelDeployment.image_name, ModelDeployment.details,
                                             ModelDeployment.source)).all()
    onnx_keys = [(details or {}).get("onnx", {}).get("key") for _, details, _ in removed]
    sources = {source for _, _, source in removed}
    still = set(session.scalars(select(ModelDeployment.source).where(ModelDeployment.source.in_(sources))))
    hosts = [serving.model_dir_of(s) for s in sources - still]  # versions no deployment serves any more
    store = request.app.state.blob_store

    def after() -> None:
        for key in onnx_keys:
            if key and store.exists(key):
                store.delete(key)
        for folder in hosts:
            hosting.stop(folder)

    unit_of_work.after_commit(session, after)
    return {"success": bool(removed), "removed": sorted(name for name, _, _ in removed)}


@router.get("/logs/{job_id}")
def logs(job_id: str, session: SessionDep, me: CurrentUser,
         tail: Annotated[int, Query(ge=1, le=jobs_service.MAX_LOG_PAGE)] = 2000,
         since: str | None = None) -> dict[str, Any]:
    """A deploy job's build log (the official client's ``BuildLogs``)."""
    job = common.job_of_kind(session, me, job_id, KIND, "Deploy")
    rows = jobs_repo.tail_logs(session, job.id, tail)
    if since:
        rows = [r for r in rows if (iso(r.at) or "") >= since]
    wire = deploy_wire(job)
    return {"job_id": job.id, "id": job.id, "image_name": wire["image_name"], "image_tag": wire["image_tag"],
            "total_lines": job.log_count, "returned_lines": len(rows), "log_source": "db",
            "logs": [f"{iso(r.at)} {r.level.upper()} {r.line}" for r in rows]}


@router.get("/logs/{job_id}/stream")
def stream_logs(job_id: str, request: Request, session: SessionDep, me: CurrentUser,
                interval: Annotated[float, Query(ge=0.5, le=10)] = 2.0) -> StreamingResponse:
    """SSE of a deploy job's log lines: ``start``, ``log`` per line, ``end``."""
    job = common.job_of_kind(session, me, job_id, KIND, "Deploy")
    return StreamingResponse(events.log_events(request.app.state.database, job.id, 0, request.is_disconnected),
                             media_type="text/event-stream", headers=SSE_HEADERS)


# -- the job ------------------------------------------------------------------------------------------

def run_deploy(ctx: JobContext) -> dict[str, Any]:
    """The ``models.deploy`` handler (see the module docstring)."""
    p = ctx.params
    me = ctx.creator()
    backend = common.backend_of(ctx)
    with ctx.database.transaction() as session:  # the creator must still be allowed to deploy
        common.model_project(session, backend, me, p["model_name"], ctx.project_id, policy.ProjectAction.MODELS)
    ctx.progress(1, 6, "resolving the model version", force=True)
    version = serving.resolve_version(backend, ctx.project_id or "", p["model_name"], p.get("model_version"),
                                      p.get("model_alias"))
    ctx.log(f"{p['model_name']} {p['tag']} is version {version.version} ({version.source})")
    ctx.progress(2, 6, "fetching the model's artifacts", force=True)
    model_dir = serving.materialize(backend, version.source)
    ctx.log(f"artifacts ready in {model_dir}: {', '.join(sorted(os.listdir(model_dir)))}")
    ctx.progress(3, 6, "checking requirements", force=True)
    flavors = _flavors(model_dir)
    needs = environments.plan(model_dir, flavors)
    details: dict[str, Any] = {"run_id": version.run_id, "requirements_other_versions": needs.other,
                               "with_gpu": bool(p.get("with_gpu")), "flavor": needs.flavor}
    if needs.isolated:
        why = ("the official client's flavor (datamint " + str(needs.official_version) + ")"
               if needs.flavor == "official" else
               "requirements the workers lack or have in another version: " + ", ".join(needs.missing + needs.other))
        ctx.log(f"the model runs in an environment of its own ({why})")
        if p.get("convert_to_onnx"):
            raise ValidationFailedError("convert_to_onnx needs the model in the workers' own environment, and this "
                                        "model runs in an isolated one; deploy without convert_to_onnx")
        env = environments.ensure(needs, environments.root_for(ctx.database.url), ctx.log, ctx.check_cancelled)
        details["environment"] = {"key": env.key, "requirements": needs.requirements, "flavor": needs.flavor,
                                  "official_version": needs.official_version}  # no server paths: readers see it
        ctx.progress(4, 6, "loading the model in its environment", force=True)
        host, _ = hosting.start(model_dir, env.python, needs.flavor, ctx.log, ctx.check_cancelled)
        modes = list(host.info.get("modes") or [])
        specs = list(_metadata_specs(model_dir, flavors) or host.info.get("annotation_specs") or [])
        ctx.log(f"loaded {host.info.get('class')} in its environment; modes: {', '.join(modes)}")
    else:
        ctx.log("requirements satisfied by the workers' environment: the model runs in the worker's process")
        ctx.progress(4, 6, "loading the model", force=True)
        model = _load_checked(model_dir)
        modes = type(model).supported_modes()
        ctx.log(f"loaded {type(model).__name__}; modes: {', '.join(modes)}")
        specs = _specs(model_dir, model)
    if needs.python and needs.python.rsplit(".", 1)[0] != ".".join(map(str, sys.version_info[:2])):
        ctx.log(f"the model was logged with Python {needs.python}; it runs with this server's Python "
                f"{sys.version.split()[0]}", "warning")
    if p.get("with_gpu"):  # never a failure: the deployment serves on what the workers have
        details["gpu_available"] = _gpu_available()
        ctx.log("with_gpu: a GPU is visible to this worker; the model decides where it runs" if
                details["gpu_available"] else "with_gpu: this worker has no GPU; the model runs on CPU",
                "info" if details["gpu_available"] else "warning")
    if p.get("convert_to_onnx"):
        ctx.progress(5, 6, "exporting to ONNX", force=True)
        details["onnx"] = _export_onnx(ctx, model, p.get("input_shape") or [], model_dir)
    image = f"{p.get('image_name') or p['model_name']}:{p['tag']}"
    ctx.progress(6, 6, "recording the deployment", force=True)
    with ctx.transaction() as session:
        session.execute(delete(ModelDeployment).where(ModelDeployment.project_id == ctx.project_id,
                                                      ModelDeployment.model_name == p["model_name"],
                                                      ModelDeployment.tag == p["tag"]))
        session.add(ModelDeployment(customer_id=ctx.customer_id, project_id=ctx.project_id,
                                    model_name=p["model_name"], tag=p["tag"], model_version=version.version,
                                    image_name=image, source=version.source, supported_modes=modes,
                                    annotation_specs=specs, details=details, deploy_job_id=ctx.job_id,
                                    created_by=ctx.created_by, created_at=utcnow()))
        result = {"image_name": image, "model_version": version.version, "supported_modes": modes,
                  "annotation_specs": specs, **({"onnx": details["onnx"]} if "onnx" in details else {}),
                  **({"gpu_available": details["gpu_available"]} if "gpu_available" in details else {})}
        ctx.complete(session, result)
    return result


def _gpu_available() -> bool:
    """Whether torch (when installed) sees a CUDA device in this worker."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _load_checked(model_dir: str) -> Any:
    from datamint.mlflow.model import DatamintModel

    try:
        model = serving.load(model_dir)
    except Exception as exc:  # noqa: BLE001 - whatever the model's code raised is the message
        raise ValidationFailedError(f"The model does not load ({type(exc).__name__}: {exc}). Check that it loads "
                                    "with mlflow.pyfunc.load_model on a machine like the server, then register "
                                    "a new version") from exc
    if not isinstance(model, DatamintModel):
        raise ValidationFailedError(f"The model is a {type(model).__name__}, not a datamint.mlflow.DatamintModel: "
                                    "subclass DatamintModel, implement predict_image/frame/slice/volume/default, "
                                    "and log it with datamint.mlflow.log_model")
    if not type(model).supported_modes():
        raise ValidationFailedError(f"{type(model).__name__} implements no predict_* method: add predict_image, "
                                    "predict_frame, predict_slice, predict_volume or predict_default")
    return model


def _mlmodel(model_dir: str) -> Any:
    from mlflow.models import Model

    return Model.load(model_dir)


def _flavors(model_dir: str) -> dict[str, Any]:
    return dict(_mlmodel(model_dir).flavors or {})


def _metadata_specs(model_dir: str, flavors: dict[str, Any]) -> list[dict[str, Any]]:
    """The label schema the model was logged with: our ``metadata.datamint``, or the official flavor's."""
    meta = (_mlmodel(model_dir).metadata or {}).get("datamint") or {}
    official = flavors.get("datamint") if isinstance(flavors.get("datamint"), dict) else {}
    return list(meta.get("annotation_specs") or official.get("annotation_specs") or [])


def _specs(model_dir: str, model: Any) -> list[dict[str, Any]]:
    return _metadata_specs(model_dir, {}) or list(type(model).annotation_specs or [])


def _export_onnx(ctx: JobContext, model: Any, input_shape: list[int], model_dir: str) -> dict[str, Any]:
    """Export the model's torch module (``torch_module()``) to ONNX, compare onnxruntime with torch on a
    random input of ``input_shape``, and keep the file in the blob store (named in the checkpoint first)."""
    import tempfile
    import warnings

    try:
        import numpy as np
        import onnxruntime
        import torch
    except ImportError as exc:
        raise ValidationFailedError(f"convert_to_onnx needs torch, onnx and onnxruntime in the workers ({exc}); "
                                    "install them (pip install 'datamint[onnx]'), or deploy without "
                                    "convert_to_onnx") from exc
    module = model.torch_module() if hasattr(model, "torch_module") else None
    if not isinstance(module, torch.nn.Module):
        raise ValidationFailedError("convert_to_onnx needs the model to return its torch.nn.Module from "
                                    "torch_module(); add that method, or deploy without convert_to_onnx")
    module = module.eval()
    example = torch.randn(*input_shape)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (example,), path, input_names=["input"], output_names=["output"],
                                  dynamo=False)
            with torch.no_grad():
                expected = module(example).numpy()
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            got = session.run(None, {"input": example.numpy()})[0]
        except Exception as exc:  # noqa: BLE001 - the exporter's or the runtime's message is the answer
            raise ValidationFailedError(f"The ONNX export failed ({type(exc).__name__}: {exc}); check "
                                        f"input_shape {input_shape}, or deploy without convert_to_onnx") from exc
        diff = float(np.max(np.abs(got - expected)))
        if not np.allclose(got, expected, rtol=1e-3, atol=1e-4):
            raise ValidationFailedError(f"The ONNX export differs from the torch model on a random input (max "
                                        f"difference {diff:.3g}); deploy without convert_to_onnx")
        key = f"{ctx.customer_id}/models/onnx/{ctx.job_id}.onnx"
        ctx.save_checkpoint({**ctx.checkpoint, "onnx_key": key})
        with open(path, "rb") as handle:
            size = ctx.store.put(key, handle)
    ctx.log(f"ONNX export checked with onnxruntime: max difference {diff:.3g} on a random {input_shape} input "
            f"({size} bytes)")
    return {"key": key, "size": size, "input_shape": input_shape, "max_abs_difference": diff}


def remove_onnx(ctx: JobContext) -> None:
    """Cleanup of a failed or cancelled deploy: the ONNX file it stored, unless a deployment records it."""
    key = ctx.checkpoint.get("onnx_key")
    if not key:
        return
    with ctx.database.transaction() as session:
        kept = session.scalar(select(ModelDeployment.id).where(ModelDeployment.deploy_job_id == ctx.job_id))
    if kept is None and ctx.store.exists(key):
        ctx.store.delete(key)
        ctx.log("removed the ONNX file of this failed deploy")


registry.register(KIND, run_deploy, cleanup=remove_onnx, max_attempts=2,
                  description="check that a registered model version loads and serves, and record it as deployed")

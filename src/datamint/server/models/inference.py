"""Inference (wire §4.8, ``/datamint/api/v1/model-inference...``) as jobs of kind ``models.inference``.

A request names a deployed model (``model_name`` + ``model_version``/``model_alias``; none means
the ``champion`` alias... as the official client's default) and resources; the route checks at
once that the model is deployed (404 ``No deployed image found ...`` otherwise, which the
official client raises as ``ModelNotDeployedError``), that the caller may run it
(``project.predict``) and see the resources, and answers ``{"job_id"}``. The job:

1. loads the deployment's model once per worker process and keeps it loaded (in-process, or in its
   model host process when it has an environment of its own, started again if it died);
2. reads each resource into a :class:`datamint.mlflow.ModelInput` in its own geometry;
3. calls the model in batches (its ``batch_size``, else all inputs at once) with ``params`` and
   ``prompts``;
4. checks the predictions against each resource (mask sizes...) and, with ``save_results``, writes
   them as annotations of source ``model_deploy`` (or ``model_pipeline``) naming the model and its
   version, into the worklist given (its label schema and the creator's rights apply), in the
   transaction that completes the job. The job's ``result_data.predictions`` lists them.

Files that are not resources come with ``POST .../model-inference/files`` (multipart): checked as
uploads, held for the job only and deleted when it ends (:mod:`.inputs`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from datamint.server import policy
from datamint.server.annotations import masks
from datamint.server.annotations import service as annotations_service
from datamint.server.annotations.models import Annotation
from datamint.server.common.ids import check_uuid
from datamint.server.common.values import JsonObject, Line, RequestBody, line, parse_json
from datamint.server.db.base import iso, new_id
from datamint.server.deps import CurrentUser, JobsDep, SessionDep, UnitOfWork
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.jobs import events, registry
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext
from datamint.server.jobs.models import Job
from datamint.server.jobs.router import SSE_HEADERS
from datamint.server.models import common, environments, hosting, inputs, serving
from datamint.server.models.models import ModelDeployment

KIND = "models.inference"
MAX_RESOURCES = 500
router = APIRouter(prefix="/datamint/api/v1/model-inference", tags=["models"])


class SaveOptions(RequestBody):
    """Where and how predictions are saved (``save_results_options``)."""

    worklist_id: Line | None = None
    annotation_source: Literal["model_deploy", "model_pipeline"] = "model_deploy"
    imported_from: line(300) | None = None
    author_email: line(320) | None = None


class InferenceBody(RequestBody):
    """The common payload of the predict routes (wire §4.8)."""

    model_name: line(300, min_length=1)
    project_id: Line | None = None
    model_version: int | None = Field(default=None, ge=1)
    model_alias: line(128) | None = None
    resource_id: Line | None = None
    resource_ids: list[Line] | None = Field(default=None, max_length=MAX_RESOURCES)
    file_path: Line | None = None
    file_paths: list[Line] | None = None
    save_results: bool = False
    save_results_options: SaveOptions | None = None
    prompts: JsonObject | None = None
    params: JsonObject | None = None
    frame_index: int | None = Field(default=None, ge=0)
    slice_index: int | None = Field(default=None, ge=0)
    axis: Literal["axial", "sagittal", "coronal"] | None = None


def inference_wire(job: Job) -> dict[str, Any]:
    """An inference job as the official client's ``InferenceJob`` reads it (plus our job fields)."""
    p = job.params or {}
    result = job.result or {}
    ids = p.get("resource_ids") or []
    return {**jobs_service.to_wire(job), "job_id": job.id, "model_name": p.get("model_name"),
            "model_version": p.get("model_version"), "mode": p.get("mode"),
            "resource_id": ids[0] if len(ids) == 1 else None, "resource_ids": ids,
            "frame_idx": p.get("frame_index"), "save_results": bool(p.get("save_results")),
            "result_data": result or None, "annotation_ids": result.get("annotation_ids"),
            "completed_at": iso(job.finished_at)}


FILE_PATH_REFUSED = (
    "file_path names a file on your machine, which this server cannot read (the official client sends only the "
    "path). Send the file itself: datamint's api.inference.predict_*(file_path=...) posts it to "
    "/datamint/api/v1/model-inference/files; or upload it as a resource first (api.resources.upload_resource) "
    "and pass its resource_id")


def _submit(mode: str, body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
            jobs: JobsDep, files: list[UploadFile] | None = None) -> dict[str, Any]:
    if body.file_path or body.file_paths:
        raise ValidationFailedError(FILE_PATH_REFUSED)
    ids = list(dict.fromkeys([*([body.resource_id] if body.resource_id else []), *(body.resource_ids or [])]))
    if not ids and not files:
        raise ValidationFailedError("Name the resources to predict on: resource_id or resource_ids")
    if len(ids) + len(files or []) > MAX_RESOURCES:
        raise ValidationFailedError(f"At most {MAX_RESOURCES} resources per inference job; split the list")
    if files and body.save_results:
        raise ValidationFailedError("save_results needs resources: predictions on a sent file come back in the "
                                    "job's result only. Upload the file as a resource (api.resources."
                                    "upload_resource) and predict on its resource_id to save them as annotations")
    backend = request.app.state.mlflow
    project_id, name = common.model_project(session, backend, me, body.model_name, body.project_id,
                                            policy.ProjectAction.PREDICT)
    tag = body.model_alias or (str(body.model_version) if body.model_version is not None else common.DEFAULT_TAG)
    deployment = common.deployment(session, project_id, name, tag)
    if deployment is None:
        raise NotFoundError("Deployed image", f"No deployed image found for model '{name}:{tag}'. Deploy it first: "
                                              f"api.deploy.start('{name}', model_alias='{tag}') (or model_version)")
    if mode not in deployment.supported_modes and not (
            mode in ("frame", "slice") and "image" in deployment.supported_modes):
        raise ValidationFailedError(f"{name}:{tag} has no predict_{mode}(); it supports: "
                                    f"{', '.join(deployment.supported_modes)}")
    resources = [annotations_service.live_resource(session, me, check_uuid(rid, "resource")) for rid in ids]
    options = body.save_results_options or SaveOptions()
    if options.worklist_id:  # the worklist, each resource in it and the caller's right to annotate there, now
        for resource in resources:
            annotations_service.clean_items(session, me, resource, [
                {"type": "label", "identifier": "-", "annotation_worklist_id": options.worklist_id}],
                check_labels=False)
    uploads = [inputs.check_file(f.file, f.filename, f.content_type, me.customer_id) for f in files or []]
    params = {"model_name": name, "model_version": deployment.model_version, "tag": tag,
              "deployment_id": deployment.id, "mode": mode, "resource_ids": [r.id for r in resources],
              "frame_index": body.frame_index, "slice_index": body.slice_index, "axis": body.axis,
              "params": body.params or {}, "prompts": body.prompts, "save_results": body.save_results,
              "save_results_options": options.model_dump()}
    if not uploads:
        job = jobs_service.submit(session, jobs, me, KIND, params, project_id=project_id)
        return {"job_id": job.id}

    def work(pending: masks.PendingBlobs) -> Job:
        # The files are written under intents committed first; the job that owns them commits with the unit.
        # streamed from the spooled parts (check_file left each at its start), never read whole
        pending.put_all([(u.location, f.file) for u, f in zip(uploads, files or [], strict=True)])
        job = jobs_service.submit(session, jobs, me, KIND, {**params, "uploads": [u.to_param() for u in uploads]},
                                  project_id=project_id)
        pending.settle()
        return job

    job = masks.with_blobs(session, request.app.state.blob_store, me.customer_id, work)
    return {"job_id": job.id}


@router.post("/files")
def predict_files(request: Request, session: UnitOfWork, me: CurrentUser, jobs: JobsDep,
                  file: Annotated[list[UploadFile], File(description="the files to predict on (one or more)")],
                  payload: Annotated[str, Form(alias="request", description="the predict route's JSON body")],
                  mode: Annotated[Literal["default", "image", "frame", "slice", "volume"],
                                  Form(description="which predict_* of the model")] = "default",
                  ) -> dict[str, Any]:
    """Predict on files sent with the request (not resources): our SDK's ``predict_*(file_path=...)``.

    Each file is checked as an upload is, held for the job only and deleted when it ends; the
    predictions come back in the job's ``result_data.predictions`` (``save_results`` is refused).
    """
    if len(file) > inputs.MAX_FILES:
        raise ValidationFailedError(f"At most {inputs.MAX_FILES} files per request; send several jobs")
    try:
        body = InferenceBody.model_validate(parse_json(payload, "request"))
    except PydanticValidationError as exc:
        raise ValidationFailedError(f"The request field is not a valid inference body: "
                                    f"{exc.errors(include_url=False, include_input=False)}") from exc
    if mode == "frame" and body.frame_index is None:
        raise ValidationFailedError("predict-frame needs frame_index")
    if mode == "slice" and (body.slice_index is None or body.axis is None):
        raise ValidationFailedError("predict-slice needs slice_index and axis (axial, sagittal or coronal)")
    return _submit(mode, body, request, session, me, jobs, file)


@router.post("")
def predict(body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
            jobs: JobsDep) -> dict[str, Any]:
    """Predict on whole resources (the model's ``predict_default``)."""
    return _submit("default", body, request, session, me, jobs)


@router.post("/predict-image")
def predict_image(body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
                  jobs: JobsDep) -> dict[str, Any]:
    """Predict on 2-D images (``predict_image``)."""
    return _submit("image", body, request, session, me, jobs)


@router.post("/predict-frame")
def predict_frame(body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
                  jobs: JobsDep) -> dict[str, Any]:
    """Predict on one frame (``frame_index``) of videos or multi-frame images."""
    if body.frame_index is None:
        raise ValidationFailedError("predict-frame needs frame_index")
    return _submit("frame", body, request, session, me, jobs)


@router.post("/predict-slice")
def predict_slice(body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
                  jobs: JobsDep) -> dict[str, Any]:
    """Predict on one slice (``slice_index``, ``axis``) of volumes."""
    if body.slice_index is None or body.axis is None:
        raise ValidationFailedError("predict-slice needs slice_index and axis (axial, sagittal or coronal)")
    return _submit("slice", body, request, session, me, jobs)


@router.post("/predict-volume")
def predict_volume(body: InferenceBody, request: Request, session: UnitOfWork, me: CurrentUser,
                   jobs: JobsDep) -> dict[str, Any]:
    """Predict on whole volumes (``predict_volume``)."""
    return _submit("volume", body, request, session, me, jobs)


@router.get("/status/{job_id}")
def status(job_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """An inference job's state; ``result_data.predictions`` once completed."""
    return inference_wire(common.job_of_kind(session, me, job_id, KIND, "Inference"))


@router.get("/status/{job_id}/stream")
def stream_status(job_id: str, request: Request, session: SessionDep, me: CurrentUser) -> StreamingResponse:
    """Server-Sent Events of an inference job's status until it ends (wire §10)."""
    job = common.job_of_kind(session, me, job_id, KIND, "Inference")
    return StreamingResponse(events.status_events(request.app.state.database, job.id, request.is_disconnected),
                             media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/cancel/{job_id}")
def cancel(job_id: str, session: UnitOfWork, me: CurrentUser, jobs: JobsDep) -> dict[str, bool]:
    """Cancel an inference job: ``{"success": bool}``."""
    return common.cancel_wire(session, jobs, me, common.job_of_kind(session, me, job_id, KIND, "Inference"))


@router.get("")
def list_inference(session: SessionDep, me: CurrentUser, offset: Annotated[int, Query(ge=0)] = 0,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """The inference jobs you may see, newest first."""
    items, _ = jobs_service.list_jobs(session, me, kind=KIND, status=None, project_id=None, creator=None,
                                      offset=offset, limit=limit)
    return [{**item, "job_id": item["id"], "model_name": (item.get("params") or {}).get("model_name")}
            for item in items]


# -- the job ------------------------------------------------------------------------------------------

def run_inference(ctx: JobContext) -> dict[str, Any]:
    """The ``models.inference`` handler (see the module docstring)."""
    p = ctx.params
    me = ctx.creator()
    backend = common.backend_of(ctx)
    with ctx.database.transaction() as session:
        common.model_project(session, backend, me, p["model_name"], ctx.project_id, policy.ProjectAction.PREDICT)
        deployment = session.get(ModelDeployment, p["deployment_id"])
        if deployment is None:
            raise NotFoundError("Deployed image", f"No deployed image found for model '{p['model_name']}:"
                                                  f"{p['tag']}': it was removed after this job was queued")
        source = deployment.source
        environment = (deployment.details or {}).get("environment")
        served = set(session.scalars(select(ModelDeployment.source).distinct()))
        resources: list[Any] = [annotations_service.live_resource(session, me, rid) for rid in p["resource_ids"]]
        session.expunge_all()
    hosting.retain({serving.model_dir_of(s) for s in served})  # hosts of deployments removed elsewhere
    resources += [inputs.UploadedInput.from_param(u) for u in p.get("uploads") or []]
    model_dir = serving.materialize(backend, source)
    total = len(resources)
    model_inputs = []
    for i, resource in enumerate(resources, 1):
        model_inputs.append(serving.read_input(ctx.store, resource, p["mode"], frame_index=p.get("frame_index"),
                                         slice_index=p.get("slice_index"), axis=p.get("axis")))
        ctx.progress(i, total * 2, "reading resources")
    call_params = {**(p.get("params") or {})}
    if p.get("prompts"):
        call_params["prompts"] = p["prompts"]
    if environment:
        outputs = _predict_in_host(ctx, environment, model_dir, resources, model_inputs, call_params)
    else:
        warm = serving.is_loaded(model_dir)
        model = serving.load(model_dir)
        ctx.log(f"model {p['model_name']}:{p['tag']} (version {p['model_version']}) "
                f"{'already loaded' if warm else 'loaded'} in this worker")
        batch = type(model).batch_size or total
        outputs = []
        for start in range(0, total, batch):
            outputs.extend(model.predict(None, model_inputs[start:start + batch], {**call_params, "mode": p["mode"]}))
            ctx.progress(total + min(start + batch, total), total * 2, "predicting")
    options = p.get("save_results_options") or {}
    base = {"source": options.get("annotation_source") or "model_deploy",
            "model_id": p["model_name"], "is_model": True,
            "imported_from": options.get("imported_from") or f"{p['model_name']} v{p['model_version']}",
            "import_author": options.get("author_email")}
    if options.get("worklist_id"):
        base["annotation_worklist_id"] = options["worklist_id"]
    planned = [serving.to_items(preds, x, r, base, inputs.geometry_of(ctx.store, r) if _has_geometry(preds) else None)
               for preds, x, r in zip(outputs, model_inputs, resources, strict=True)]
    predictions = [[serving.prediction_to_wire(pl) for pl in group] for group in planned]
    result: dict[str, Any] = {"predictions": predictions, "model_name": p["model_name"],
                              "model_version": p["model_version"], "resource_ids": p["resource_ids"]}
    if p.get("uploads"):
        result["files"] = [u["filename"] for u in p["uploads"]]
    if p.get("save_results"):
        return _save(ctx, me, resources, planned, result)
    if p.get("uploads"):  # complete first, then delete the files (a crash in between leaves them to the cleanup)
        with ctx.transaction() as session:
            ctx.complete(session, result)
        ctx.log(f"deleted {inputs.delete_uploads(ctx.store, p)} sent file(s)")
    return result


def _has_geometry(predictions: list[Any]) -> bool:
    from datamint.mlflow.model import Box, Point

    return any(isinstance(pred, (Box, Point)) for pred in predictions)


def _predict_in_host(ctx: JobContext, environment: dict[str, Any], model_dir: str, resources: list[Any],
                     model_inputs: list[Any], call_params: dict[str, Any]) -> list[list[Any]]:
    """Run the batches through the model's host process (in its own environment), started if needed."""
    p = ctx.params
    flavor = environment.get("flavor") or "datamint"
    root = environments.root_for(ctx.database.url)
    path = os.path.join(root, str(environment.get("key") or "-"))
    python = environments.python_of(path)
    if not environments.ready(path):  # another machine, or the folder was cleaned: build it again
        needs = environments.Plan(flavor, list(environment.get("requirements") or []),
                                  official_version=environment.get("official_version"))
        python = environments.ensure(needs, root, ctx.log, ctx.check_cancelled).python
    host, warm = hosting.start(model_dir, python, flavor, ctx.log, ctx.check_cancelled)
    ctx.log(f"model {p['model_name']}:{p['tag']} (version {p['model_version']}) "
            f"{'already loaded' if warm else 'loaded'} in its model host (pid {host.pid})")
    total = len(model_inputs)
    batch = host.info.get("batch_size") or total
    outputs: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="datamint-inference-") as folder:
        paths = [serving.local_file(ctx.store, r, folder, f"input-{i}") if flavor == "official" else None
                 for i, r in enumerate(resources)]
        for start in range(0, total, batch):
            chunk = [hosting.host_input(x, flavor, file)
                     for x, file in zip(model_inputs[start:start + batch], paths[start:start + batch], strict=True)]
            answer = hosting.predict(host, p["mode"], chunk, call_params, ctx.log, ctx.check_cancelled)
            if len(answer) != len(chunk):
                raise ValidationFailedError(f"The model returned {len(answer)} results for {len(chunk)} inputs: "
                                            "return one list of predictions per input")
            outputs.extend(hosting.predictions_of(answer))
            ctx.progress(total + min(start + batch, total), total * 2, "predicting")
    return outputs


def _save(ctx: JobContext, me: Any, resources: list[Any], planned: list[list[serving.Planned]],
          result: dict[str, Any]) -> dict[str, Any]:
    """Write the masks (named in the checkpoint first), then the annotations and the completion in one commit."""
    ids = [[new_id() for _ in group] for group in planned]
    keys = [[masks.mask_key(ctx.customer_id, aid, pl.mask) if pl.mask else None
             for aid, pl in zip(g_ids, group, strict=True)] for g_ids, group in zip(ids, planned, strict=True)]
    written = [k for group in keys for k in group if k]
    if written:
        ctx.save_checkpoint({"mask_keys": sorted(set(ctx.checkpoint.get("mask_keys", [])) | set(written))})
    for group, group_keys in zip(planned, keys, strict=True):
        for pl, key in zip(group, group_keys, strict=True):
            if key and pl.mask:
                ctx.store.put(key, pl.mask.data)
    ctx.progress(1, 1, "saving annotations", force=True)
    with ctx.transaction() as session:
        created: list[str] = []
        for resource, group, g_ids, g_keys in zip(resources, planned, ids, keys, strict=True):
            if not group:
                continue
            live = annotations_service.live_resource(session, me, resource.id)
            items = annotations_service.clean_items(session, me, live, [pl.item for pl in group])
            extras = [{"id": aid, **({"file_key": key, "file_mimetype": pl.mask.mimetype,
                                       "file_size": len(pl.mask.data)} if key and pl.mask else {})}
                      for aid, key, pl in zip(g_ids, g_keys, group, strict=True)]
            created.extend(annotations_service.insert_items(session, me, live, items, per_item=extras))
        result = {**result, "annotation_ids": created,
                  "predictions": [[{**w, "id": aid} for w, aid in zip(wires, g_ids, strict=True)]
                                  for wires, g_ids in zip(result["predictions"], ids, strict=True)]}
        ctx.complete(session, result)
    ctx.log(f"saved {len(created)} annotation(s)")
    return result


def remove_unsaved_masks(ctx: JobContext) -> None:
    """Cleanup of a failed or cancelled run: the files sent with it, and the mask files it wrote that no
    annotation references."""
    sent = inputs.delete_uploads(ctx.store, ctx.params)
    if sent:
        ctx.log(f"deleted {sent} sent file(s)")
    keys = ctx.checkpoint.get("mask_keys") or []
    if not keys:
        return
    with ctx.database.transaction() as session:
        kept = set(session.scalars(select(Annotation.file_key).where(Annotation.file_key.in_(keys))))
    for key in keys:
        if key not in kept and ctx.store.exists(key):
            ctx.store.delete(key)
    ctx.log(f"removed {len([k for k in keys if k not in kept])} unsaved mask file(s)")


registry.register(KIND, run_inference, cleanup=remove_unsaved_masks, max_attempts=2,
                  description="run a deployed model on resources; optionally save its predictions as annotations")

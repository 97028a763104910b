"""Exports as jobs (kind ``formats.export``): the routes that start and download them, and the handler.

::

    POST /projects/{project_id}/exports        202 with the job; body: format, filters, split, options
    GET  /exports/{job_id}/download            the archive (whoever may see the job)
    GET  /exports/download/{token}             the archive, by the token in the job's result (no key)

The job reads the resources in scope, then streams their annotations resource by resource into a
zip written to a temporary file (memory stays flat), stores it as one blob, and in one transaction
records the archive (with the hash of a random download token and an expiry) and completes the
job. Expired archives are deleted (blob and row) whenever an export starts; until then a download
of an expired one answers 410.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from datamint.server.auth.service import Principal
from datamint.server.common.http import content_disposition
from datamint.server.common.ids import check_uuids
from datamint.server.common.values import JsonObject, Line, RequestBody, line
from datamint.server.datasets import service as datasets_service
from datamint.server.datasets.models import DatasetVersion
from datamint.server.db.base import iso, new_id, utcnow
from datamint.server.deps import CurrentUser, JobsDep, SessionDep, UnitOfWork
from datamint.server.errors import GoneError, NotFoundError, ValidationFailedError
from datamint.server.formats import (
    dicom_seg,  # noqa: F401 - registers the dicom_seg writer
    source,
)
from datamint.server.formats.archive import Archive, Plan
from datamint.server.formats.geometry import ResourceGeometry
from datamint.server.formats.geometry import load as load_geometry
from datamint.server.formats.models import ExportArchive
from datamint.server.formats.writers import WRITERS
from datamint.server.jobs import registry
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext
from datamint.server.policy import ProjectAction
from datamint.server.projects.models import Dataset
from datamint.server.storage.base import BlobStore
from datamint.server.workflow import scope as scopes

KIND = "formats.export"
_LOG = logging.getLogger("datamint.server.formats")
router = APIRouter(tags=["formats"])


class ExportBody(RequestBody):
    """Body of ``POST /projects/{id}/exports``."""

    model_config = ConfigDict(extra="forbid")

    format: line(50) = Field(description="coco, yolo, voc, csv_fourcorner, csv_widthheight, png_masks, nifti, "
                                    "dicom_seg or datamint")
    worklist_id: Line | None = Field(default=None, description="export one worklist of the project")
    version: line(100) | None = Field(default=None,
                                description="export a version of the project's dataset (latest, a number or a name)")
    annotators: list[line(320)] | None = Field(default=None, max_length=1000)
    statuses: list[line(20)] | None = Field(default=None, max_length=10,
                                            description="annotation status: new, published")
    labels: list[line(300)] | None = Field(default=None, max_length=10000)
    resource_ids: list[Line] | None = Field(default=None, max_length=100000)
    splits: list[line(100)] | None = Field(default=None, max_length=20, description="project splits to take")
    include_model: bool = True
    split: JsonObject | None = Field(default=None, description='{"ratios": {"train": 0.8, "val": 0.2}, "seed": 1}')
    options: JsonObject = Field(default_factory=dict)


#: Options each format takes (name → allowed values, or a type); ``keep_hours`` is every format's.
OPTIONS: dict[str, dict[str, Any]] = {"yolo": {"task": ("detect", "segment")}, "nifti": {"nnunet": bool},
                                      "png_masks": {"instances": bool}}


def check_options(fmt: str, options: dict[str, Any]) -> None:
    """422 for an option the format does not take or a value it does not accept."""
    allowed = {**OPTIONS.get(fmt, {}), "keep_hours": float}
    for name, value in options.items():
        rule = allowed.get(name)
        if rule is None:
            raise ValidationFailedError(f"Unknown option {name!r} for format {fmt!r}: it takes "
                                        f"{', '.join(sorted(allowed))}")
        if rule is bool and not isinstance(value, bool):
            raise ValidationFailedError(f"Option {name!r} is true or false, got {value!r}")
        if rule is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 168):
            raise ValidationFailedError(f"Option 'keep_hours' is a number of hours in (0, 168], got {value!r}")
        if isinstance(rule, tuple) and value not in rule:
            raise ValidationFailedError(f"Option {name!r} is one of {', '.join(rule)}, got {value!r}")


def _scope(session: Session, me: Principal, project_id: str, worklist_id: str | None) -> scopes.Scope:
    found = scopes.of_project(session, me, project_id)
    if worklist_id:
        one = scopes.of_worklist(session, me, worklist_id)
        if one.worklists[0].project_id != found.project.id:  # type: ignore[union-attr]
            raise NotFoundError("Worklist", "Worklist not found in this project")
        found = one
    found.require(ProjectAction.EXPORT)
    return found


def _version(session: Session, found: scopes.Scope, ref: str) -> DatasetVersion:
    dataset = session.get(Dataset, found.project.dataset_id) if found.project is not None else None
    if dataset is None:
        raise NotFoundError("Dataset", "Dataset not found: the project has no dataset")
    return datasets_service.resolve_version(session, dataset, str(ref))


def purge_expired(session: Session, store: BlobStore) -> int:
    """Delete the archives whose time is up (rows now, blobs once the row is gone)."""
    rows = list(session.scalars(select(ExportArchive).where(ExportArchive.expires_at < utcnow()).limit(100)))
    for row in rows:
        session.execute(delete(ExportArchive).where(ExportArchive.job_id == row.job_id))
        try:
            store.delete(row.blob_key)
        except Exception:  # an unreferenced blob is harmless; the next purge does not see it again
            _LOG.exception("could not delete the expired export %s", row.blob_key)
    return len(rows)


@router.post("/projects/{project_id}/exports", status_code=202)
def start_export(project_id: str, body: ExportBody, request: Request, session: UnitOfWork, me: CurrentUser,
                 jobs: JobsDep) -> dict[str, Any]:
    """Start exporting the project's (or one worklist's) annotations in a format: 202 with the job
    (``formats.export``); its ``result`` names the archive and its download URL."""
    fmt = (body.format or "").strip().lower()
    if fmt not in WRITERS:
        raise ValidationFailedError(f"Unknown export format {body.format!r}: use one of {', '.join(sorted(WRITERS))}")
    check_options(fmt, body.options)
    found = _scope(session, me, project_id, body.worklist_id)
    if body.version is not None:
        if body.worklist_id:
            raise ValidationFailedError("Export a worklist or a dataset version, not both")
        _version(session, found, body.version)
    source.check_split(body.split)
    if body.resource_ids:
        check_uuids(body.resource_ids, "resource")
    seed = (body.split or {}).get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationFailedError(f"split seed must be an integer, got {seed!r}")
    purge_expired(session, request.app.state.blob_store)
    params = body.model_dump()
    params.update(format=fmt, project_id=found.project.id if found.project else found.worklists[0].project_id)
    job = jobs_service.submit(session, jobs, me, KIND, params, project_id=params["project_id"])
    return jobs_service.to_wire(job)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def run_export(ctx: JobContext) -> dict[str, Any]:
    """The ``formats.export`` handler (see the module docstring)."""
    me = ctx.creator("start the export again")
    params = ctx.params
    filters = source.Filters.of(params)
    session = ctx.database.session()
    try:  # the creator must still be allowed to export
        found = _scope(session, me, params["project_id"], params.get("worklist_id"))
        name = found.name
        query: Any
        if params.get("version") is not None:
            version = _version(session, found, params["version"])
            resources = source.version_resources(session, version, filters)
            query = source.VersionQuery(version.id, version.customer_id, filters)
            labels = query.labels(session)
            name = f"{name}-v{version.number}"
        else:
            resources = source.resources(session, found, filters)
            labels = source.labels(session, found, filters)
            query = source.annotation_query(session, found, filters)
    finally:
        session.rollback()
        session.close()
    ratios = source.check_split(params.get("split"))
    splits = source.assign_splits(resources, ratios, int((params.get("split") or {}).get("seed", 0)))
    geometries: dict[str, ResourceGeometry] = {}

    def geometry(resource: source.ResourceInfo) -> ResourceGeometry:
        if resource.id not in geometries:
            if len(geometries) > 64:
                geometries.clear()
            geometries[resource.id] = load_geometry(ctx.store, resource.mimetype, resource.location,
                                                    resource.metadata)
        return geometries[resource.id]

    fmt = params["format"]
    archive = Archive()
    key = f"{ctx.customer_id}/exports/{ctx.job_id}/{new_id()}.zip"
    try:
        plan = Plan(labels, splits, dict(params.get("options") or {}), ctx.store, geometry, ctx.log)
        writer = WRITERS[fmt](archive, plan)
        ctx.progress(0, len(resources), "exporting", force=True)
        for done, (resource, annotations) in enumerate(source.by_resource(ctx.database, query, resources), 1):
            writer.add(resource, annotations)
            ctx.progress(done, len(resources), "exporting")
        writer.finish()
        size = archive.close()
        for why, count in sorted(plan.skipped.items()):
            ctx.log(f"{count} annotation(s) not exported: {why}", level="warning")
        ctx.save_checkpoint({"archive_key": key})
        with open(archive.path, "rb") as fh:
            ctx.store.put(key, fh)
    finally:
        archive.discard()
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:80] or "annotations"
    filename = f"{safe}-{fmt}.zip"
    token = secrets.token_urlsafe(32)
    hours = float((ctx.params.get("options") or {}).get("keep_hours") or 0) or 24.0
    expires = utcnow() + timedelta(hours=min(hours, 24 * 7))
    result = {"format": fmt, "filename": filename, "size": size, "annotations": plan.written,
              "resources": len(resources), "skipped": plan.skipped, "labels": labels,
              "splits": sorted(set(splits.values())), "expires_at": iso(expires),
              "download_url": f"/exports/download/{token}", "download_token": token}
    with ctx.transaction() as session:
        session.add(ExportArchive(job_id=ctx.job_id, customer_id=ctx.customer_id, blob_key=key, filename=filename,
                                  size=size, token_hash=_hash(token), expires_at=expires))
        ctx.complete(session, result)
    return result


def remove_archive(ctx: JobContext) -> None:
    """Cleanup of a failed or cancelled export: its archive blob if no row records it."""
    key = ctx.checkpoint.get("archive_key")
    if not key:
        return
    with ctx.database.transaction() as session:
        recorded = session.scalar(select(ExportArchive.job_id).where(ExportArchive.blob_key == key))
    if recorded is None and ctx.store.exists(key):
        ctx.store.delete(key)
        ctx.log("removed the unfinished archive")


registry.register(KIND, run_export, cleanup=remove_archive, max_attempts=3,
                  description="export a project's annotations in a format (COCO, NIfTI, ...) as a zip")


def _stream(store: BlobStore, row: ExportArchive) -> StreamingResponse:
    try:
        chunks = store.iter_chunks(row.blob_key)
    except Exception:
        raise GoneError("The export archive is no longer stored; run the export again")
    return StreamingResponse(chunks, media_type="application/zip",
                             headers={"Content-Disposition": content_disposition(row.filename),
                                      "Content-Length": str(row.size)})


def _live(row: ExportArchive | None) -> ExportArchive:
    if row is None:
        raise NotFoundError("Export archive")
    if row.expires_at < utcnow():
        raise GoneError("The export archive expired; run the export again")
    return row


@router.get("/exports/{job_id}/download")
def download_export(job_id: str, request: Request, session: SessionDep, me: CurrentUser) -> StreamingResponse:
    """The archive of a completed export job you may see (404 before it completes; 410 once expired)."""
    job = jobs_service.visible_job(session, me, job_id)
    if job.kind != KIND:
        raise NotFoundError("Export archive", f"Job {job.id} is a {job.kind} job, not an export")
    store = request.app.state.blob_store
    row = _live(session.get(ExportArchive, job.id))
    return _stream(store, row)


@router.get("/exports/download/{token}")
def download_by_token(token: str, request: Request, session: SessionDep, me: CurrentUser) -> StreamingResponse:
    """The archive named by a download token (``result.download_url`` of the job): a link anyone of
    the organization can use until the archive expires (410 after)."""
    store = request.app.state.blob_store
    row = session.scalar(select(ExportArchive).where(ExportArchive.token_hash == _hash(token or ""),
                                                     ExportArchive.customer_id == me.customer_id))
    row = _live(row)
    return _stream(store, row)


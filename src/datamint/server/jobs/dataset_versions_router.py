"""Dataset versions as jobs (kind ``datasets.version``): the route that starts one and the handler.

The datasets area sits below jobs and never imports it; this module composes the two (the pattern
for any lower area's long operation). ``POST /datasets/{id}/versions`` checks the request at once
(permission, name, 409 for a name taken) and answers ``202`` with the job; the job then builds the
version in steps (``datasets.versioning``):

1. hash the resources never hashed (progress per resource, committed in small batches);
2. copy the new masks to their content-addressed keys, recorded in the job's checkpoint first;
3. one short transaction that writes the version and marks the job completed together.

Cancelled between steps, failed, or killed on its last attempt, the job's cleanup deletes the mask
copies no version recorded (the leftovers a crash between 2 and 3 used to leave). Run again after
a crash, steps 1 and 2 skip what is done.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from datamint.server import policy
from datamint.server.datasets import service as datasets_service
from datamint.server.datasets import snapshot as snap
from datamint.server.datasets import versioning
from datamint.server.datasets.schemas import VersionCreate
from datamint.server.deps import CurrentUser, JobsDep, UnitOfWork
from datamint.server.jobs import registry
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext

KIND = "datasets.version"
router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("/{dataset_id}/versions", status_code=202)
def create_version(dataset_id: str, body: VersionCreate, session: UnitOfWork, me: CurrentUser,
                   jobs: JobsDep) -> dict[str, Any]:
    """Start freezing the dataset's current resources, annotations (with copies of their masks) and
    label schema as a new immutable version: 202 with the job (follow it at ``/jobs/{id}``; its
    ``result.version`` is the version). 409 at once when the name is taken or being built."""
    dataset, project, name = datasets_service.check_new_version(session, me, dataset_id, body.name)
    params = {"dataset_id": dataset.id, "name": name, "description": body.description}
    job = jobs_service.submit(session, jobs, me, KIND, params, project_id=project.id,
                              dedupe_key=f"{dataset.id}:{name}" if name else None,
                              duplicate=f"A version named {name!r} of this dataset is already being built")
    return jobs_service.to_wire(job)


def build_version(ctx: JobContext) -> dict[str, Any]:
    """The ``datasets.version`` handler (see the module docstring)."""
    me = ctx.creator("start the version again")
    dataset_id, name = ctx.params["dataset_id"], ctx.params.get("name")
    with ctx.database.transaction() as session:  # the creator must still manage the dataset
        _, project = datasets_service.visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
        pending = versioning.unhashed_resources(session, project)
    ctx.progress(0, len(pending), "hashing resources", force=True)
    versioning.hash_pending_resources(ctx.database.session, ctx.store, pending,
                                      lambda done, total: ctx.progress(done, total, "hashing resources"))
    ctx.log(f"{len(pending)} resource(s) hashed")
    session = ctx.database.session()
    try:
        _, project = datasets_service.visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
        plan = versioning.masks_to_copy(session, ctx.store, me.customer_id, project)
    finally:
        session.rollback()
        session.close()
    if plan:
        ctx.save_checkpoint({"mask_keys": sorted(set(ctx.checkpoint.get("mask_keys", [])) | {k for _, k in plan})})
    ctx.progress(0, len(plan), "copying masks", force=True)
    for i, (source, target) in enumerate(plan, start=1):
        versioning.copy_mask(ctx.store, source, target)
        ctx.progress(i, len(plan), "copying masks")
    ctx.log(f"{len(plan)} new mask(s) copied")
    ctx.progress(0, 1, "freezing the version", force=True)
    content = None
    try:
        with ctx.transaction() as session:
            content = datasets_service.create_version(session, ctx.store, me, dataset_id, name,
                                                      ctx.params.get("description"))
            assert content.version is not None
            wire = snap.version_to_wire(content.version)
            ctx.complete(session, {"version": wire, "dataset_id": dataset_id, "number": wire["number"],
                                   "name": wire["name"]})
    except BaseException:
        if content is not None:
            datasets_service.discard_written(ctx.store, content)
        raise
    return {"version": wire}


def remove_mask_copies(ctx: JobContext) -> None:
    """Cleanup of a failed or cancelled build: the mask copies it made that no version recorded."""
    keys = ctx.checkpoint.get("mask_keys") or []
    if keys:
        with ctx.database.transaction() as session:
            deleted = versioning.remove_unrecorded(session, ctx.store, keys)
        ctx.log(f"removed {len(deleted)} mask copy(ies) no version recorded")


registry.register(KIND, build_version, cleanup=remove_mask_copies, max_attempts=3,
                  description="freeze a dataset's resources, annotations and label schema as a version")

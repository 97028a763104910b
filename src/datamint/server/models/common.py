"""What the deploy and inference routes share: which project a model is in, who runs a job, job shapes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.db.base import iso
from datamint.server.errors import AppError, NotFoundError, ValidationFailedError
from datamint.server.jobs import service as jobs_service
from datamint.server.jobs.context import JobContext
from datamint.server.jobs.models import Job
from datamint.server.models.mlflow_backend import MlflowBackend, backend_for
from datamint.server.models.models import ModelDeployment
from datamint.server.projects import repository as projects_repo
from datamint.server.projects import service as projects_service

DEFAULT_TAG = "champion"


def split_model_name(name: str) -> tuple[str | None, str]:
    """``"project/model"`` → ``("project", "model")``; a plain name has no project part."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailedError("model_name is required")
    head, sep, tail = name.strip().partition("/")
    return (head, tail) if sep and tail else (None, name.strip())


def model_project(session: Session, backend: MlflowBackend, me: Principal, model_name: str,
                  project_id: str | None, action: policy.ProjectAction) -> tuple[str, str]:
    """The project (id) that holds ``model_name`` for the caller, checked for ``action``; and the bare name.

    ``project_id`` (or a ``project/model`` name) chooses the project; otherwise the caller's one
    project with a registered model of that name.

    Raises:
        NotFoundError: No project of the caller holds such a model (or the project is not theirs).
        AppError: Several of the caller's projects do (400: name the project).
        ForbiddenError: The caller's role in the project does not allow ``action``.
    """
    project_name, name = split_model_name(model_name)
    if project_id is None and project_name is not None:
        project = projects_repo.get_by_name(session, me.customer_id, project_name)
        project_id = project.id if project is not None else project_name
    if project_id is None:
        backend.ensure_ready()
        mine = [w for w in backend.workspaces_of_registered_model(name) if _sees(session, me, w)]
        if not mine:
            raise NotFoundError("Model", f"Model {name!r} not found in your projects: register it with MLflow "
                                         "(datamint.mlflow.log_model(..., registered_model_name=...)) first")
        if len(mine) > 1:
            raise AppError(f"Several of your projects have a model named {name!r}: pass project_id, or use "
                           "'<project name>/<model name>'")
        project_id = mine[0]
    _, roles = projects_service.visible_project(session, me, project_id)
    policy.require_project(me, roles, action)
    return project_id, name


def _sees(session: Session, me: Principal, project_id: str) -> bool:
    project = projects_repo.get_project(session, me.customer_id, project_id)
    return project is not None and projects_service.sees(session, me, project)


def deployment(session: Session, project_id: str, model_name: str, tag: str) -> ModelDeployment | None:
    """The deployment of ``model_name`` under ``tag`` in the project, if any."""
    return session.scalar(select(ModelDeployment).where(
        ModelDeployment.project_id == project_id, ModelDeployment.model_name == model_name,
        ModelDeployment.tag == tag))


def deployment_to_wire(d: ModelDeployment) -> dict[str, Any]:
    """A deployed image as ``list_images`` shows it."""

    return {"id": d.id, "model_name": d.model_name, "tag": d.tag, "image_name": d.image_name,
            "model_version": d.model_version, "project_id": d.project_id, "supported_modes": d.supported_modes,
            "annotation_specs": d.annotation_specs, "created_at": iso(d.created_at), "details": d.details}


def backend_of(ctx: JobContext) -> MlflowBackend:
    """The MLflow backend of the job's server (the one this process registered for its database)."""
    return backend_for(ctx.database.url, ctx.store)


def job_of_kind(session: Session, me: Principal, job_id: str, kind: str, what: str) -> Job:
    """A visible job of ``kind`` (404 ``"<what> job not found"`` otherwise, wire §3.2)."""
    try:
        job = jobs_service.visible_job(session, me, job_id)
    except AppError as exc:
        raise NotFoundError(f"{what} job") from exc
    if job.kind != kind:
        raise NotFoundError(f"{what} job")
    return job


def cancel_wire(session: Session, runtime: Any, me: Principal, job: Job) -> dict[str, bool]:
    """``{"success": bool}``: whether the job is (or will be) cancelled."""
    try:
        job = jobs_service.cancel(session, runtime, me, job.id)
    except AppError:
        return {"success": False}
    return {"success": job.status == "cancelled" or job.cancel_requested}

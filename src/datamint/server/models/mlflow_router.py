"""MLflow's REST API (``/api/2.0/mlflow/...``, ``/api/2.0/mlflow-artifacts/...``) behind our keys.

Each request is authenticated with our API key (``Authorization: Bearer <key>``, as MLflow's
client sends ``MLFLOW_TRACKING_TOKEN``, or ``apikey``), assigned to one project, checked against
the caller's permission in it (reads: ``project.read``; writes: ``project.models``), and then
served by MLflow's own handler with the project as MLflow's workspace.

Which project (first that applies):

1. ``project_id`` in the JSON body or the query (the official client's ``set_project``), or the
   ``X-MLFLOW-WORKSPACE`` header (stock MLflow with ``MLFLOW_WORKSPACE=<project id>``);
2. the project of the object named: ``experiment_id``, ``run_id``/``run_uuid``, a logged model's
   id, an artifact path ``workspaces/<project>/...``, or a registered model's ``name`` that exactly
   one of the caller's projects holds;
3. the caller's only project, when they see exactly one.

Objects of projects the caller cannot see answer MLflow's ``RESOURCE_DOES_NOT_EXIST`` (404),
like objects that do not exist.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from datamint.server import policy
from datamint.server.auth.service import Principal, authenticate
from datamint.server.deps import api_key_from_headers, client_address
from datamint.server.errors import AppError, ForbiddenError, NotFoundError
from datamint.server.models.mlflow_backend import ALLOWED_PREFIXES, WORKSPACES_DIR, MlflowBackend
from datamint.server.projects import repository as projects_repo
from datamint.server.projects import service as projects_service

router = APIRouter(include_in_schema=False)

_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
_READ_SUFFIXES = ("/search", "/get", "/get-by-name", "/get-latest-versions", "/get-history", "/get-download-uri")
_MLFLOW_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "RESOURCE_DOES_NOT_EXIST", 409: "RESOURCE_ALREADY_EXISTS", 422: "INVALID_PARAMETER_VALUE",
                 429: "REQUEST_LIMIT_EXCEEDED"}


#: What MLflow clients learn from ``/api/3.0/mlflow/server-info``: projects are MLflow workspaces
#: (stock clients may name theirs with ``MLFLOW_WORKSPACE=<project id>``); artifacts go through
#: the proxy (no multipart or presigned URLs).
SERVER_INFO = {"store_type": "SqlStore", "workspaces_enabled": True, "trace_archival_enabled": False,
               "multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
               "presigned_upload_run_id_supported": False, "presigned_upload_model_id_supported": False,
               "features_enabled": {"gateway": False}}


def mlflow_error(status: int, message: str) -> Response:
    """An error in MLflow's own JSON shape (its client shows ``message``)."""
    body = {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def is_read(method: str, path: str) -> bool:
    """Whether an MLflow call only reads (``project.read`` suffices)."""
    return method == "GET" or path.rstrip("/").endswith(_READ_SUFFIXES)


class ProjectResolver:
    """Finds the project an MLflow request is about (see the module's docstring)."""

    def __init__(self, backend: MlflowBackend, session: Session, me: Principal) -> None:
        self.backend = backend
        self.session = session
        self.me = me

    def resolve(self, path: str, params: dict[str, Any], headers: Any) -> str:
        explicit = params.get("project_id") or headers.get("x-mlflow-workspace")
        artifact_project = self._artifact_project(path, params)
        if artifact_project is not None:
            if explicit and explicit != artifact_project:
                raise NotFoundError("Artifact")
            return artifact_project
        if explicit:
            return str(explicit)
        found = self._from_objects(path, params)
        if found is not None:
            return found
        return self._only_project()

    @staticmethod
    def _artifact_project(path: str, params: dict[str, Any]) -> str | None:
        prefix = "/api/2.0/mlflow-artifacts/artifacts"
        if not path.startswith(prefix):
            return None
        rel = path[len(prefix):].lstrip("/") or str(params.get("path") or "")
        parts = rel.strip("/").split("/")
        if len(parts) < 2 or parts[0] != WORKSPACES_DIR or not parts[1]:
            raise NotFoundError("Artifact")  # outside every project's folder
        return parts[1]

    def _from_objects(self, path: str, params: dict[str, Any]) -> str | None:
        b = self.backend
        if params.get("experiment_id") not in (None, ""):
            return b.workspace_of_experiment(str(params["experiment_id"])) or self._missing("Experiment")
        ids = params.get("experiment_ids")
        if isinstance(ids, list) and ids:
            spaces = {b.workspace_of_experiment(str(i)) for i in ids}
            if len(spaces) != 1 or None in spaces:
                return self._missing("Experiment")
            return spaces.pop()
        run_id = params.get("run_id") or params.get("run_uuid")
        if run_id:
            return b.workspace_of_run(str(run_id)) or self._missing("Run")
        if path.startswith("/api/2.0/mlflow/logged-models/"):
            model_id = path[len("/api/2.0/mlflow/logged-models/"):].split("/")[0]
            if model_id and model_id != "search":
                return b.workspace_of_logged_model(model_id) or self._missing("Logged model")
        name = params.get("name")
        if name and path.startswith(("/api/2.0/mlflow/registered-models/", "/api/2.0/mlflow/model-versions/")) \
                and not path.endswith("/create"):
            mine = [w for w in b.workspaces_of_registered_model(str(name)) if self._sees(w)]
            if len(mine) == 1:
                return mine[0]
            if len(mine) > 1:
                raise AppError(f"Several of your projects have a model named {name!r}: say which with "
                               "project_id (datamint.mlflow.set_project) or MLFLOW_WORKSPACE=<project id>")
            return self._missing("Registered model")
        return None

    def _missing(self, thing: str) -> str:
        raise NotFoundError(thing)

    def _sees(self, project_id: str) -> bool:
        project = projects_repo.get_project(self.session, self.me.customer_id, project_id)
        return project is not None and projects_service.sees(self.session, self.me, project)

    def _only_project(self) -> str:
        projects, _total = projects_repo.list_projects(
            self.session, self.me.customer_id, None if self.me.is_admin else self.me.user_id,
            include_archived=False, offset=0, limit=2)
        if len(projects) == 1:
            return projects[0].id
        raise AppError("This MLflow call names no project: call datamint.mlflow.set_project(...) or set "
                       "DATAMINT_PROJECT_ID (official client), or MLFLOW_WORKSPACE=<project id> (stock MLflow)")


def _params(request: Request, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if body and "json" in request.headers.get("content-type", "json") and request.method != "PUT":
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            params.update(data)
    return params


def _strip_project_id(request: Request, body: bytes) -> tuple[str, bytes]:
    """The query string and body without our ``project_id`` (MLflow's parsers reject unknown fields)."""
    query = urlencode([(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "project_id"])
    if body and request.method != "PUT":
        try:
            data = json.loads(body)
        except ValueError:
            return query, body
        if isinstance(data, dict) and "project_id" in data:
            data.pop("project_id")
            body = json.dumps(data).encode()
    return query, body


def _authorize(request: Request, path: str, params: dict[str, Any]) -> tuple[Principal, str]:
    """The caller and the project of this call, or an AppError."""
    database = request.app.state.database
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    backend: MlflowBackend = request.app.state.mlflow
    with database.session() as session:
        try:
            me = authenticate(session, api_key_from_headers(request))
        except AppError:
            guard.record_failure(client)
            raise
        request.state.user_email = me.email
        request.state.customer_id = me.customer_id
        if path.startswith("/api/3.0/mlflow/server-info"):
            return me, ""
        backend.ensure_ready()  # MLflow's migrations run on the first call after a start
        project_id = ProjectResolver(backend, session, me).resolve(path, params, request.headers)
        try:
            _, roles = projects_service.visible_project(session, me, project_id)
        except AppError as exc:
            raise NotFoundError("Project") from exc
        action = policy.ProjectAction.READ if is_read(request.method, path) else policy.ProjectAction.MODELS
        policy.require_project(me, roles, action)
        return me, project_id


def _call_flask(backend: MlflowBackend, project_id: str, method: str, path: str, query: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    builder = EnvironBuilder(path=path, method=method, query_string=query, data=body,
                             headers={k: v for k, v in headers.items()
                                      if k.lower() in ("content-type", "accept", "range")})
    environ = builder.get_environ()
    builder.close()
    token = backend.bind(project_id or None)
    try:
        app_iter, status, response_headers = run_wsgi_app(backend.flask_app, environ, buffered=True)
        try:
            data = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close:
                close()
    finally:
        backend.unbind(token)
    return int(status.split()[0]), list(response_headers.items()), data


async def _serve(request: Request, path: str) -> Response:
    if not path.startswith(ALLOWED_PREFIXES) or "search-datasets" in path:
        return mlflow_error(404, f"MLflow endpoint {path} not found on this server (only tracking, "
                                 "model registry and artifacts are served)")
    body = await request.body()
    params = _params(request, body)
    try:
        me, project_id = await run_in_threadpool(_authorize, request, path, params)
    except ForbiddenError as exc:
        return mlflow_error(403, exc.message)
    except AppError as exc:
        return mlflow_error(exc.status_code, exc.message)
    if path.startswith("/api/3.0/mlflow/server-info"):
        return Response(json.dumps(SERVER_INFO), media_type="application/json")
    query, body = _strip_project_id(request, body)
    backend: MlflowBackend = request.app.state.mlflow
    status, headers, data = await run_in_threadpool(_call_flask, backend, project_id, request.method, path, query,
                                                    body, dict(request.headers))
    keep = {k: v for k, v in headers if k.lower() in ("content-type", "content-disposition", "x-content-type-options")}
    return Response(data, status_code=status, headers=keep)


@router.api_route("/api/2.0/mlflow/{rest:path}", methods=_METHODS)
async def mlflow_rest(request: Request, rest: str) -> Response:
    """MLflow tracking and model registry REST API (MLflow's handlers, our keys and projects)."""
    return await _serve(request, f"/api/2.0/mlflow/{rest}")


@router.api_route("/api/2.0/mlflow-artifacts/{rest:path}", methods=_METHODS)
async def mlflow_artifacts(request: Request, rest: str) -> Response:
    """MLflow's artifact proxy; the files live in our blob store under ``mlflow/workspaces/<project>/``."""
    return await _serve(request, f"/api/2.0/mlflow-artifacts/{rest}")


@router.get("/api/3.0/mlflow/server-info")
async def mlflow_server_info(request: Request) -> Response:
    """MLflow's server-info (store type, features), for MLflow clients that ask."""
    return await _serve(request, "/api/3.0/mlflow/server-info")

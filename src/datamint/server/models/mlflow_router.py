"""MLflow's REST API (``/api/2.0/mlflow/...``, ``/api/2.0/mlflow-artifacts/...``) behind our keys.

Each request is authenticated with our API key (``Authorization: Bearer <key>``, as MLflow's
client sends ``MLFLOW_TRACKING_TOKEN``, or ``apikey``) by the request gate like every route (the
artifact routes take bodies up to ``max_upload_mb``, the others ``max_json_mb``), assigned to one
project, checked against the caller's permission in it (reads: ``project.read``; writes:
``project.models``), and then served by MLflow's own handler with the project as MLflow's
workspace.

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
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.values import MAX_JSON_DEPTH, json_problem
from datamint.server.deps import CurrentUser
from datamint.server.errors import AppError, ForbiddenError, NotFoundError
from datamint.server.models.mlflow_backend import ALLOWED_PREFIXES, WORKSPACES_DIR, MlflowBackend
from datamint.server.projects import repository as projects_repo
from datamint.server.projects import service as projects_service
from datamint.server.transport.routes import body_kind

router = APIRouter(include_in_schema=False)

_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
SPOOL_BYTES = 8 * 1024 * 1024
_READ_SUFFIXES = ("/search", "/get", "/get-by-name", "/get-latest-versions", "/get-history", "/get-download-uri")
_MLFLOW_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "RESOURCE_DOES_NOT_EXIST", 409: "RESOURCE_ALREADY_EXISTS", 422: "INVALID_PARAMETER_VALUE",
                 413: "INVALID_PARAMETER_VALUE", 429: "REQUEST_LIMIT_EXCEEDED"}


#: What MLflow clients learn from ``/api/3.0/mlflow/server-info``: projects are MLflow workspaces
#: (stock clients may name theirs with ``MLFLOW_WORKSPACE=<project id>``); artifacts go through
#: the proxy (no multipart or presigned URLs).
SERVER_INFO = {"store_type": "SqlStore", "workspaces_enabled": True, "trace_archival_enabled": False,
               "multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
               "presigned_upload_run_id_supported": False, "presigned_upload_model_id_supported": False,
               "features_enabled": {"gateway": False}}


def mlflow_error_body(status: int, message: str) -> dict[str, Any]:
    """An error body in MLflow's own JSON shape (its client shows ``message``)."""
    return {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}


def mlflow_error(status: int, message: str) -> Response:
    """An error response in MLflow's own JSON shape."""
    return Response(json.dumps(mlflow_error_body(status, message)), status_code=status,
                    media_type="application/json")


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
        if name and path.startswith(("/api/2.0/mlflow/registered-models/", "/api/2.0/mlflow/model-versions/",
                                     "/model-versions/get-artifact")) \
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


def _body_problem(request: Request, body: bytes) -> str | None:
    """What in a JSON body no backend can hold (common/values.py rules), or ``None`` (also when the
    body is not JSON: MLflow answers that itself)."""
    if not body or request.method == "PUT" or "json" not in request.headers.get("content-type", "json"):
        return None
    try:
        data = json.loads(body)
    except RecursionError:
        return f"it is nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:
        return None
    return json_problem(data)


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


def _authorize(request: Request, path: str, params: dict[str, Any], me: Principal) -> str:
    """The project of this call, checked against the caller's permission in it (or an AppError)."""
    backend: MlflowBackend = request.app.state.mlflow
    with request.app.state.database.session() as session:
        if path.startswith("/api/3.0/mlflow/server-info"):
            return ""
        backend.ensure_ready()  # MLflow's migrations run on the first call after a start
        project_id = ProjectResolver(backend, session, me).resolve(path, params, request.headers)
        try:
            _, roles = projects_service.visible_project(session, me, project_id)
        except AppError as exc:
            raise NotFoundError("Project") from exc
        action = policy.ProjectAction.READ if is_read(request.method, path) else policy.ProjectAction.MODELS
        policy.require_project(me, roles, action)
        return project_id


def _call_flask(backend: MlflowBackend, project_id: str, method: str, path: str, query: str,
                body: bytes | IO[bytes], size: int, headers: dict[str, str]
                ) -> tuple[int, list[tuple[str, str]], Iterable[bytes]]:
    """Serve one request with MLflow's Flask app, the project bound as MLflow's workspace.

    The answer is not buffered: a downloaded artifact streams from its file.
    """
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    source: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"input_stream": body,
                                                                            "content_length": size}
    builder = EnvironBuilder(path=path, method=method, query_string=query,
                             headers={k: v for k, v in headers.items()
                                      if k.lower() in ("content-type", "accept", "range")}, **source)
    environ = builder.get_environ()
    token = backend.bind(project_id or None)
    try:
        app_iter, status, response_headers = run_wsgi_app(backend.flask_app, environ, buffered=False)
    finally:
        backend.unbind(token)
    return int(status.split()[0]), list(response_headers.items()), app_iter


def _chunks(app_iter: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from app_iter
    finally:
        close = getattr(app_iter, "close", None)
        if close:
            close()


async def _spool(request: Request) -> tuple[IO[bytes], int]:
    """The request body in a temporary file (in memory up to 8 MiB): uploads are not held in memory."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        await run_in_threadpool(spool.write, chunk)
    spool.seek(0)
    return spool, size


async def serve(request: Request, path: str, me: Principal) -> Response:
    """Serve one MLflow REST call (``path`` as ``/api/...``): authorize it in its project, then MLflow's handler."""
    if not path.startswith(ALLOWED_PREFIXES) or "search-datasets" in path:
        return mlflow_error(404, f"MLflow endpoint {path} not found on this server (only tracking, "
                                 "model registry and artifacts are served)")
    upload = request.method == "PUT" and path.startswith("/api/2.0/mlflow-artifacts/")
    body = b"" if upload else await request.body()
    params = _params(request, body)
    try:
        project_id = await run_in_threadpool(_authorize, request, path, params, me)
    except ForbiddenError as exc:
        return mlflow_error(403, exc.message)
    except AppError as exc:
        return mlflow_error(exc.status_code, exc.message)
    if path.startswith("/api/3.0/mlflow/server-info"):
        return Response(json.dumps(SERVER_INFO), media_type="application/json")
    if (problem := _body_problem(request, body)) is not None:  # MLflow's own tables get no NUL, no NaN
        return mlflow_error(422, f"Invalid request body: {problem}")
    query, body = _strip_project_id(request, body)
    source: bytes | IO[bytes] = body
    size = len(body)
    if upload:
        source, size = await _spool(request)
    backend: MlflowBackend = request.app.state.mlflow
    try:
        status, headers, app_iter = await run_in_threadpool(_call_flask, backend, project_id, request.method, path,
                                                            query, source, size, dict(request.headers))
    finally:
        if not isinstance(source, bytes):
            source.close()
    keep = {k: v for k, v in headers if k.lower() in ("content-type", "content-disposition", "content-length",
                                                      "x-content-type-options")}
    return StreamingResponse(_chunks(app_iter), status_code=status, headers=keep)


@router.api_route("/api/2.0/mlflow/{rest:path}", methods=_METHODS)
@body_kind("json", caller=True, errors=mlflow_error_body)  # the gate authenticates before the body
async def mlflow_rest(request: Request, rest: str, me: CurrentUser) -> Response:
    """MLflow tracking and model registry REST API (MLflow's handlers, our keys and projects)."""
    return await serve(request, f"/api/2.0/mlflow/{rest}", me)


@router.api_route("/api/2.0/mlflow-artifacts/{rest:path}", methods=_METHODS)
@body_kind("upload", caller=True, errors=mlflow_error_body)
async def mlflow_artifacts(request: Request, rest: str, me: CurrentUser) -> Response:
    """MLflow's artifact proxy; the files live in our blob store under ``mlflow/workspaces/<project>/``."""
    return await serve(request, f"/api/2.0/mlflow-artifacts/{rest}", me)


@router.get("/api/3.0/mlflow/server-info")
@body_kind("small", caller=True, errors=mlflow_error_body)
async def mlflow_server_info(request: Request, me: CurrentUser) -> Response:
    """MLflow's server-info (store type, features), for MLflow clients that ask."""
    return await serve(request, "/api/3.0/mlflow/server-info", me)

"""MLflow's own web UI (the build the ``mlflow`` package ships in ``mlflow/server/js/build``) at ``/mlflow/``.

The UI is a single page that calls relative ``ajax-api/...`` URLs, so under ``/mlflow/`` it calls
``/mlflow/ajax-api/2.0/mlflow/...``: those routes are served by the same handler as MLflow's REST
API (:mod:`.mlflow_router`): the same project resolution and permission checks, MLflow's handlers
with the project as its workspace. Only the tracking, registry and artifact-proxy calls are
answered, and the artifact previews (``/mlflow/get-artifact``, ``/mlflow/model-versions/get-artifact``);
the UI's other calls (traces, gateway, prompts, telemetry...) get a 404.

**Who.** The web app's session cookie (or an API key) authenticates, checked by the request gate
before the body like every route. Cookie-authenticated writes need the session's CSRF token in
``X-CSRF-Token``: the page sets it in the cookie ``mlflow-request-header-X-CSRF-Token`` (path
``/mlflow``, ``SameSite=Strict``), which MLflow's UI turns into that header on each of its calls.

**Projects.** The server says workspaces are on, so the UI lists the caller's projects as its
workspaces (``/mlflow/ajax-api/3.0/mlflow/workspaces``: name = project id, description = project
name) and sends the chosen one in ``X-MLFLOW-WORKSPACE``; a project the caller cannot see answers
404, as on the REST API, so another organization sees nothing.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from datamint.server.auth import web_sessions
from datamint.server.deps import CurrentUser, SessionDep
from datamint.server.models.mlflow_router import SERVER_INFO, mlflow_error, mlflow_error_body, serve
from datamint.server.projects import service as projects_service
from datamint.server.transport.routes import body_kind

PREFIX = "/mlflow"
CSRF_COOKIE = "mlflow-request-header-X-CSRF-Token"
_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
MAX_WORKSPACES = 1000

router = APIRouter(include_in_schema=False)


def build_dir() -> Path | None:
    """The UI's build folder inside the installed ``mlflow`` package, if it ships one."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "server" / "js" / "build"
    return folder if (folder / "index.html").is_file() else None


@router.get(PREFIX)
def ui_root() -> RedirectResponse:
    """``/mlflow`` → ``/mlflow/`` (the UI's relative URLs need the slash)."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(f"{PREFIX}/")
def ui_page(request: Request) -> Response:
    """MLflow's UI page; with a web session, the CSRF token its calls send back."""
    folder = build_dir()
    if folder is None:
        return mlflow_error(404, "This mlflow installation ships no web UI build (mlflow/server/js/build)")
    response = FileResponse(folder / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                     "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"})
    cookie = request.cookies.get(web_sessions.COOKIE_NAME)
    if cookie:
        response.set_cookie(CSRF_COOKIE, web_sessions.csrf_token_for(cookie), path=PREFIX, httponly=False,
                            samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get(f"{PREFIX}/ajax-api/3.0/mlflow/server-info")
@body_kind("small", caller=True, errors=mlflow_error_body)
def ui_server_info(me: CurrentUser) -> Response:
    """MLflow's server-info for the UI (workspaces on)."""
    return Response(json.dumps(SERVER_INFO), media_type="application/json")


@router.get(f"{PREFIX}/ajax-api/3.0/mlflow/workspaces")
@body_kind("small", caller=True, errors=mlflow_error_body)
def ui_workspaces(session: SessionDep, me: CurrentUser) -> Response:
    """The caller's projects as MLflow workspaces (name = project id, description = project name)."""
    projects, _ = projects_service.visible_projects(session, me, False, 0, MAX_WORKSPACES)
    body = {"workspaces": [{"name": p.id, "description": p.name} for p in projects]}
    return Response(json.dumps(body), media_type="application/json")


@router.api_route(f"{PREFIX}/ajax-api/2.0/mlflow/{{rest:path}}", methods=_METHODS)
@body_kind("json", caller=True, errors=mlflow_error_body)
async def ui_mlflow_rest(request: Request, rest: str, me: CurrentUser) -> Response:
    """The UI's calls to MLflow's tracking and registry API (as ``/api/2.0/mlflow/...``)."""
    return await serve(request, f"/api/2.0/mlflow/{rest}", me)


@router.api_route(f"{PREFIX}/ajax-api/2.0/mlflow-artifacts/{{rest:path}}", methods=_METHODS)
@body_kind("upload", caller=True, errors=mlflow_error_body)
async def ui_mlflow_artifacts(request: Request, rest: str, me: CurrentUser) -> Response:
    """The UI's calls to MLflow's artifact proxy (as ``/api/2.0/mlflow-artifacts/...``)."""
    return await serve(request, f"/api/2.0/mlflow-artifacts/{rest}", me)


@router.get(f"{PREFIX}/get-artifact")
@body_kind("small", caller=True, errors=mlflow_error_body)
async def ui_get_artifact(request: Request, me: CurrentUser) -> Response:
    """A run's artifact file for the UI's previews (``path``, ``run_uuid``), checked like the REST API."""
    return await serve(request, "/get-artifact", me)


@router.get(f"{PREFIX}/model-versions/get-artifact")
@body_kind("small", caller=True, errors=mlflow_error_body)
async def ui_get_model_version_artifact(request: Request, me: CurrentUser) -> Response:
    """A model version's artifact file for the UI's previews (``name``, ``version``, ``path``)."""
    return await serve(request, "/model-versions/get-artifact", me)


def install(app: FastAPI) -> None:
    """Add the UI's routes and its static files (``/mlflow/static-files/...``) to ``app``."""
    app.include_router(router)
    folder = build_dir()
    if folder is not None:
        app.mount(f"{PREFIX}/static-files", StaticFiles(directory=folder), name="mlflow-ui-static")

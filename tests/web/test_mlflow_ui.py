"""MLflow's own web UI at /mlflow/, signed in with the web app's session: a user sees the experiments and
registered models of their project, and nothing of another organization's (which has a project, an
experiment and a model of its own on the same server)."""

from __future__ import annotations

from typing import Any

import httpx
from web_helpers import make_user, shot, sign_in

from datamint import Api

from conftest import unique


def _mlflow(url: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/api/2.0/mlflow/{path}", json=body, headers={"Authorization": f"Bearer {key}"},
                        timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _project_with_models(url: str, key: str, prefix: str) -> tuple[str, str, str]:
    """A project of the key's user with an experiment and a registered model; (project id, experiment, model)."""
    with Api(url, key) as api:
        project = api.projects.create(unique(prefix), "models")
    experiment, model = unique(f"{prefix}-exp"), unique(f"{prefix}-model")
    _mlflow(url, key, "experiments/create", {"name": experiment, "project_id": project.id})
    _mlflow(url, key, "registered-models/create", {"name": model, "project_id": project.id})
    return project.id, experiment, model


def test_the_mlflow_ui_shows_my_projects_experiments_and_models_only(web_server, page, context):
    web_server.app.state.mlflow.ensure_ready()
    email, key = make_user(web_server)
    project_id, experiment, model = _project_with_models(web_server.url, key, "mine")
    other_key = web_server.new_org()
    other_project, other_experiment, other_model = _project_with_models(web_server.url, other_key, "theirs")

    sign_in(page, email)
    page.goto("/mlflow/")
    cookies = {c["name"]: c for c in context.cookies()}
    csrf = cookies["mlflow-request-header-X-CSRF-Token"]
    assert csrf["path"] == "/mlflow" and csrf["sameSite"] == "Strict" and csrf["httpOnly"] is False
    page.goto(f"/mlflow/#/experiments?workspace={project_id}")
    page.get_by_text(experiment).first.wait_for()
    shot(page, "mlflow-01-experiments")
    assert page.get_by_text(other_experiment).count() == 0
    page.goto(f"/mlflow/#/models?workspace={project_id}")
    page.get_by_text(model).first.wait_for()
    shot(page, "mlflow-02-models")
    assert page.get_by_text(other_model).count() == 0

    # The other organization's project, named outright, is not there for this session.
    seen = context.request.get(f"/mlflow/ajax-api/2.0/mlflow/registered-models/search",
                               headers={"X-MLFLOW-WORKSPACE": other_project})
    assert seen.status == 404 and seen.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    workspaces = context.request.get("/mlflow/ajax-api/3.0/mlflow/workspaces").json()["workspaces"]
    assert [w["name"] for w in workspaces] == [project_id]
    # A write through the session needs the CSRF token the page set (the UI sends it as a header).
    body = {"name": unique("ui-exp")}
    refused = context.request.post("/mlflow/ajax-api/2.0/mlflow/experiments/create", data=body,
                                   headers={"X-MLFLOW-WORKSPACE": project_id})
    assert refused.status == 403, refused.text()
    created = context.request.post("/mlflow/ajax-api/2.0/mlflow/experiments/create", data=body,
                                   headers={"X-MLFLOW-WORKSPACE": project_id, "X-CSRF-Token": csrf["value"]})
    assert created.status == 200, created.text()
    # The UI's artifact preview of a run's file (logged through the REST API with the key).
    run = _mlflow(web_server.url, key, "runs/create", {"experiment_id": created.json()["experiment_id"]})["run"]
    root = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:")
    put = httpx.put(f"{web_server.url}/api/2.0/mlflow-artifacts/artifacts{root}/notes.txt", content=b"hello",
                    headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert put.status_code == 200, put.text
    preview = context.request.get(f"/mlflow/get-artifact?path=notes.txt&run_uuid={run['info']['run_id']}",
                                  headers={"X-MLFLOW-WORKSPACE": project_id})
    assert preview.status == 200 and preview.body() == b"hello"
    stranger = httpx.get(f"{web_server.url}/mlflow/get-artifact", params={"path": "notes.txt",
                                                                       "run_uuid": run["info"]["run_id"]},
                         headers={"apikey": other_key}, timeout=30)
    assert stranger.status_code == 404
    # Without a session: nothing.
    assert httpx.get(f"{web_server.url}/mlflow/ajax-api/3.0/mlflow/workspaces", timeout=30).status_code == 401

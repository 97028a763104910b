"""MLflow's REST API and its web UI's calls (``/mlflow/ajax-api/...``), caller by caller, as the
``mlflow-ui`` table of docs/permissions.md says; and the UI's workspaces list only the caller's projects."""

from __future__ import annotations

import uuid

import httpx
import pytest

from fixtures.authz.permissions_doc import ACTORS, read_table
from fixtures.authz.world import World


@pytest.fixture(scope="module")
def world(server) -> World:
    server.app.state.mlflow.ensure_ready()
    built = World(server)
    # A run of P with one artifact file, for the artifact preview route.
    headers = {"Authorization": f"Bearer {built.actors['admin'].key}"}
    experiment = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", headers=headers, timeout=60,
                            json={"name": f"ui-{uuid.uuid4().hex[:8]}", "project_id": built.project_id}).json()
    run = httpx.post(f"{server.url}/api/2.0/mlflow/runs/create", headers=headers, timeout=60,
                     json={"experiment_id": experiment["experiment_id"]}).json()["run"]["info"]
    root = run["artifact_uri"].removeprefix("mlflow-artifacts:")
    put = httpx.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts{root}/notes.txt", content=b"notes",
                    headers=headers, timeout=60)
    assert put.status_code == 200, put.text
    built.mlflow_run_id = run["run_id"]  # type: ignore[attr-defined]
    return built


def _body(path: str) -> dict[str, str] | None:
    if path.endswith("/create"):
        return {"name": f"ui-{uuid.uuid4().hex[:10]}"}
    if path.endswith("experiments/search"):
        return {"max_results": 10}
    return None


def test_every_mlflow_call_answers_every_caller_as_documented(server, world):
    header, rows = read_table("mlflow-ui")
    assert tuple(header[2:]) == ACTORS
    mismatches = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for row in rows:
            method, _, path = row[0].partition(" ")
            for actor_name, expected in zip(ACTORS, row[2:], strict=True):
                actor = world.actors[actor_name]
                headers = {"X-MLFLOW-WORKSPACE": world.project_id}
                if actor.key:
                    headers["Authorization"] = f"Bearer {actor.key}"
                query = {"path": "notes.txt", "run_uuid": world.mlflow_run_id} if path.endswith("get-artifact") \
                    else None  # type: ignore[attr-defined]
                response = client.request(method, path, headers=headers, json=_body(path), params=query)
                if response.status_code != int(expected):
                    mismatches.append(f"{row[0]:<60} {actor_name:<16} expected {expected}, got "
                                      f"{response.status_code}: {response.text[:160]}")
    assert not mismatches, "status differs from docs/permissions.md (mlflow-ui):\n" + "\n".join(mismatches)


def test_the_ui_lists_only_the_callers_projects_as_workspaces(server, world):
    def names(actor: str) -> list[str]:
        answer = httpx.get(f"{server.url}/mlflow/ajax-api/3.0/mlflow/workspaces",
                           headers={"apikey": world.actors[actor].key}, timeout=30)
        return [w["name"] for w in answer.json()["workspaces"]]

    assert names("other org admin") == []
    assert names("member") == []
    assert world.project_id in names("annotator") and world.project_id in names("admin")

"""Who sees which job (creator, project managers, admins; 404 for everybody else), list filters,
paging and bad input, on both databases."""

from __future__ import annotations

import httpx
import pytest
from jobs_helpers import submit, terminal, wait_for

from datamint import Api
from datamint.server.auth.service import authenticate

from conftest import unique


def _user_id(server, key):
    with server.database.transaction() as session:
        return authenticate(session, key).user_id


@pytest.fixture
def team(server):
    """A project with a manager, a reviewer and an annotator, plus an outsider member and another org's admin."""
    people = {role: server.new_user() for role in ("manager", "reviewer", "annotator", "outsider")}
    admin = Api(server.url, server.admin_key)
    project = admin.projects.create(unique("jobs"), "jobs access")
    for role, name in (("manager", "PROJECT_MANAGER"), ("reviewer", "PROJECT_REVIEWER"),
                       ("annotator", "PROJECT_ANNOTATOR")):
        admin.projects.set_member(project, _user_id(server, people[role][1]), [name])
    admin.close()
    keys = {role: key for role, (_, key) in people.items()}
    keys["admin"], keys["other org admin"] = server.admin_key, server.new_org()
    return project.id, keys


def _status(server, key, method, path):
    return httpx.request(method, f"{server.url}{path}", headers={"apikey": key}, timeout=30).status_code


def test_creator_managers_and_admins_see_a_job_others_get_404(server, team):
    project_id, keys = team
    by_annotator = submit(server, keys["annotator"], "probe.steps", {"steps": 1}, project_id=project_id)
    wait_for(server.url, keys["annotator"], by_annotator, terminal)
    expected = {"annotator": 200, "manager": 200, "admin": 200, "reviewer": 404, "outsider": 404,
                "other org admin": 404}
    for path in (f"/jobs/{by_annotator}", f"/jobs/{by_annotator}/logs", f"/jobs/{by_annotator}/stream",
                 f"/jobs/{by_annotator}/logs/stream"):
        got = {who: _status(server, keys[who], "GET", path) for who in expected}
        assert got == expected, path
    outside_project = submit(server, keys["outsider"], "probe.steps", {"steps": 1})
    wait_for(server.url, keys["outsider"], outside_project, terminal)
    got = {who: _status(server, keys[who], "GET", f"/jobs/{outside_project}") for who in expected}
    assert got == {**expected, "annotator": 404, "manager": 404, "outsider": 200}
    body = httpx.get(f"{server.url}/jobs/{outside_project}", headers={"apikey": keys["reviewer"]}).json()
    assert body["message"] == "Job not found"
    # Cancelling follows the same rule: the reviewer cannot tell the job exists.
    running = submit(server, keys["annotator"], "probe.steps", {"steps": 1, "delay": 60}, project_id=project_id)
    assert _status(server, keys["reviewer"], "POST", f"/jobs/{running}/cancel") == 404
    assert _status(server, keys["manager"], "POST", f"/jobs/{running}/cancel") == 200
    assert wait_for(server.url, keys["annotator"], running, terminal)["status"] == "cancelled"


def test_list_shows_only_visible_jobs_with_filters_and_paging(server, team):
    project_id, keys = team
    mine = [submit(server, keys["annotator"], "probe.steps", {"steps": 1}, project_id=project_id) for _ in range(3)]
    other = submit(server, keys["outsider"], "probe.noop", {})
    for job_id in mine:
        wait_for(server.url, keys["annotator"], job_id, terminal)
    wait_for(server.url, keys["outsider"], other, terminal)

    def ids(key, **params):
        response = httpx.get(f"{server.url}/jobs", params=params, headers={"apikey": key})
        assert response.status_code == 200, response.text
        return response.json()

    assert {j["id"] for j in ids(keys["annotator"])["data"]} == set(mine)
    assert {j["id"] for j in ids(keys["reviewer"])["data"]} == set()
    assert {j["id"] for j in ids(keys["manager"], project_id=project_id)["data"]} == set(mine)
    assert {j["id"] for j in ids(keys["outsider"])["data"]} == {other}
    page = ids(keys["annotator"], limit=2, offset=0)
    assert page["totalCount"] == 3 and [j["id"] for j in page["data"]] == list(reversed(mine))[:2]  # newest first
    assert [j["id"] for j in ids(keys["annotator"], limit=2, offset=2)["data"]] == [mine[0]]
    assert {j["id"] for j in ids(keys["admin"], project_id=project_id, kind="probe.steps",
                                 status="completed")["data"]} == set(mine)
    assert ids(keys["admin"], project_id=project_id, status="failed")["totalCount"] == 0
    email = ids(keys["outsider"])["data"][0]["created_by"]
    assert [j["id"] for j in ids(keys["admin"], creator=email.upper())["data"]] == [other]
    assert ids(keys["other org admin"], kind="probe.noop")["totalCount"] == 0


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/jobs", {"status": "done"}, 422, "Unknown job status 'done'"),
    ("/jobs", {"project_id": "nope"}, 422, "Invalid project id 'nope'"),
    ("/jobs", {"limit": 0}, 422, None),
    ("/jobs/not-a-uuid", {}, 422, "Invalid job id 'not-a-uuid'"),
    # fixed ids: pytest-xdist processes must collect the same test names
    ("/jobs/5d0c3f9e-2f4b-4c8e-9a61-0b7d2e4f8a13", {}, 404, "Job not found"),
    ("/jobs/5d0c3f9e-2f4b-4c8e-9a61-0b7d2e4f8a13/logs", {"tail": 0}, 422, None),
])
def test_bad_input_gets_a_clear_4xx(server, path, params, status, message):
    response = httpx.get(f"{server.url}{path}", params=params, headers={"apikey": server.admin_key})
    assert response.status_code == status
    if message:
        assert response.json()["message"].startswith(message)
    assert httpx.get(f"{server.url}{path}", params=params).status_code == 401

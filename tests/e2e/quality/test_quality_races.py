"""Label-quality invariants under 16 concurrent requests (see tests/races.py): a label status and an
issue change state one transition at a time, so of 16 identical transitions exactly one wins and
the others are refused cleanly (4xx, never 5xx), and the history records one change."""

from __future__ import annotations

import pytest

from fixtures.projects import png_path
from fixtures.races import Call, N, at_once, same, statuses

from conftest import unique


@pytest.fixture
def setting(api, tmp_path):
    (tmp_path / "r").mkdir()
    rid = api.resources.upload_resource(str(png_path(tmp_path / "r")))
    project = api.projects.create(unique("races"), "d", resources_ids=[rid])
    return project, rid


def test_sixteen_identical_label_status_changes_make_one_transition(api, server, setting):
    project, rid = setting
    path = f"/projects/{project.id}/resources/{rid}/label-status"
    responses = at_once(server.url, same(Call(server.admin_key, "PUT", path, json={"status": "labeled"})))
    codes = statuses(responses)
    assert sorted(codes) == [200] + [422] * (N - 1), codes
    assert all("from 'labeled' to 'labeled'" in r.text for r in responses if r.status_code == 422)
    state = api.projects.get_label_status(project.id, rid)
    assert (state["status"], state["version"], len(state["history"])) == ("labeled", 1, 1)
    # With ``expected``, racing reviewers get one 200 and 409s that say the status moved.
    responses = at_once(server.url, same(Call(server.admin_key, "PUT", path,
                                              json={"status": "reviewed", "expected": "labeled"})))
    assert sorted(statuses(responses)) == [200] + [409] * (N - 1)
    assert [h["to"] for h in api.projects.get_label_status(project.id, rid)["history"]] == ["labeled", "reviewed"]


def test_sixteen_closes_of_one_issue_close_it_once(api, server, setting):
    project, rid = setting
    issue = api.resources.add_issue(rid, "race", project=project.id)
    responses = at_once(server.url, same(Call(server.admin_key, "PATCH", f"/issues/{issue['id']}",
                                              json={"status": "closed"})))
    codes = statuses(responses)
    assert sorted(codes) == [200] + [409] * (N - 1), codes
    thread = api.resources.get_issue(issue["id"])["comments"]
    assert [c["status"] for c in thread] == ["closed"]

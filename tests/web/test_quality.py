"""The label-quality page in Chromium: a manager sees the project's label sets, label statuses,
issues and time spent, adds a label set, closes an issue, and computes the readers' agreement."""

from __future__ import annotations

from playwright.sync_api import expect
from web_helpers import make_user, shot, sign_in

from datamint import Api
from fixtures.projects import png_path

from conftest import unique


def test_a_manager_reviews_label_quality(web_server, page, tmp_path):
    manager, key = make_user(web_server)
    api = Api(web_server.url, key)
    rid = api.resources.upload_resource(str(png_path(tmp_path)))
    project = api.projects.create(unique("Quality"), "browser test", resources_ids=[rid])
    api.projects.add_labelset(project, "second-opinion", "a second radiologist")
    issue = api.resources.add_issue(rid, "The lesion on the left is missing", project=project.id, frame_index=0)
    api.projects.set_label_status(project.id, rid, "labeled")
    api.annotationsets.create("Double read", [rid], project=project, readers_per_item=2)

    sign_in(page, manager)
    page.goto(f"/app/projects/{project.id}/quality")
    page.get_by_role("heading", name=f"Quality of {project.name}").wait_for()
    expect(page.get_by_test_id("label-sets")).to_contain_text("second-opinion")
    expect(page.get_by_test_id("label-sets")).to_contain_text("a second radiologist")
    expect(page.get_by_test_id("label-statuses")).to_contain_text("labeled")
    expect(page.get_by_test_id("issue")).to_contain_text("The lesion on the left is missing")
    expect(page.get_by_test_id("time-by-user")).to_contain_text(manager)  # the status change and the issue

    page.get_by_label("Label set name").fill("model-review")
    page.get_by_role("button", name="Add label set").click()
    expect(page.get_by_test_id("label-sets")).to_contain_text("model-review")
    assert "model-review" in {s["name"] for s in api.projects.get_labelsets(project)}

    page.get_by_test_id("issue").get_by_role("button", name="Close").click()
    expect(page.get_by_text("No issues.")).to_be_visible()
    assert api.resources.get_issue(issue["id"])["status"] == "closed"

    page.get_by_role("button", name="Compute agreement").click()
    expect(page.get_by_test_id("agreement")).to_contain_text("0 complete item(s)")
    shot(page, "quality")

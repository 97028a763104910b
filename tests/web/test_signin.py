"""Signing in and out in the browser; the projects and worklists a user sees."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from web_helpers import make_user, shot

from datamint import Api

from conftest import unique


def _project_with_annotator(server, annotator_email: str) -> tuple[str, str]:
    api = Api(server.url, server.admin_key)
    project = api.projects.create(unique("Liver CT"), "portal phase")
    worklist_id = project.worklist_id
    api.annotationsets.set_annotator(worklist_id, annotator_email)
    return project.id, project.name


def test_sign_in_shows_my_projects_and_sign_out_ends_the_session(web_server, page, context):
    email, _ = make_user(web_server)
    project_id, project_name = _project_with_annotator(web_server, email)

    page.goto("/")
    page.wait_for_url(re.compile(r"/signin\?next=%2F$"))
    shot(page, "01-signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password"

    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Projects").wait_for()
    card = page.get_by_test_id("project").filter(has_text=project_name)
    assert card.get_by_role("heading").inner_text() == project_name
    assert card.get_by_test_id("worklist").count() == 1
    assert page.get_by_test_id("who").inner_text() == email
    shot(page, "02-projects")

    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["datamint_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax" and session["path"] == "/"
    assert "datamint_session" not in page.evaluate("document.cookie"), "scripts cannot read the session"

    page.reload()
    page.get_by_test_id("project").filter(has_text=project_name).wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    assert "datamint_session" not in {c["name"] for c in context.cookies()}
    page.goto("/")
    page.wait_for_url(re.compile(r"/signin\?next="))
    assert context.request.get(f"/projects/{project_id}").status == 401


def test_an_outsider_signs_in_with_a_key_and_sees_no_project(web_server, page, context):
    insider, _ = make_user(web_server)
    project_id, project_name = _project_with_annotator(web_server, insider)
    outsider, key = make_user(web_server)

    page.goto("/signin")
    page.get_by_role("button", name="API key").click()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Projects").wait_for()
    assert page.get_by_test_id("who").inner_text() == outsider
    page.get_by_test_id("no-projects").wait_for()
    assert page.get_by_text(project_name).count() == 0
    shot(page, "03-no-projects")
    assert context.request.get(f"/projects/{project_id}").status == 404
    assert context.request.get(f"/projects/{project_id}/worklists").status == 404


def test_a_page_link_survives_sign_in(web_server, page):
    email, _ = make_user(web_server)
    page.goto("/app/nowhere")
    page.wait_for_url(re.compile(r"/signin\?next=%2Fapp%2Fnowhere$"))
    sign_in_form = page.get_by_label("Email")
    sign_in_form.fill(email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/app/nowhere$"))
    expect(page.get_by_text("This page does not exist.")).to_be_visible()  # waits for the page to render

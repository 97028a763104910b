"""Review in Chromium: an annotator submits, a reviewer asks for a revision with a message, the
annotator sees it on the item, fixes and submits again, the reviewer approves."""

from __future__ import annotations

import re

import numpy as np
from web_helpers import ct_series_files, make_user, shot, sign_in, worklist_with

from datamint import Api

SPECS = [{"type": "square", "identifier": "nodule", "scope": "frame"}]


def _draw_box(page, fx0: float, fy0: float, fx1: float, fy1: float) -> None:
    box = page.get_by_test_id("viewport-axial").bounding_box()
    page.get_by_test_id("tool-nodule").click()
    page.mouse.move(box["x"] + box["width"] * fx0, box["y"] + box["height"] * fy0)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fx1, box["y"] + box["height"] * fy1, steps=6)
    page.mouse.up()


def test_revision_request_then_approval(web_server, browser, page, tmp_path):
    paths = ct_series_files(tmp_path, lambda k: np.full((32, 32), 50), 3, 32)
    annotator, annotator_key = make_user(web_server)
    reviewer, _ = make_user(web_server)
    project_id, worklist_id, ids = worklist_with(web_server, paths, annotator, annotations=SPECS)
    rid = ids[0]
    admin = Api(web_server.url, web_server.admin_key)
    admin.projects.set_member(project_id, admin.users.get_by_email(reviewer).id, ["PROJECT_REVIEWER"])

    sign_in(page, annotator)
    page.goto(f"/app/worklists/{worklist_id}")
    page.get_by_role("button", name="Next item").click()
    page.get_by_test_id("tool-nodule").wait_for()
    _draw_box(page, 0.4, 0.4, 0.5, 0.5)
    page.get_by_test_id("drawn-item").filter(has_text="nodule").wait_for()
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_url(re.compile(f"/app/worklists/{worklist_id}$"))
    page.get_by_role("button", name="All items done").wait_for()

    reviewer_context = browser.new_context(base_url=web_server.url, viewport={"width": 1280, "height": 820})
    try:
        review = reviewer_context.new_page()
        sign_in(review, reviewer)
        review.goto(f"/app/worklists/{worklist_id}")
        review.get_by_role("button", name="Next to review").click()
        review.wait_for_url(re.compile(f"/items/{rid}$"))
        decision = review.get_by_test_id(f"review-{annotator}")
        decision.filter(has_text="annotated").wait_for()
        theirs = review.get_by_test_id("drawn-item").filter(has_text="nodule")
        theirs.wait_for()
        assert theirs.get_attribute("data-mine") == "false"
        review.get_by_role("button", name="Request revision").click()
        assert review.get_by_role("alert").inner_text() == "Say what to change: write a message first"
        decision.get_by_label(f"Message to {annotator}").fill("The box misses the lower half of the nodule")
        review.get_by_role("button", name="Request revision").click()
        decision.filter(has_text="revision_request").wait_for()
        shot(review, "30-review-request-revision")

        page.goto(f"/app/worklists/{worklist_id}")
        page.get_by_role("button", name="Next item").click()
        page.wait_for_url(re.compile(f"/items/{rid}$"))
        note = page.get_by_test_id("review-message")
        note.wait_for()
        assert note.inner_text() == (f"Revision requested by {reviewer}: “The box misses the lower half of the "
                                     "nodule”")
        assert page.get_by_test_id("my-status").inner_text() == "revision_request"
        shot(page, "31-annotator-sees-revision")
        page.get_by_test_id("drawn-item").filter(has_text="nodule").get_by_role("button", name="delete").click()
        _draw_box(page, 0.4, 0.4, 0.5, 0.7)
        page.get_by_role("button", name="Submit for review").click()
        page.wait_for_url(re.compile(f"/app/worklists/{worklist_id}$"))

        review.goto(f"/app/worklists/{worklist_id}/items/{rid}")
        decision.filter(has_text="annotated").wait_for()
        review.get_by_role("button", name="Approve").click()
        decision.filter(has_text="approved").wait_for()
        shot(review, "32-review-approved")
    finally:
        reviewer_context.close()

    api = Api(web_server.url, annotator_key)
    statuses = api.annotationsets.get_annotation_statuses(worklist_id, resource_id=rid)
    assert [(s["email"], s["status"]) for s in statuses] == [(annotator, "approved")]
    messages = api.projects.get_review_messages(project_id, resource_id=rid)
    assert [(m["status"], m["message"]) for m in messages] == [
        ("revision_request", "The box misses the lower half of the nodule"), ("approved", None)]
    boxes = api.annotations.get_list(resource=rid, worklist_id=worklist_id)
    assert len(boxes) == 1 and boxes[0].identifier == "nodule", "the fixed box replaced the first one"

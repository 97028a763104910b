"""Time spent in Chromium: an annotator opens an item, stays a few seconds and goes back to the
worklist, then reopens it and submits it; each time the web app posts its measured active time
as a client workunit on that item."""

from __future__ import annotations

import time

from web_helpers import make_user, sign_in, worklist_with

from datamint import Api
from fixtures.projects import png_path

WAIT_S = 3


def test_leaving_an_item_reports_the_active_time(web_server, page, tmp_path):
    annotator, key = make_user(web_server)
    project_id, worklist_id, (rid,) = worklist_with(web_server, [str(png_path(tmp_path))], annotator)
    sign_in(page, annotator)
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    page.get_by_test_id("my-status").filter(has_text="opened").wait_for()
    started = time.monotonic()
    page.wait_for_timeout(WAIT_S * 1000)
    page.locator(f'a[href="/app/worklists/{worklist_id}"]').first.click()
    page.wait_for_url(f"**/app/worklists/{worklist_id}")
    on_item = time.monotonic() - started

    api = Api(web_server.url, key)
    (unit,) = _client_units(api, project_id, 1)
    assert (unit["user_email"], unit["resource_id"], unit["worklist_id"], unit["action"]) == (
        annotator, rid, worklist_id, "annotate")
    # the page was open a little before `started` (loading) and the unit is rounded to 0.1 s
    assert WAIT_S - 1 <= unit["seconds"] <= on_item + 30

    # Submitting the item (its last one: back to the worklist) reports the second visit.
    page.goto(f"/app/worklists/{worklist_id}/items/{rid}")
    submit = page.get_by_role("button", name="Submit for review")
    submit.wait_for()
    page.wait_for_timeout(WAIT_S * 1000)
    submit.click()
    page.wait_for_url(f"**/app/worklists/{worklist_id}")
    units = _client_units(api, project_id, 2)
    assert len(units) == 2 and all(u["resource_id"] == rid for u in units)
    assert min(u["seconds"] for u in units) >= WAIT_S - 1


def _client_units(api: Api, project_id: str, count: int) -> list[dict]:
    """The project's client workunits once there are ``count`` of them (the post is asynchronous)."""
    deadline = time.monotonic() + 10
    while True:
        units = [u for u in api.projects.get_workunits(project_id) if u["source"] == "client"]
        if len(units) >= count or time.monotonic() > deadline:
            return units
        time.sleep(0.2)

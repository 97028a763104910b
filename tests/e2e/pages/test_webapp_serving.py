"""The server serves the built web app on the same origin, without shadowing the API."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from datamint.server.webapp import router as webapp
from datamint.server.webapp.router import STATIC_DIR

from conftest import serve_in_thread


def test_app_pages_serve_index_html_with_a_strict_policy(server):
    index = (STATIC_DIR / "index.html").read_text()
    for path in ("/", "/signin", "/app", "/app/worklists/0f8fad5b-d9cb-469f-a165-70867728950e",
                 "/invitations/accept?token=dmi_x"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 200 and answer.text == index, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer", "an invitation token never leaves in a Referer"
        assert "set-cookie" not in answer.headers


def test_hashed_assets_are_cached_for_a_year(server):
    index = httpx.get(server.url + "/").text
    script = re.search(r'src="(/assets/[^"]+\.js)"', index).group(1)
    answer = httpx.get(server.url + script)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert httpx.get(server.url + "/assets/missing-0000.js").status_code == 404


def test_api_paths_stay_json(server):
    unknown = httpx.get(server.url + "/no-such-route")
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 404
    assert httpx.get(server.url + "/projects").status_code == 401, "an API page is never the web app"
    paths = server.app.openapi()["paths"]
    assert "/" not in paths and "/app/{page}" not in paths


def test_an_unbuilt_app_says_how_to_build_it(tmp_path):
    app = FastAPI()
    webapp.install(app, tmp_path)
    url, uvicorn_server, thread = serve_in_thread(app)
    try:
        answer = httpx.get(url + "/signin")
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
    assert answer.status_code == 503 and answer.json()["code"] == "webapp_not_built"
    assert "make web" in answer.json()["message"]

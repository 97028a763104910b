"""The API docs pages (issue 10): ``/docs`` and ``/redoc`` render offline, every asset from this
server. (``GET /`` and the invitation link open the web app: ``tests/e2e/test_webapp_serving.py``
and ``tests/web``.)"""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_every_asset_from_this_server(server, path):
    page = httpx.get(f"{server.url}{path}")
    assert page.status_code == 200 and "Datamint API" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert urls and not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls  # nothing from a CDN
    assets = [u for u in urls if u.startswith("/docs-assets/")]
    assert len(assets) >= (3 if path == "/docs" else 2)
    for url in assets:
        asset = httpx.get(f"{server.url}{url}")
        assert asset.status_code == 200 and len(asset.content) > 1000, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
    if path == "/docs":
        bundle = httpx.get(f"{server.url}/docs-assets/swagger-ui-bundle.js").text
        assert re.search(r'"5\.\d+\.\d+"', bundle)  # Swagger UI 5: it renders OpenAPI 3.1
        assert httpx.get(f"{server.url}/openapi.json").json()["openapi"].startswith("3.1")
        assert '"validatorUrl": null' in page.text

"""The server-rendered pages (issue 10): ``GET /``, the offline API docs, and the invitation page
whose form posts to the accept route (HTML for browsers, JSON for API clients)."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from datamint import Api, __version__
from datamint.api.endpoints.users_api import accept_invitation

from conftest import start_server, unique

STRICT = ("default-src 'none'", "frame-ancestors 'none'", "form-action 'self'")


def _checked_html(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert all(part in response.headers["content-security-policy"] for part in STRICT)
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    return response.text


def test_home_page_names_the_server_and_links_the_docs(server):
    page = _checked_html(httpx.get(f"{server.url}/"), 200)
    assert "Datamint server" in page and f"Version {__version__}" in page
    assert 'href="/docs"' in page and 'href="/redoc"' in page and 'href="/health"' in page


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


def _invite(api: Api, **kw: str) -> tuple[str, str]:
    email = f"{unique('page')}@example.test"
    return email, api.users.invite(email, **kw)["invitation_link"]


def test_invitation_page_form_creates_the_account(server):
    from datamint.server.auth.service import create_organization

    with server.database.transaction() as session:
        _, _, admin_key = create_organization(session, "Lab <b>A</b>", f"{unique('admin')}@lab.test")
    api = Api(server.url, admin_key)
    email, link = _invite(api, firstname="<script>alert(1)</script>", return_url="https://lab.example/welcome")
    page = _checked_html(httpx.get(link), 200)
    assert email in page and "Lab &lt;b&gt;A&lt;/b&gt;" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r'<form method="post" action="/invitations/accept"', page)
    token = unescape(re.search(r'name="token" value="([^"]+)"', page).group(1))
    assert f"token={token}&" in link

    def post(**fields: str) -> httpx.Response:
        return httpx.post(f"{server.url}/invitations/accept", data={"token": token, **fields})

    differ = _checked_html(post(password="long enough 1", password_again="long enough 2", firstname="Ana"), 422)
    assert "The two passwords differ" in differ and 'value="Ana"' in differ
    short = _checked_html(post(password="short", password_again="short"), 422)
    assert "8 to 200 characters" in short
    done = _checked_html(post(password="a long secret", password_again="a long secret", firstname="Ana"), 201)
    key = re.search(r"<pre>(dmk_[^<]+)</pre>", done).group(1)
    assert f"datamint config --url {server.url} --api-key {key}" in done
    assert 'href="https://lab.example/welcome"' in done
    me = Api(server.url, key).users.get_by_email(email)
    assert me.firstname == "Ana"
    gone = _checked_html(httpx.get(link), 404)
    assert "Invitation not found" in gone and "already used" in gone
    again = _checked_html(post(password="a long secret", password_again="a long secret"), 404)
    assert "Invitation not found" in again
    huge = _checked_html(post(password="x" * 20000, password_again="x"), 413)
    assert "The form is larger than 16 KiB" in huge


def test_json_clients_still_reach_the_api_route(server):
    api = Api(server.url, server.new_org())
    email, link = _invite(api)
    token = link.split("token=")[1]
    account = accept_invitation(token, server.url, password="a long secret")
    assert account["user"]["email"] == email and account["api_key"].startswith("dmk_")
    bad = httpx.post(f"{server.url}/invitations/accept", json={"token": "dmi_unknown", "password": "a long secret"})
    assert bad.status_code == 404 and bad.headers["content-type"] == "application/json"


def test_expired_and_unknown_links_and_throttling(server, request, tmp_path):
    from datamint.server.auth.models import Invitation
    from datamint.server.db.base import utcnow

    api = Api(server.url, server.new_org())
    email, link = _invite(api)
    with server.database.transaction() as session:
        invitation = session.query(Invitation).filter_by(email=email).one()
        invitation.expires_at = utcnow()
    assert "expired" in _checked_html(httpx.get(link), 410)
    assert "no valid invitation token" in _checked_html(httpx.get(f"{server.url}/invitations/accept"), 404)
    # a server of its own with a low limit: unknown tokens are failed authentications
    throttled = start_server(server.backend, request, tmp_path, auth_failures_per_minute=3)
    own = next(throttled)
    try:
        for _ in range(3):
            _checked_html(httpx.get(f"{own.url}/invitations/accept", params={"token": "dmi_guess"}), 404)
        blocked = httpx.get(f"{own.url}/invitations/accept", params={"token": "dmi_guess"})
        assert "Too many attempts" in _checked_html(blocked, 429) and int(blocked.headers["retry-after"]) > 0
    finally:
        throttled.close()

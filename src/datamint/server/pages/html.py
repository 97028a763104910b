"""The HTML of the server-rendered pages: one small shell, escaped values, strict headers.

No template engine and no script: every dynamic value goes through :func:`html.escape`, and the
pages are sent with a Content-Security-Policy that allows no script, no frame and form posts to
this origin only, with ``Referrer-Policy: no-referrer`` (an invitation token is in the page's URL)
and ``Cache-Control: no-store`` (the accept page shows an API key once).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi.responses import HTMLResponse

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem;
       color: #1d2433; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } .muted { color: #5b6478; }
form { display: grid; gap: .8rem; margin-top: 1.5rem; } label { display: grid; gap: .2rem; }
input { font: inherit; padding: .45rem .6rem; border: 1px solid #b8c0d0; border-radius: 6px; }
button { font: inherit; padding: .55rem 1rem; border: 0; border-radius: 6px; background: #2456d3;
         color: #fff; cursor: pointer; justify-self: start; }
code, pre { background: #f1f3f8; border-radius: 4px; padding: .1rem .3rem; }
pre { padding: .7rem; overflow-x: auto; } .error { color: #a4161a; font-weight: 600; }
"""


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    """A complete page; ``body`` must already be escaped HTML."""
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>")
    return HTMLResponse(document, status_code=status_code, headers=SECURITY_HEADERS)


def home(version: str, organization_count: int | None = None) -> HTMLResponse:
    """``GET /``: what this server is and where to go next."""
    return page("Datamint server", f"""
<h1>Datamint server</h1>
<p class="muted">Version {escape(version)} · medical-imaging data and annotation platform</p>
<ul>
  <li><a href="/docs">API documentation</a> (interactive) · <a href="/redoc">reference</a>
      · <a href="/openapi.json">OpenAPI document</a></li>
  <li><a href="/health">Health check</a></li>
</ul>
<p>Use it from Python with <code>from datamint import Api</code>, or from the shell with
<code>datamint config --url URL --api-key KEY</code> and <code>datamint upload</code>.
The web app is not built yet.</p>""")


def invitation_form(token: str, invitation: dict[str, Any], error: str | None = None,
                    values: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    """The invitation page: who is invited, and a form to choose a password."""
    values = values or {}
    first = values.get("firstname", invitation.get("firstname") or "")
    last = values.get("lastname", invitation.get("lastname") or "")
    where = f" to {escape(invitation['organization'])}" if invitation.get("organization") else ""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return page("Accept your invitation", f"""
<h1>You are invited{where}</h1>
<p class="muted">Account: <strong>{escape(invitation["email"])}</strong> · the link is valid until
{escape(str(invitation.get("expires_at") or ""))}</p>
{message}
<form method="post" action="/invitations/accept" enctype="application/x-www-form-urlencoded">
  <input type="hidden" name="token" value="{escape(token)}">
  <label>First name <input name="firstname" value="{escape(first)}" maxlength="200" autocomplete="given-name"></label>
  <label>Last name <input name="lastname" value="{escape(last)}" maxlength="200" autocomplete="family-name"></label>
  <label>Password (at least 8 characters)
    <input name="password" type="password" minlength="8" maxlength="200" required autocomplete="new-password"></label>
  <label>Password again
    <input name="password_again" type="password" minlength="8" maxlength="200" required
           autocomplete="new-password"></label>
  <button type="submit">Create my account</button>
</form>""", status_code)


def accepted(result: dict[str, Any], server_url: str) -> HTMLResponse:
    """After accepting: the account's first API key, shown once, and how to use it."""
    key = escape(result["api_key"])
    url = escape(server_url)
    back = result.get("return_url")
    link = f'<p><a href="{escape(back)}">Continue</a></p>' if back else ""
    return page("Account created", f"""
<h1>Welcome, {escape(result["user"].get("firstname") or result["user"]["email"])}</h1>
<p>Your account <strong>{escape(result["user"]["email"])}</strong> is ready. This is your API key;
it is shown <strong>only this once</strong>, so copy it now:</p>
<pre>{key}</pre>
<p>Save it for the <code>datamint</code> command and the Python SDK on your computer:</p>
<pre>datamint config --url {url} --api-key {key}</pre>
<p>or in Python: <code>Api("{url}", "{key}")</code>. <a href="/docs">API documentation</a>.</p>
{link}""", 201)


def problem(title: str, message: str, status_code: int) -> HTMLResponse:
    """An error page (the invitation link is unknown, used, revoked or expired; throttled...)."""
    return page(title, f'<h1>{escape(title)}</h1><p class="error">{escape(message)}</p>'
                       '<p><a href="/">Datamint server</a></p>', status_code)

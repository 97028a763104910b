"""Helpers of the browser tests (their fixtures are in ``tests/conftest.py``): screenshots as
test artifacts in ``test-artifacts/web/`` (git-ignored), users with passwords, signing in."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page

from datamint.server.auth import service

from conftest import LiveServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
PASSWORD = "correct horse battery staple"


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def make_user(server: LiveServer, roles: list[str] | None = None, admin_key: str | None = None
              ) -> tuple[str, str]:
    """A new user with the password :data:`PASSWORD`; (email, API key)."""
    email = f"web-{uuid.uuid4().hex[:8]}@example.test"
    with server.database.transaction() as s:
        admin = service.authenticate(s, admin_key or server.admin_key)
        user = service.create_user(s, admin, email, password=PASSWORD, roles=roles)
        _, key = service.issue_key(s, user)
    return email, key


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in form and wait for the projects page."""
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Projects").wait_for()

"""Helpers of the browser tests (their fixtures are in ``tests/conftest.py``): screenshots as
test artifacts in ``test-artifacts/web/`` (git-ignored), users with passwords, signing in."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import Page
from pydicom.uid import generate_uid

from datamint import Api
from datamint.server.auth import service
from fixtures.files import make_ct_slice, to_bytes

from conftest import LiveServer, unique

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


def ct_series_files(folder: Path, hu_of_slice: Callable[[int], np.ndarray], slices: int, size: int) -> list[str]:
    """Write a synthetic CT series (intercept -1024) whose slice ``k`` holds ``hu_of_slice(k)``; its paths."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(slices):
        raw = (np.asarray(hu_of_slice(k), dtype=np.int32) + 1024).astype(np.int16)
        ds = make_ct_slice(k, study=study, series=series, frame_of_reference=frame, size=size, pixels=raw)
        path = folder / f"ct{k:03d}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(str(path))
    return paths


def worklist_with(server: LiveServer, paths: list[str], annotator: str, **worklist: Any) -> tuple[str, str, list[str]]:
    """A project holding the uploaded ``paths`` whose worklist has ``annotator``; (project id, worklist id, ids)."""
    api = Api(server.url, server.admin_key)
    project = api.projects.create(unique("Web"), "browser test")
    ids = api.resources.upload_resources(paths, publish_to=project.id, progress_bar=False)
    ids = list(dict.fromkeys(ids))  # assembled series: every slice maps to the one resource
    if worklist:
        api.annotationsets.update(project.worklist_id, **worklist)
    api.annotationsets.set_annotator(project.worklist_id, annotator)
    return project.id, project.worklist_id, ids


def viewport_pixel(page: Page, testid: str, fx: float = 0.5, fy: float = 0.5) -> tuple[int, ...]:
    """The RGB of the screen pixel at fraction (fx, fy) of a viewport element."""
    box = page.get_by_test_id(testid).bounding_box()
    assert box is not None
    image = Image.open(io.BytesIO(page.screenshot(clip=box)))
    return image.convert("RGB").getpixel((int(box["width"] * fx), int(box["height"] * fy)))

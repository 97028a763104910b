"""Server-rendered pages, until the web app (``web/``) exists: the home page (``GET /``), the
invitation page (``GET /invitations/accept?token=...`` and its form), and the API docs
(``/docs``, ``/redoc``) with their assets served locally so they render offline.

Everything here is self-contained (this package, plus the lines in ``app.py`` that include its
router and mount :data:`DOCS_ASSETS`) so that the web app can replace it whole.
"""

from __future__ import annotations

from datamint.server.pages.router import DOCS_ASSETS, DOCS_ASSETS_URL, router

__all__ = ["DOCS_ASSETS", "DOCS_ASSETS_URL", "router"]

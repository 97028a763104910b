"""The API documentation pages (``/docs``, ``/redoc``) with their assets served locally, so that
they render offline. (The home page and the invitation page are the web app's: ``server/webapp``.)
"""

from __future__ import annotations

from datamint.server.pages.router import DOCS_ASSETS, DOCS_ASSETS_URL, router

__all__ = ["DOCS_ASSETS", "DOCS_ASSETS_URL", "router"]

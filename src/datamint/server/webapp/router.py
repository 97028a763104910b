"""Serving the built web app: hashed assets under ``/assets``, ``index.html`` for the app's pages.

The app's source is the top-level ``web/`` folder; ``npm run build`` writes its output into
``static/`` beside this module, which ships as package data, so an installed server needs no
Node. The page paths the browser may open directly (``/``, ``/signin``, ``/app/...``, and
``/invitations/accept``, where invitation links point; the API has only ``POST`` there) all answer
``index.html`` and the app's router takes over; every other path stays the API's, so an unknown
API path is still a JSON 404 and not a web page.

OHIF Viewer, when fetched (``make ohif``: ``web/ohif/prepare.py`` writes its published build into
``ohif/`` beside this module), is served below ``/ohif/`` on the same origin, so it reads
``/dicomweb`` with the web app's session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from datamint.server.errors import error_body

#: Where ``npm run build`` puts the app (package data of the ``datamint`` distribution).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Where ``web/ohif/prepare.py`` puts OHIF Viewer's build (``make ohif``).
OHIF_DIR = Path(__file__).resolve().parent / "ohif"

#: Headers of the HTML page: a strict same-origin policy; the viewer draws into canvases and
#: builds images from ``blob:``/``data:`` URLs, and Cornerstone's workers start from ``blob:``.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
                                "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # /invitations/accept carries its token in the URL
    "Cache-Control": "no-store",
}


#: OHIF's page: its WebAssembly image codecs are compiled, and their Emscripten bindings build
#: functions with ``new Function`` ('unsafe-eval'); its one inline script is allowed by hash
#: (:func:`_ohif_page`); everything else from this origin only.
OHIF_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'{hashes}; worker-src 'self' blob:; "
            "connect-src 'self' data: blob:; font-src 'self' data:; frame-ancestors 'self'; base-uri 'self'; "
            "form-action 'self'")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class _ImmutableAssets(StaticFiles):
    """Static files whose names carry a content hash (Vite's output), cached for a year."""

    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Add the web app's routes to ``app`` (after the API's, which keep precedence).

    Args:
        app: The application.
        static_dir: The built app (``index.html`` and ``assets/``).
    """
    index = static_dir / "index.html"
    app.mount("/assets", _ImmutableAssets(directory=static_dir / "assets", check_dir=False), name="webapp-assets")

    def page(request: Request) -> Response:
        if not index.is_file():
            message = ("The web app is not built: run `make web` (needs Node 20 and npm) or install a "
                       "datamint wheel, which ships it built")
            return JSONResponse(error_body(request, 503, "webapp_not_built", message), status_code=503)
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    for path in ("/", "/signin", "/app", "/app/{page:path}", "/invitations/accept"):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)

    install_ohif(app)


def _ohif_page(index: Path) -> Response:
    html = index.read_text(encoding="utf-8")
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
                     for m in _INLINE_SCRIPT.findall(html))
    headers = {**PAGE_HEADERS, "Content-Security-Policy": OHIF_CSP.format(hashes=hashes),
               "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-cache"}
    return Response(html, media_type="text/html", headers=headers)


def install_ohif(app: FastAPI, ohif_dir: Path = OHIF_DIR) -> None:
    """Serve OHIF Viewer's build below ``/ohif/``: its files, and ``index.html`` for its pages.

    A path with a file extension is a file of the build (404 when missing); any other path is one
    of the viewer's pages (``/ohif/viewer?StudyInstanceUIDs=...``) and answers ``index.html``.
    Without a build every path answers 503 with the command that fetches it.
    """
    root = ohif_dir.resolve()

    def serve(request: Request, path: str = "") -> Response:
        index = root / "index.html"
        if not index.is_file():
            message = "OHIF Viewer is not installed: run `make ohif` (needs npm; about 50 MB)"
            return JSONResponse(error_body(request, 503, "ohif_not_installed", message), status_code=503)
        target = (root / path).resolve()
        if "." not in path.rsplit("/", 1)[-1] or target == index:
            return _ohif_page(index)
        if not target.is_relative_to(root) or not target.is_file():
            return JSONResponse(error_body(request, 404, "not_found", f"No file {path} in OHIF Viewer"),
                                status_code=404)
        cache = "no-cache" if target.name == "app-config.js" else "public, max-age=86400"
        return FileResponse(target, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    for route in ("/ohif", "/ohif/{path:path}"):
        app.add_api_route(route, serve, methods=["GET"], include_in_schema=False)

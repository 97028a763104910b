"""The decoded-size limits of :mod:`datamint.imaging.limits`, installed from the settings for every
request (and, by the job runtime, every job), and their one mapping to an HTTP answer (413).

The checks themselves live in :mod:`datamint.imaging` (every decoder reads the header and checks
it first); this module only decides which limits are in force and how a refusal is answered.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from datamint.imaging.limits import DecodedSizeError, DecodeLimits, decode_limits
from datamint.server.errors import AppError, error_body


class DecodedTooLargeError(AppError):
    """A file or document would be larger than a decoded-size limit once decoded (413)."""

    status_code = 413
    code = "decoded_size_limit"


def too_large(exc: DecodedSizeError) -> DecodedTooLargeError:
    """The answer for a refusal from :mod:`datamint.imaging.limits` (its message names the setting)."""
    return DecodedTooLargeError(str(exc), details={"limit": exc.limit})


class DecodeLimitsMiddleware:
    """Installs the application's decoded-size limits (``app.state.decode_limits``, read at each
    request) for the request: a context variable, so the thread pool that runs the endpoint, and
    streamed responses, see them too."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with decode_limits(self.owner.state.decode_limits):
            await self.app(scope, receive, send)


class YamlAliasError(ValueError):
    """A YAML document uses an alias (``*name``): refused, never expanded."""


def load_yaml(text: str | bytes) -> Any:
    """Parse untrusted YAML with PyYAML's safe loader, refusing aliases: an alias bomb (a few hundred
    bytes whose aliases expand to gigabytes once serialized) is never expanded.

    Raises:
        YamlAliasError: The document uses an alias (the message gives its line).
        yaml.YAMLError: The document is not valid YAML.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise YamlAliasError(f"YAML aliases (*{event.anchor}) are not accepted (line "
                                     f"{event.start_mark.line + 1}); write the values out")
            return super().compose_node(parent, index)

    return NoAliasLoader(text).get_single_data()


def _decoded_size_handler(request: Request, exc: DecodedSizeError) -> JSONResponse:
    error = too_large(exc)
    return JSONResponse(error_body(request, error.status_code, error.code, error.message, error.details),
                        status_code=error.status_code)


def install(app: FastAPI, limits: DecodeLimits) -> None:
    """Install the limits for every request of ``app`` and answer any refusal that reaches the top with 413.

    Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, a process-wide setting) is set to the same
    pixel limit as a second line of defence for images opened anywhere else (Pillow refuses twice
    that; its warning above it is silenced, since :func:`~datamint.imaging.render.open_image` refuses
    exactly those images with 413).
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits.max_frame_pixels
    # Pillow warns above that size; the same check (datamint.imaging.render.open_image) answers 413.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    app.state.decode_limits = limits
    app.add_middleware(DecodeLimitsMiddleware, owner=app)
    app.add_exception_handler(DecodedSizeError, _decoded_size_handler)  # type: ignore[arg-type]

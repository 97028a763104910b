"""Secrets that travel in URLs (dataset download tokens) kept out of the access log and the audit
trail. Query strings are never logged at all: besides tokens they carry search terms such as
patient names (QIDO-RS)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Path parameters that are secrets (``GET /datasets/download/{token}``).
SECRET_PATH_PARAMS = frozenset({"token"})
REDACTED = "<redacted>"


def loggable_path(scope: Mapping[str, Any]) -> str:
    """The request's path with the values of secret path parameters replaced by ``<redacted>``.

    Args:
        scope: The ASGI scope, after routing (``path_params`` filled in) or before (then only the
            path is known and returned as it is).
    """
    path = str(scope.get("path") or "")
    params = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS:
        value = params.get(name)
        if value:
            path = path.replace(str(value), REDACTED)
    return path

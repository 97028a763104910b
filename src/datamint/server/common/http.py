"""Small HTTP helpers shared by the routers."""

from __future__ import annotations

from urllib.parse import quote


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition for ``filename``: an ASCII fallback plus the UTF-8 name."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=utf-8''{quote(filename)}"

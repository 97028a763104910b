"""``datamintapi.api_handler.APIHandler``, the class path the legacy guide documents (seed 002)."""

from __future__ import annotations

from datamint.apihandler.api_handler import APIHandler

__all__ = ["APIHandler"]

"""The legacy ``APIHandler`` facade (seed 002)."""

from __future__ import annotations

from datamint.apihandler.api_handler import APIHandler

__all__ = ["APIHandler"]

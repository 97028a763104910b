"""Legacy import name of the Datamint client: ``from datamintapi import APIHandler``.

New code should use ``from datamint import Api``.
"""

from __future__ import annotations

from datamint.apihandler import APIHandler

__all__ = ["APIHandler"]

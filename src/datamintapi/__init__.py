"""Legacy import name of the Datamint client: ``from datamintapi import APIHandler, Dataset``.

New code should use ``from datamint import Api``.
"""

from __future__ import annotations

from datamint.apihandler import APIHandler
from datamint.dataset.legacy import Dataset

__all__ = ["APIHandler", "Dataset"]

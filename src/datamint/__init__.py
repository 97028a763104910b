"""Datamint: medical-imaging data and annotation platform — Python SDK, CLI and server.

Example:
    >>> from datamint import Api
    >>> api = Api()                      # URL and key from `datamint config` or the environment
    >>> api.projects.get_all()
"""

from __future__ import annotations

from datamint.api.client import Api
from datamint.apihandler import APIHandler
from datamint.exceptions import (
    AuthenticationError,
    DatamintException,
    EntityAlreadyExistsError,
    ItemNotFoundError,
    NetworkError,
    PermissionDeniedError,
    ResourceNotFoundError,
    ServerError,
    ValidationError,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "Dataset":  # the legacy PyTorch dataset (seed 002); imported on first use
        from datamint.dataset.legacy import Dataset

        return Dataset
    raise AttributeError(f"module 'datamint' has no attribute {name!r}")


__all__ = [
    "APIHandler",
    "Api",
    "AuthenticationError",
    "DatamintException",
    "Dataset",
    "EntityAlreadyExistsError",
    "ItemNotFoundError",
    "NetworkError",
    "PermissionDeniedError",
    "ResourceNotFoundError",
    "ServerError",
    "ValidationError",
    "__version__",
]

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

__all__ = [
    "APIHandler",
    "Api",
    "AuthenticationError",
    "DatamintException",
    "EntityAlreadyExistsError",
    "ItemNotFoundError",
    "NetworkError",
    "PermissionDeniedError",
    "ResourceNotFoundError",
    "ServerError",
    "ValidationError",
    "__version__",
]

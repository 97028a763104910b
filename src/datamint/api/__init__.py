"""The Datamint SDK: transport, configuration and endpoint handlers."""

from __future__ import annotations

from datamint.api.base_api import ApiConfig, BaseApi
from datamint.api.client import Api

__all__ = ["Api", "ApiConfig", "BaseApi"]

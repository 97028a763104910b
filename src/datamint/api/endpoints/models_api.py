"""Models endpoint handler (``api.models``): the registered models of the MLflow registry.

The registry is MLflow's, served by the Datamint server under ``/api/2.0/mlflow/`` with projects
as MLflow workspaces. Use MLflow itself (``mlflow.MlflowClient``) for everything else; these
three calls are the seed's convenience over its REST API (no ``mlflow`` import needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from datamint.api.base_api import ApiConfig, BaseApi
from datamint.exceptions import ItemNotFoundError


class ModelsApi(BaseApi):
    """API handler for the registered models of your active project.

    The project is the one of ``datamint.mlflow.set_project(...)`` / ``DATAMINT_PROJECT_ID``; pass
    ``project`` to a call to choose another. Without either, the server uses your only project.

    Example:
        >>> api.models.create("liver-seg")
        >>> [m["name"] for m in api.models.get_all()]
        ['liver-seg']
    """

    BASE = "/api/2.0/mlflow/registered-models"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, client)

    @staticmethod
    def _project(project: Any) -> dict[str, str]:
        from datamint.mlflow.env import get_active_project_id

        if project is not None:
            return {"project_id": project if isinstance(project, str) else project.id}
        active = get_active_project_id()
        return {"project_id": active} if active else {}

    def create(self, name: str, project: Any = None) -> dict:
        """Register a new model (with no versions yet).

        Args:
            name: The model's name (unique in the project).
            project: The project (a Project or its id); default: the active project.

        Returns:
            MLflow's registered model: ``name``, ``creation_timestamp``...

        Raises:
            ValidationError: The project already has a model of that name (MLflow's
                ``RESOURCE_ALREADY_EXISTS``).
        """
        body = {"name": name, **self._project(project)}
        return self._request("POST", f"{self.BASE}/create", json=body).json()["registered_model"]

    def get_all(self, project: Any = None) -> Sequence[dict]:
        """Every registered model of the project, by name."""
        models: list[dict] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": 1000, **self._project(project)}
            if token:
                params["page_token"] = token
            page = self._request("GET", f"{self.BASE}/search", params=params).json()
            models.extend(page.get("registered_models", []))
            token = page.get("next_page_token")
            if not token:
                return models

    def get_by_name(self, name: str, project: Any = None) -> dict | None:
        """The registered model called ``name``, with its latest versions and aliases; None if absent."""
        try:
            return self._request("GET", f"{self.BASE}/get", params={"name": name, **self._project(project)}
                                 ).json()["registered_model"]
        except ItemNotFoundError:
            return None

"""Models endpoint handler (``api.models``): the registered models of the MLflow registry.

The registry is MLflow's, served by the Datamint server under ``/api/2.0/mlflow/`` with projects
as MLflow workspaces. Use MLflow itself (``mlflow.MlflowClient``) for everything else; these
three calls are the seed's convenience over its REST API (no ``mlflow`` import needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

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

    def get_lineage(self, name: str, version: int | None = None, alias: str | None = None,
                    project: Any = None) -> dict:
        """The dataset version a model version was trained on.

        Args:
            name: The registered model.
            version: Its version; or alias: its alias; neither: the latest version.
            project: The project (default: the active one, else the one holding the model).

        Returns:
            ``{'model_name', 'version', 'run_id', 'dataset_version': {...} or None}``; the
            dataset version has ``dataset_id``, ``number``, ``name``... (``missing: True`` once deleted).
        """
        params: dict[str, Any] = {"version": version, "alias": alias, **self._project(project)}
        return self._request("GET", f"/datamint/api/v1/model-info/lineage/{quote(name, safe='')}",
                             params={k: v for k, v in params.items() if v is not None}).json()

    def get_trained_models(self, dataset: Any, version: int | str = "latest") -> list[dict]:
        """The registered model versions trained on a dataset version (their runs' lineage tags).

        Args:
            dataset: The dataset (a DatasetInfo or its id).
            version: Its version number or name, or ``'latest'``.

        Returns:
            ``[{'model_name', 'version', 'run_id', 'aliases'}]`` by name and version.
        """
        dataset_id = dataset if isinstance(dataset, str) else dataset.id
        return self._request("GET", f"/datasets/{dataset_id}/versions/{quote(str(version), safe='')}/models"
                             ).json()["model_versions"]

"""Deploy endpoint handler (``api.deploy``): make registered model versions servable by the server.

A deploy is a background job (``docs/models.md``): the server resolves the version, fetches its
artifacts, checks its requirements, loads it once and records the deployed image
``<image_name or model>:<tag>`` (tag = the alias, the version, or ``latest``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.endpoints.model_jobs_base import ModelJobsApi
from datamint.entities.model_jobs import DeployJob


class DeployModelApi(ModelJobsApi):
    """API handler for model deployments.

    Example:
        >>> job = api.deploy.start("liver-seg", model_alias="champion")
        >>> job.wait().raise_for_status()
        >>> api.deploy.image_exists("liver-seg", "champion")
        True
    """

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, DeployJob, "datamint/api/v1/deploy-model", client)

    def start(self, model_name: str, model_version: int | None = None, model_alias: str | None = None,
              image_name: str | None = None, with_gpu: bool = False, convert_to_onnx: bool = False,
              input_shape: list[int] | None = None) -> DeployJob:
        """Start deploying a registered model version.

        Args:
            model_name: The registered model (``'project name/model'`` to name its project).
            model_version: The version; or
            model_alias: its alias (e.g. ``'champion'``); neither: the latest version.
            image_name: The deployed image's name (default: the model's name).
            with_gpu: Ask for a GPU (this server's workers run on CPU; the job logs it).
            convert_to_onnx: Also export the model's ``torch_module()`` to ONNX, checked with onnxruntime.
            input_shape: The export's example input shape, e.g. ``[1, 1, 64, 64]``.

        Returns:
            The queued :class:`DeployJob` (``.wait()`` follows it).

        Raises:
            ItemNotFoundError: No such model, version or alias in your projects.
            PermissionDeniedError: Your project role may not deploy (``project.models``).
        """
        body: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "model_alias": model_alias,
                                "image_name": image_name, "with_gpu": with_gpu, "convert_to_onnx": convert_to_onnx,
                                "input_shape": input_shape}
        data = self._request("POST", f"/{self.endpoint_base}/start",
                             json={k: v for k, v in body.items() if v is not None}).json()
        return self.get_by_id(data["job_id"])

    def list_active_jobs(self) -> dict:
        """Your deploy jobs still queued or running: ``{'active_jobs': n, 'jobs': [...]}``."""
        return self._request("GET", f"/{self.endpoint_base}/jobs").json()

    def list_images(self, model_name: str | None = None) -> list[dict]:
        """The deployed images of your projects (or of one model)."""
        params = {"model_name": model_name} if model_name else None
        return self._request("GET", f"/{self.endpoint_base}/images", params=params).json()

    def image_exists(self, model_name: str, tag: str = "champion") -> bool:
        """Whether ``model_name:tag`` is deployed."""
        return bool(self._request("GET", f"/{self.endpoint_base}/image/{quote(model_name, safe='')}/exists",
                                  params={"tag": tag}).json().get("exists"))

    def remove_image(self, model_name: str, tag: str | None = None) -> dict:
        """Undeploy ``model_name:tag`` (every tag when ``tag`` is None): ``{'success', 'removed'}``."""
        params = {"tag": tag} if tag else None
        return self._request("DELETE", f"/{self.endpoint_base}/image/{quote(model_name, safe='')}",
                             params=params).json()

    def get_logs(self, job: str | DeployJob, tail: int = 2000) -> dict:
        """A deploy's log: ``{'logs': [lines], 'total_lines', ...}``."""
        job_id = self._entid(job)
        self._validate_entity_id(job_id)
        return self._request("GET", f"/{self.endpoint_base}/logs/{job_id}", params={"tail": tail}).json()

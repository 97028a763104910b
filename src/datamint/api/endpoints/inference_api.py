"""Inference endpoint handler (``api.inference``): run deployed models on resources, as background jobs.

Predictions come back in ``job.predictions`` (one list per resource); with ``save_results=True``
they are also saved as annotations of source ``model_deploy`` in the worklist given.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.endpoints.model_jobs_base import ModelJobsApi
from datamint.entities.model_jobs import InferenceJob
from datamint.exceptions import DatamintException, ModelNotDeployedError

_MODES = {"": "default", "/predict-image": "image", "/predict-frame": "frame", "/predict-slice": "slice",
          "/predict-volume": "volume"}


class InferenceApi(ModelJobsApi):
    """API handler for model inference.

    Example:
        >>> job = api.inference.predict_volume("liver-seg", model_alias="champion", resource_id=rid,
        ...                                    save_results=True)
        >>> api.inference.wait(job)
        >>> job.predictions[0][0]["identifier"]
        'liver'
    """

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, InferenceJob, "datamint/api/v1/model-inference", client)

    def get_status(self, job_id: str) -> InferenceJob:
        """The job's current state (``result_data.predictions`` once completed)."""
        return self.get_by_id(job_id)

    def _submit(self, path: str, model_name: str, *, model_version: int | None, model_alias: str | None,
                resource_id: str | None, resource_ids: list[str] | None = None, file_path: str | None = None,
                file_paths: list[str] | None = None, save_results: bool = False, params: dict[str, Any] | None,
                save_results_options: dict[str, Any] | None = None, prompts: dict[str, Any] | None = None,
                **extra: Any) -> InferenceJob:
        from datamint.mlflow.env import get_active_project_id

        body: dict[str, Any] = {"model_name": model_name, "model_version": model_version,
                                "model_alias": model_alias, "resource_id": resource_id, "resource_ids": resource_ids,
                                "file_path": file_path, "file_paths": file_paths, "params": params,
                                "save_results_options": save_results_options, "prompts": prompts,
                                "project_id": get_active_project_id() if "/" not in model_name else None, **extra}
        if save_results:
            body["save_results"] = True
        local = [*([file_path] if file_path is not None else []), *(file_paths or [])]
        try:
            if local:  # the files themselves, in one multipart request (the server holds them for the job)
                payload = {k: v for k, v in body.items() if v is not None and k not in ("file_path", "file_paths")}
                with ExitStack() as stack:
                    files = [("file", (Path(str(p)).name, stack.enter_context(open(p, "rb")),
                                       mimetypes.guess_type(str(p))[0] or "application/octet-stream"))
                             for p in local]
                    data = self._request("POST", f"/{self.endpoint_base}/files", files=files,
                                         data={"request": json.dumps(payload), "mode": _MODES[path]}).json()
            else:
                data = self._request("POST", f"/{self.endpoint_base}{path}",
                                     json={k: v for k, v in body.items() if v is not None}).json()
        except DatamintException as exc:
            if "no deployed image found" in str(exc).lower():
                raise ModelNotDeployedError(model_name, model_version, model_alias) from exc
            raise
        return self.get_status(data["job_id"])

    def predict(self, model_name: str, *, model_version: int | None = None, model_alias: str | None = None,
                resource_id: str | None = None, resource_ids: list[str] | None = None, file_path: str | None = None,
                file_paths: list[str] | None = None, save_results: bool = False,
                params: dict[str, Any] | None = None, save_results_options: dict[str, Any] | None = None,
                prompts: dict[str, Any] | None = None) -> InferenceJob:
        """Run the model's ``predict_default`` on whole resources, in the background.

        Args:
            model_name: The deployed model (``'project name/model'`` to name its project).
            model_version: Its deployed version; or
            model_alias: its deployed alias; neither: ``'champion'``.
            resource_id: One resource; resource_ids: several.
            file_path: A file on this machine (DICOM, NIfTI, image...): sent with the request, checked as
                an upload, held by the server for the job only (not a resource; ``save_results`` is
                refused). Predictions come back in ``job.predictions``, resources first, then files.
            file_paths: Several such files.
            save_results: Save the predictions as annotations.
            params: Passed to the model's ``predict_*`` as keyword arguments.
            save_results_options: ``{'worklist_id', 'annotation_source': 'model_deploy'|'model_pipeline',
                'imported_from', 'author_email'}``.
            prompts: ``{'text', 'points': [{label, x, y}], 'boxes': [...]}`` passed as ``prompts``.

        Returns:
            The queued :class:`InferenceJob`.

        Raises:
            ModelNotDeployedError: The model (at that version/alias) is not deployed.
        """
        return self._submit("", model_name, model_version=model_version, model_alias=model_alias,
                            resource_id=resource_id, resource_ids=resource_ids, file_path=file_path,
                            file_paths=file_paths, save_results=save_results, params=params,
                            save_results_options=save_results_options, prompts=prompts)

    def submit(self, model_name: str, **kwargs: Any) -> InferenceJob:
        """Alias of :meth:`predict`."""
        return self.predict(model_name, **kwargs)

    def predict_image(self, model_name: str, *, model_version: int | None = None, model_alias: str | None = None,
                      resource_id: str | None = None, file_path: str | None = None, save_results: bool = False,
                      params: dict[str, Any] | None = None, **kwargs: Any) -> InferenceJob:
        """Run the model's ``predict_image`` on a 2-D image (see :meth:`predict` for the arguments)."""
        return self._submit("/predict-image", model_name, model_version=model_version, model_alias=model_alias,
                            resource_id=resource_id, file_path=file_path, save_results=save_results, params=params,
                            **kwargs)

    def predict_frame(self, model_name: str, frame_index: int, *, model_version: int | None = None,
                      model_alias: str | None = None, resource_id: str | None = None, file_path: str | None = None,
                      save_results: bool = False, params: dict[str, Any] | None = None,
                      **kwargs: Any) -> InferenceJob:
        """Run the model on frame ``frame_index`` of a video or multi-frame image (``predict_frame``)."""
        return self._submit("/predict-frame", model_name, model_version=model_version, model_alias=model_alias,
                            resource_id=resource_id, file_path=file_path, save_results=save_results, params=params,
                            frame_index=frame_index, **kwargs)

    def predict_slice(self, model_name: str, slice_index: int, axis: Literal["axial", "sagittal", "coronal"], *,
                      model_version: int | None = None, model_alias: str | None = None,
                      resource_id: str | None = None, file_path: str | None = None, save_results: bool = False,
                      params: dict[str, Any] | None = None, **kwargs: Any) -> InferenceJob:
        """Run the model on one slice of a volume (``predict_slice``; axial slices are frames)."""
        return self._submit("/predict-slice", model_name, model_version=model_version, model_alias=model_alias,
                            resource_id=resource_id, file_path=file_path, save_results=save_results, params=params,
                            slice_index=slice_index, axis=axis, **kwargs)

    def predict_volume(self, model_name: str, *, model_version: int | None = None, model_alias: str | None = None,
                       resource_id: str | None = None, file_path: str | None = None, save_results: bool = False,
                       params: dict[str, Any] | None = None, **kwargs: Any) -> InferenceJob:
        """Run the model on a whole volume (``predict_volume``); masks come back in its voxel grid."""
        return self._submit("/predict-volume", model_name, model_version=model_version, model_alias=model_alias,
                            resource_id=resource_id, file_path=file_path, save_results=save_results, params=params,
                            **kwargs)

    def get_list(self, limit: int | None = None, **kwargs: Any) -> list[InferenceJob]:  # type: ignore[override]
        """Your visible inference jobs, newest first."""
        items = self._request("GET", f"/{self.endpoint_base}", params={"offset": 0, "limit": min(limit or 500, 500)}
                              ).json()
        return [self._init_entity_obj(**{k: v for k, v in i.items() if k != "job_id"}) for i in items]

    def stream_status(self, job_id: Any, read_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield status updates of an inference job from its Server-Sent Events stream."""
        return super().stream_status(job_id, read_timeout)

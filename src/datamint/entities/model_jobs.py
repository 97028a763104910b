"""``DeployJob`` and ``InferenceJob``: the background jobs of ``api.deploy`` and ``api.inference``."""

from __future__ import annotations

from typing import Any

from datamint.entities.base_entity import BaseEntity
from datamint.entities.job import TERMINAL_STATUSES, JobFailedError


class _ModelJob(BaseEntity):
    """What deploy and inference jobs share: status, progress, wait and cancel."""

    status: str
    model_name: str | None = None
    progress_percentage: int = 0
    current_step: str | None = None
    error_message: str | None = None
    error_where: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    kind: str | None = None
    params: dict[str, Any] | None = None

    @property
    def is_done(self) -> bool:
        """Whether the job has ended."""
        return self.status.lower() in TERMINAL_STATUSES

    def wait(self, timeout: float | None = 1800, progress_bar: bool = True, poll_interval: float = 2.0) -> Any:
        """Block until the job ends (SSE, polling if the stream breaks, progress bar); returns ``self``.

        Raises:
            JobTimeoutError: ``timeout`` seconds passed first (the job goes on).
        """
        self._require_api().wait(self, timeout=timeout, progress_bar=progress_bar,  # type: ignore[attr-defined]
                                 poll_interval=poll_interval)
        return self

    def cancel(self) -> bool:
        """Ask the server to cancel the job; whether it accepted."""
        return self._require_api().cancel(self)  # type: ignore[attr-defined]

    def refresh(self) -> Any:
        """Reload the job's state; returns ``self``."""
        self._refresh()
        return self

    def raise_for_status(self) -> Any:
        """Return ``self`` unless the job failed or was cancelled (then ``JobFailedError``, saying why)."""
        if self.status.lower() in ("failed", "error", "cancelled"):
            raise JobFailedError(self)  # type: ignore[arg-type]
        return self

    def _update(self, data: dict[str, Any]) -> None:
        for name, value in data.items():
            if name == "job_id":
                continue
            setattr(self, name, value)


class DeployJob(_ModelJob):
    """A model deployment (``api.deploy.start``).

    Attributes:
        model_version / model_alias: What was deployed.
        image_name / image_tag: The deployed image, ``image_name:image_tag``.
        result: ``{'image_name', 'model_version', 'supported_modes', 'annotation_specs'}`` once completed.
    """

    model_version: int | None = None
    model_alias: str | None = None
    image_name: str | None = None
    image_tag: str | None = None
    with_gpu: bool = False
    result: dict[str, Any] | None = None

    def logs(self, tail: int = 2000) -> list[str]:
        """The deploy's log lines."""
        return self._require_api().get_logs(self, tail=tail)["logs"]  # type: ignore[attr-defined]


class InferenceJob(_ModelJob):
    """A prediction run (``api.inference.predict*``).

    Attributes:
        resource_id / resource_ids: The resources it runs on.
        save_results: Whether predictions are saved as annotations.
        result_data: ``{'predictions': [[...] per resource], 'annotation_ids': [...], ...}`` once completed.
        annotation_ids: The annotations it saved.
    """

    resource_id: str | None = None
    resource_ids: list[str] | None = None
    frame_idx: int | None = None
    model_version: int | None = None
    mode: str | None = None
    save_results: bool = False
    result_data: dict[str, Any] | None = None
    annotation_ids: list[str] | None = None

    @property
    def predictions(self) -> list[list[dict[str, Any]]] | None:
        """One list of predicted annotations (dicts, wire §7.2, with ``id`` when saved) per resource."""
        if self.result_data and "predictions" in self.result_data:
            return self.result_data["predictions"]
        return None

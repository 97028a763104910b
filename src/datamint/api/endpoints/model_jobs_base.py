"""Following deploy and inference jobs: their status stream (SSE) with a polling fallback and a progress bar."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from tqdm.auto import tqdm

from datamint.api._job_follow import follow_job
from datamint.api.entity_base_api import EntityBaseApi


class ModelJobsApi(EntityBaseApi[Any]):
    """Shared by ``DeployModelApi`` and ``InferenceApi`` (their jobs live under ``<base>/status/{id}``)."""

    def get_by_id(self, entity_id: str) -> Any:
        """The job's current state."""
        self._validate_entity_id(entity_id)
        data = self._request("GET", f"/{self.endpoint_base}/status/{entity_id}").json()
        data.pop("job_id", None)
        return self._init_entity_obj(**data)

    def stream_status(self, job: Any, read_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield the job's state (dicts parsed from SSE ``data:`` lines) until the server ends the stream."""
        job_id = self._entid(job)
        self._validate_entity_id(job_id)
        extra: dict[str, Any] = {}
        if read_timeout is not None:
            extra["timeout"] = httpx.Timeout(self.config.timeout, read=max(read_timeout, 0.05))
        response = self._request("GET", f"/{self.endpoint_base}/status/{job_id}/stream", stream=True,
                                 headers={"accept": "text/event-stream"}, **extra)
        try:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())
        finally:
            response.close()

    def cancel(self, job: Any) -> bool:
        """Cancel a job; whether the server accepted (a finished job cannot be cancelled)."""
        job_id = self._entid(job)
        self._validate_entity_id(job_id)
        return bool(self._request("POST", f"/{self.endpoint_base}/cancel/{job_id}").json().get("success"))

    def wait(self, job: Any, *, on_status: Callable[[Any], None] | None = None, poll_interval: float = 2.0,
             timeout: float | None = 1800, progress_bar: bool = False) -> Any:
        """Block until the job ends: follow its SSE stream, then poll every ``poll_interval`` s if it breaks.

        Args:
            job: The job or its id (a job passed in is updated in place).
            on_status: Called with the job at every change.
            poll_interval: Seconds between polls once the stream has broken.
            timeout: Most seconds to wait (``None``: no limit).
            progress_bar: Show a progress bar (percent).

        Returns:
            The job in its final state.

        Raises:
            JobTimeoutError: ``timeout`` passed first (the job goes on).
        """
        target = job if not isinstance(job, str) else self.get_by_id(job)
        with tqdm(total=100, desc=target.model_name or "job", unit="%", disable=not progress_bar) as bar:

            def seen(data: dict[str, Any]) -> None:
                target._update(data)
                bar.n = int(target.progress_percentage or 0)
                bar.set_postfix_str(f"{target.status}{': ' + target.current_step if target.current_step else ''}",
                                    refresh=True)
                if on_status is not None:
                    on_status(target)

            follow_job(lambda: target.is_done, seen,
                       lambda read_timeout: self.stream_status(target, read_timeout=read_timeout),
                       lambda: self._request("GET", f"/{self.endpoint_base}/status/{target.id}").json(),
                       timeout=timeout, poll_interval=poll_interval,
                       timeout_message=lambda: (f"Job {target.id} did not end within {timeout} s; it is still "
                                                f"{target.status}. Wait again or cancel it"))
        # The stream's events carry the generic job fields; read the full entity once at the end.
        target._update({k: v for k, v in self._request("GET", f"/{self.endpoint_base}/status/{target.id}"
                                                       ).json().items()})
        return target

"""Jobs endpoint handler (``api.jobs``): follow, list, cancel and read the logs of background jobs.

Long operations run on the server as jobs (``docs/jobs.md``): a request that starts one returns at
once with the job, and :meth:`JobsApi.wait` follows it over Server-Sent Events (falling back to
polling when the stream breaks), with a progress bar.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from tqdm.auto import tqdm

from datamint.api._job_follow import follow_job
from datamint.api.base_api import ApiConfig
from datamint.api.entity_base_api import EntityBaseApi
from datamint.entities.job import Job


class JobsApi(EntityBaseApi[Job]):
    """API handler for background jobs.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.

    Example:
        >>> job = api.jobs.get_by_id(job_id)
        >>> api.jobs.wait(job)              # SSE + progress bar
        >>> print(job.status, job.result)
        >>> for line in api.jobs.logs(job):
        ...     print(line['at'], line['line'])
    """

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, Job, "jobs", client)

    def get_list(self, kind: str | None = None, status: str | None = None,  # type: ignore[override]
                 project: str | Any | None = None, creator: str | None = None,
                 limit: int | None = None) -> list[Job]:
        """The jobs you may see (yours, those of projects you manage, all for admins), newest first.

        Args:
            kind: Only this kind, e.g. ``'datasets.version'``.
            status: Only this status (``'queued'``, ``'running'``, ``'completed'``, ``'failed'``, ``'cancelled'``).
            project: Only the jobs of this project (a Project or its id).
            creator: Only the jobs created by this user (email or id).
            limit: Maximum number of jobs (all when ``None``).
        """
        params = {"kind": kind, "status": status, "creator": creator,
                  "project_id": project if isinstance(project, str) or project is None else project.id}
        return [self._init_entity_obj(**item) for item in self._iter_items("/jobs", params, limit=limit)]

    def download(self, job: str | Job, path: str | Path, progress_bar: bool = True) -> Path:
        """Download the archive of a completed export job (``GET /exports/{id}/download``).

        Args:
            job: The job or its id.
            path: A file path, or an existing folder (the archive keeps its own name there).
            progress_bar: Show a tqdm byte progress bar.

        Returns:
            The downloaded file's path.

        Raises:
            JobFailedError: The job failed or was cancelled.
            ItemNotFoundError: The job has no archive (not an export, or not completed yet).
        """
        from datamint.api.endpoints.annotationsets_api import stream_download

        found = job if isinstance(job, Job) else self.get_by_id(job)
        found.raise_for_status()
        target = Path(path)
        if target.is_dir():
            target = target / str((found.result or {}).get("filename") or f"export-{found.id}.zip")
        stream_download(self, f"/exports/{found.id}/download", {}, target, progress_bar)
        return target

    def cancel(self, job: str | Job) -> Job:
        """Cancel a job: a queued one at once, a running one at its next step.

        Returns:
            The job as the server now has it (a running job shows ``cancel_requested``).

        Raises:
            ItemNotFoundError: No such job, or not yours to see.
            EntityAlreadyExistsError: (409) The job already completed or failed.
        """
        job_obj = self._init_entity_obj(**self._make_entity_request("POST", job, add_path="cancel").json())
        if isinstance(job, Job):
            job._update(job_obj)
        return job_obj

    def logs(self, job: str | Job, after: int = 0, tail: int | None = None) -> list[dict[str, Any]]:
        """A job's log lines, oldest first: every line after line ``after``, or the last ``tail``.

        Returns:
            Dicts with ``seq`` (1, 2, ...), ``at`` (ISO 8601), ``level`` and ``line``.
        """
        if tail is not None:
            body = self._make_entity_request("GET", job, add_path="logs", params={"tail": tail}).json()
            return list(body["lines"])
        lines: list[dict[str, Any]] = []
        while True:
            body = self._make_entity_request("GET", job, add_path="logs", params={"after": after, "limit": 5000}).json()
            lines.extend(body["lines"])
            if not body["lines"]:
                return lines
            after = body["next_after"]

    def follow_logs(self, job: str | Job, after: int = 0) -> Iterator[dict[str, Any]]:
        """Yield a job's log lines as they are written, until the job ends (SSE ``logs/stream``)."""
        for event, data in self._sse(job, "logs/stream", {"after": after}):
            if (data.get("event") or event) == "log":
                yield data
            elif (data.get("event") or event) == "end":
                return

    def stream_status(self, job: str | Job, read_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield the job's state (a job dict) at every change of status or progress, until it ends.

        Args:
            job: The job or its id.
            read_timeout: Most seconds to wait for the next line (the server sends one at least
                every 15 s); default: the Api's timeout.
        """
        for _, data in self._sse(job, "stream", None, read_timeout):
            yield data

    def _sse(self, job: str | Job, path: str, params: dict[str, Any] | None,
             read_timeout: float | None = None) -> Iterator[tuple[str | None, dict]]:
        job_id = self._entid(job)
        self._validate_entity_id(job_id)
        extra: dict[str, Any] = {}
        if read_timeout is not None:
            extra["timeout"] = httpx.Timeout(self.config.timeout, read=max(read_timeout, 0.05))
        response = self._request("GET", f"/jobs/{job_id}/{path}", params=params, stream=True,
                                 headers={"accept": "text/event-stream"}, **extra)
        try:
            event: str | None = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    yield event, json.loads(line[5:].strip())
                    event = None
        finally:
            response.close()

    def wait(self, job: str | Job, timeout: float | None = None, progress_bar: bool = True,
             poll_interval: float = 2.0, on_status: Callable[[Job], None] | None = None) -> Job:
        """Block until a job ends, following it over Server-Sent Events (polling if the stream breaks).

        Args:
            job: The job or its id. A Job passed in is updated in place.
            timeout: Most seconds to wait (``None``: no limit).
            progress_bar: Show a progress bar of the job's steps.
            poll_interval: Seconds between polls once the stream has broken.
            on_status: Called with the job at every change.

        Returns:
            The job in its final state (check ``status``, or call ``raise_for_status()``).

        Raises:
            JobTimeoutError: ``timeout`` passed first (the job goes on; wait again or cancel it).

        Example:
            >>> job = api.jobs.wait(job_id, timeout=600).raise_for_status()
        """
        target = job if isinstance(job, Job) else self.get_by_id(job)
        with tqdm(total=None, desc=target.kind, unit="step", disable=not progress_bar, leave=True) as bar:

            def seen(data: dict[str, Any]) -> None:
                target._update(data)
                progress = target.progress or {}
                if progress.get("total"):
                    bar.total = progress["total"]
                bar.n = int(progress.get("done") or 0)
                bar.set_postfix_str(f"{target.status}{': ' + target.current_step if target.current_step else ''}",
                                    refresh=True)
                if on_status is not None:
                    on_status(target)

            follow_job(lambda: target.is_done, seen,
                       lambda read_timeout: self.stream_status(target, read_timeout=read_timeout),
                       lambda: self._make_entity_request("GET", target).json(),
                       timeout=timeout, poll_interval=poll_interval,
                       timeout_message=lambda: (f"Job {target.id} ({target.kind}) did not end within {timeout} s; it "
                                                f"is still {target.status}. Wait again with "
                                                f"api.jobs.wait('{target.id}') or cancel it"))
        return target

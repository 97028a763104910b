"""The Job entity: a background operation on the server (a dataset version being built, and later
model deploys, inference runs, exports and imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from datamint.entities.base_entity import BaseEntity
from datamint.exceptions import DatamintException

if TYPE_CHECKING:
    from datamint.api.endpoints.jobs_api import JobsApi

#: Statuses after which a job never changes again.
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "error"})


class JobFailedError(DatamintException):
    """A job ended ``failed`` or ``cancelled``; ``job`` is the final state, ``str()`` says why."""

    def __init__(self, job: Job) -> None:
        self.job = job
        if job.status == "cancelled":
            message = f"Job {job.id} ({job.kind}) was cancelled"
        else:
            message = f"Job {job.id} ({job.kind}) failed: {job.error_message or 'no reason given'}"
            if job.error_where:
                message += f" [at {job.error_where}]"
        super().__init__(message)


class Job(BaseEntity):
    """A background job.

    Attributes:
        kind: What it does, ``<area>.<verb>`` (e.g. ``'datasets.version'``).
        status: ``'queued'``, ``'running'``, then ``'completed'``, ``'failed'`` or ``'cancelled'``.
        project_id: The project it works on, if any.
        created_by: Its creator's email.
        params: What it was asked to do.
        progress: ``{'done', 'total', 'message'}``; ``progress_percentage`` (0-100) and
            ``current_step`` (the message) say the same for the official client's job entities.
        result: What it produced (once completed).
        error_message / error_where: Why and where it failed.
        attempt / max_attempts: Runs so far (a worker that died costs one) and the allowance.
        cancel_requested: Someone asked to cancel it (a running job stops at its next step).
        created_at / started_at / finished_at: ISO 8601 times.
    """

    kind: str
    status: str
    project_id: str | None = None
    created_by: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    progress: dict[str, Any] = Field(default_factory=dict)
    progress_percentage: int = 0
    current_step: str | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    error_where: str | None = None
    attempt: int = 0
    max_attempts: int = 1
    cancel_requested: bool = False
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def _jobs(self) -> JobsApi:
        return self._require_api()  # type: ignore[return-value]

    @property
    def is_done(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled)."""
        return self.status.lower() in TERMINAL_STATUSES

    def refresh(self) -> Job:
        """Reload the job's state from the server; returns ``self``."""
        self._refresh()
        return self

    def wait(self, timeout: float | None = None, progress_bar: bool = True) -> Job:
        """Block until the job ends (see ``JobsApi.wait``); updates and returns ``self``."""
        self._jobs.wait(self, timeout=timeout, progress_bar=progress_bar)
        return self

    def cancel(self) -> Job:
        """Cancel the job (a running one stops at its next step); updates and returns ``self``."""
        self._update(self._jobs.cancel(self))
        return self

    def logs(self, tail: int | None = None) -> list[dict[str, Any]]:
        """The job's log lines (``{'seq', 'at', 'level', 'line'}``), or its last ``tail`` ones."""
        return self._jobs.logs(self, tail=tail)

    def download(self, path: str | Any, progress_bar: bool = True) -> Any:
        """Download what a completed export job produced (its zip archive).

        Args:
            path: A file path, or an existing folder (the archive keeps its own name there).
            progress_bar: Show a tqdm byte progress bar.

        Returns:
            The path of the downloaded file (a ``pathlib.Path``).

        Raises:
            JobFailedError: The job failed or was cancelled.
            ItemNotFoundError: The job has no archive (not an export, or not completed yet).
        """
        return self._jobs.download(self, path, progress_bar=progress_bar)

    def raise_for_status(self) -> Job:
        """Return ``self`` unless the job failed or was cancelled.

        Raises:
            JobFailedError: The job ended ``failed``, ``error`` or ``cancelled``.
        """
        if self.status.lower() in ("failed", "error", "cancelled"):
            raise JobFailedError(self)
        return self

    def _update(self, other: Job | dict[str, Any]) -> None:
        data = other.asdict() if isinstance(other, Job) else other
        for name, value in data.items():
            setattr(self, name, value)

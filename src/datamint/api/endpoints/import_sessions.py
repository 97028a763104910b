"""Import sessions (``api.annotations.import_session(project)``): add annotation files, folders
or bytes, then commit; the server imports them as a background job (docs/formats.md).

The shape follows seed 003's ``create_import_session``: ``add_path`` (a file or a folder),
``add_bytes``, ``wait_until_done`` and ``get_logs``, usable as a context manager that commits on
exit. Each file that fails is reported line by line (``At labels.csv:19: ...``) and leaves nothing
half-imported; the others are imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datamint.entities.job import Job

if TYPE_CHECKING:
    from datamint.api.base_api import BaseApi
    from datamint.api.endpoints.jobs_api import JobsApi


class ImportSession:
    """Files gathered for one import into a project.

    Args:
        api: The endpoint handler that sends the requests.
        jobs: ``api.jobs``, to follow the import job.
        data: The session as the server returned it.
        background: On leaving a ``with`` block, commit and return at once (``True``) or wait
            for the import to end (``False``, the default).
        commit_options: Passed to :meth:`commit` on leaving a ``with`` block.

    Example:
        >>> with api.annotations.import_session(project, label_map={"Liver": "liver"}) as session:
        ...     session.add_path("exports/coco/annotations.json")
        ...     session.add_path("more_labels/")
        >>> print(session.job.result["created"], session.get_logs())
    """

    def __init__(self, api: BaseApi, jobs: JobsApi, data: dict[str, Any], background: bool = False,
                 commit_options: dict[str, Any] | None = None) -> None:
        self._api, self._jobs = api, jobs
        self.data = data
        self.background = background
        self.commit_options = dict(commit_options or {})
        self.job: Job | None = None

    @property
    def id(self) -> str:
        """The session's id."""
        return str(self.data["id"])

    def add_bytes(self, file_bytes: bytes, filename: str) -> dict[str, Any]:
        """Add a file's bytes; ``filename`` (with its extension, maybe a relative path such as
        ``masks/a.png``) says what it is.

        Returns:
            The added file (``id``, ``name``, ``size``, ``status``).
        """
        response = self._api._request("POST", f"/imports/{self.id}/files", data={"name": filename},
                                      files={"file": (os.path.basename(filename) or "file", file_bytes)})
        return response.json()

    def add_path(self, file_path: str | Path) -> list[dict[str, Any]]:
        """Add a file, or every file of a folder (recursively; names keep their path inside the
        folder, under the folder's name, so an export's ``masks/`` stay beside its annotations).

        Returns:
            The added files.

        Raises:
            FileNotFoundError: ``file_path`` does not exist.
        """
        path = Path(file_path)
        if path.is_file():
            return [self.add_bytes(path.read_bytes(), path.name)]
        if not path.is_dir():
            raise FileNotFoundError(f"No file or folder at {path}")
        added = []
        for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            added.append(self.add_bytes(child.read_bytes(), f"{path.name}/{child.relative_to(path).as_posix()}"))
        return added

    def refresh(self) -> dict[str, Any]:
        """The session as the server has it now (its files, their status and messages)."""
        self.data = self._api._request("GET", f"/imports/{self.id}").json()
        return self.data

    def commit(self, dry_run: bool = False, label_map: dict[str, str] | None = None, on_conflict: str = "keep",
               author: str | None = None, model_name: str | None = None) -> Job:
        """Start importing the session's files (a ``formats.import`` job).

        Args:
            dry_run: Only read and check the files (the job's ``result`` is the preview: annotations
                per file and label, labels the worklist lacks, problems); the session stays open.
            label_map: Rename labels of the files, e.g. ``{'Liver': 'liver'}``.
            on_conflict: ``'keep'`` (add beside existing annotations), ``'skip'`` (leave out those
                identical to an existing one) or ``'replace'`` (delete the existing annotations of
                the same labels on the same resources first).
            author: Credit this author (``import_author``).
            model_name: The annotations are predictions of this model (``source='model_pipeline'``).

        Returns:
            The job (``wait()``, ``logs()``, ``result``).
        """
        body = {"dry_run": dry_run, "label_map": dict(label_map or {}), "on_conflict": on_conflict,
                "author": author, "model_name": model_name}
        response = self._api._request("POST", f"/imports/{self.id}/commit", json=body)
        self.job = self._jobs._init_entity_obj(**response.json())
        return self.job

    def preview(self, timeout: float | None = None, **options: Any) -> dict[str, Any]:
        """Commit as a dry run, wait, and return the preview (nothing is written)."""
        job = self.commit(dry_run=True, **options)
        job.wait(timeout=timeout, progress_bar=False).raise_for_status()
        return dict(job.result or {})

    def wait_until_done(self, timeout: float | None = None, progress_bar: bool = True) -> Job:
        """Wait for the import job to end.

        Raises:
            RuntimeError: The session was not committed yet.
            JobFailedError: The job failed or was cancelled (files that failed one by one do not
                fail the job: see :meth:`get_logs` and ``job.result['files']``).
        """
        if self.job is None:
            raise RuntimeError("Commit the import session first (session.commit())")
        return self.job.wait(timeout=timeout, progress_bar=progress_bar).raise_for_status()

    def get_logs(self) -> list[dict[str, Any]]:
        """The import job's log lines (``{'seq', 'at', 'level', 'line'}``); errors name file, line and hint."""
        if self.job is None:
            return []
        return self.job.logs()

    def __enter__(self) -> ImportSession:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            return
        self.commit(**self.commit_options)
        if not self.background:
            self.wait_until_done(progress_bar=False)

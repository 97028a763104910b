"""Datasets endpoint handler (``api.datasets``, also ``api._datasetsinfo``; wire §4.6).

Every project owns one dataset (``project.dataset_id``) whose resources are the project's. A
*version* freezes a dataset — its resources by SHA-256, its annotations and masks as they were,
its label schema — and never changes afterwards. Versions are referred to as ``'latest'``, by
number (``1``, ``2``...) or by name. The Segments.ai-style names (``add_release``,
``get_releases``, ``get_release``, ``delete_release``) are aliases.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from datamint.api.base_api import ApiConfig, error_from_response
from datamint.api.endpoints.annotationsets_api import stream_download
from datamint.api.endpoints.jobs_api import JobsApi
from datamint.api.entity_base_api import DeletableEntityApi
from datamint.entities.datasetinfo import DatasetInfo, DatasetVersion
from datamint.entities.job import Job
from datamint.exceptions import DatamintException

if TYPE_CHECKING:
    from datamint.entities.project import Project

ArchiveFormat = Literal["dicom", "nifti", "png", "jpg", "tiff", "npy"]
VersionRef = str | int | DatasetVersion


class DatasetsInfoApi(DeletableEntityApi[DatasetInfo]):
    """API handler for datasets and their versions.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.

    Example:
        >>> dataset = api.datasets.get_by_id(project.dataset_id)
        >>> v1 = api.datasets.create_version(dataset, 'v1', 'first labelled batch')
        >>> api.datasets.download(dataset, 'v1.zip', format='nifti', version='v1')
    """

    return_field = "datasets"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, DatasetInfo, "datasets", client)

    # -- datasets --------------------------------------------------------------------------------

    def get_list(self, limit: int | None = None, include_archived: bool = False,  # type: ignore[override]
                 **kwargs: Any) -> Sequence[DatasetInfo]:
        """The datasets of the projects you can see.

        Args:
            limit: Maximum number of datasets (all when ``None``).
            include_archived: Include the datasets of archived projects.
        """
        if include_archived:
            kwargs["includeArchived"] = "true"
        return super().get_list(limit=limit, **kwargs)

    def get_by_name(self, name: str, include_archived: bool = False) -> DatasetInfo | None:
        """The dataset with this name (its project's name), or ``None``.

        Args:
            name: The dataset's (project's) name.
            include_archived: Also look at the datasets of archived projects.
        """
        return next((d for d in self.get_list(include_archived=include_archived) if d.name == name), None)

    def delete(self, entity: str | DatasetInfo) -> None:
        """Delete a dataset: its project is archived (restore it with ``api.projects.restore``).

        Args:
            entity: The dataset or its id.

        Raises:
            ItemNotFoundError: No such dataset.
            PermissionDeniedError: You are not a manager of its project.
        """
        super().delete(entity)

    def get_resources(self, dataset: str | DatasetInfo, version: VersionRef | None = None) -> list[dict]:
        """The resources of a dataset, now or in one version (then each has its ``sha256``).

        Args:
            dataset: The dataset or its id.
            version: ``'latest'``, a number or a name; ``None`` for the current resources.

        Returns:
            Resource dicts as the server sends them.
        """
        params = {"version": self._ref(version)} if version is not None else None
        return self._make_entity_request("GET", dataset, add_path="resources", params=params).json()

    def update_resources(self, dataset: str | DatasetInfo, resource_ids_to_add: list[str] | None = None,
                         resource_ids_to_delete: list[str] | None = None,
                         project: str | Project | None = None) -> None:
        """Add or remove resources of a dataset (that is, of its project).

        Args:
            dataset: The dataset or its id.
            resource_ids_to_add: Resources to add.
            resource_ids_to_delete: Resources to remove.
            project: The dataset's project (checked by the server; optional).
        """
        payload: dict[str, Any] = {"all_files_selected": False}
        if resource_ids_to_add is not None:
            payload["resource_ids_to_add"] = list(resource_ids_to_add)
        if resource_ids_to_delete is not None:
            payload["resource_ids_to_delete"] = list(resource_ids_to_delete)
        if project is not None:
            payload["project_id"] = self._entid(project)  # type: ignore[arg-type]
        self._make_entity_request("POST", dataset, add_path="resources", json=payload)

    def download(self, dataset: str | DatasetInfo, output_path: str | Path, format: ArchiveFormat = "dicom",  # noqa: A002
                 progress_bar: bool = True, version: VersionRef | None = None) -> Path:
        """Download a dataset as a zip archive (``manifest.json`` + resources + masks).

        Args:
            dataset: The dataset or its id.
            output_path: Where to write the archive.
            format: ``'dicom'`` (files as uploaded), ``'nifti'`` (DICOM volumes as NIfTI),
                ``'png'``, ``'jpg'`` or ``'tiff'`` (every frame rendered as an 8-bit image, as
                ``/frames`` renders it) or ``'npy'`` (arrays).
            progress_bar: Show a progress bar.
            version: ``'latest'``, a number or a name; ``None`` for the dataset as it is now.

        Returns:
            The archive's path.

        Raises:
            ValidationError: Unknown format.
            ItemNotFoundError: Unknown dataset or version.
        """
        params = {"version": self._ref(version)} if version is not None else None
        token = self._make_entity_request("GET", dataset, add_path=f"download/{format}", params=params).json()
        stream_download(self, f"/datasets/download/{token}", {}, output_path, progress_bar)
        return Path(output_path)

    # -- versions --------------------------------------------------------------------------------

    @staticmethod
    def _ref(version: VersionRef) -> str:
        if isinstance(version, DatasetVersion):
            return str(version.number)
        ref = str(version).strip()
        if not ref:
            raise ValueError("A version is 'latest', a number or a name")
        return ref

    def _version_entity(self, data: dict[str, Any]) -> DatasetVersion:
        version = DatasetVersion(**data)
        version._api = self
        return version

    def create_version(self, dataset: str | DatasetInfo, name: str | None = None, description: str = "",
                       wait: bool = True, progress_bar: bool = True,
                       timeout: float | None = None) -> DatasetVersion | Job:
        """Freeze the dataset's current resources, annotations (and masks) and label schema.

        The server builds the version as a background job (hashing every new resource, copying
        new masks); by default this waits for it with a progress bar.

        Args:
            dataset: The dataset or its id.
            name: Unique name (default ``v<number>``); not only digits, not ``'latest'``.
            description: Free text.
            wait: Wait for the version to be built; ``False`` returns the job at once (follow it
                with ``job.wait()``; ``job.result['version']`` is the version).
            progress_bar: Show a progress bar while waiting.
            timeout: Most seconds to wait (``None``: no limit).

        Returns:
            The new version, or the job when ``wait=False``.

        Raises:
            EntityAlreadyExistsError: The name is taken.
            PermissionDeniedError: You are not a manager of the dataset's project.
            JobFailedError: The build failed or was cancelled (its reason is in the message).
            JobTimeoutError: ``timeout`` passed first (the build goes on).

        Example:
            >>> v = api.datasets.create_version(project.dataset_id, 'baseline')
            >>> v.number, v.resource_count
            >>> job = api.datasets.create_version(project.dataset_id, 'nightly', wait=False)
        """
        body: dict[str, Any] = {"description": description}
        if name is not None:
            body["name"] = name
        response = self._make_entity_request("POST", dataset, add_path="versions", json=body)
        jobs = self._jobs()
        job = jobs._init_entity_obj(**response.json())
        if not wait:
            return job
        jobs.wait(job, timeout=timeout, progress_bar=progress_bar).raise_for_status()
        return self._version_entity(job.result["version"])  # type: ignore[index]

    def _jobs(self) -> JobsApi:
        return self._sibling("jobs", lambda: JobsApi(self.config, self.client))

    def get_versions(self, dataset: str | DatasetInfo) -> list[DatasetVersion]:
        """The dataset's versions, oldest first."""
        self._validate_entity_id(self._entid(dataset))
        items = self._iter_items(f"/datasets/{self._entid(dataset)}/versions")
        return [self._version_entity(item) for item in items]

    def get_version(self, dataset: str | DatasetInfo, version: VersionRef = "latest") -> DatasetVersion:
        """One version: ``'latest'`` (the newest), a number, or a name.

        Raises:
            ItemNotFoundError: No such version (or none yet, for ``'latest'``).
        """
        response = self._make_entity_request("GET", dataset, add_path=f"versions/{self._ref(version)}")
        return self._version_entity(response.json())

    def delete_version(self, dataset: str | DatasetInfo, version: VersionRef) -> None:
        """Delete a version (the dataset itself is untouched)."""
        self._make_entity_request("DELETE", dataset, add_path=f"versions/{self._ref(version)}")

    def get_manifest(self, dataset: str | DatasetInfo, version: VersionRef = "latest") -> dict[str, Any]:
        """A version's manifest: its version, resources (with ``sha256``), annotations (each with
        ``mask``: sha256/size/mimetype or ``None``) and ``label_schema``."""
        return self._make_entity_request("GET", dataset, add_path=f"versions/{self._ref(version)}/manifest").json()

    def download_version_file(self, dataset: str | DatasetInfo, version: VersionRef, sha256: str,
                              save_path: str | Path) -> Path:
        """Download one file of a version (a resource or a mask) by hash, verifying the hash.

        The file is written next to ``save_path`` first and renamed only once its hash matches.

        Raises:
            DatamintException: The bytes received do not have the expected hash.
        """
        self.download_version_files(dataset, version, [(sha256, save_path)])
        return Path(save_path)

    def download_version_files(self, dataset: str | DatasetInfo, version: VersionRef,
                               files: Sequence[tuple[str, str | Path]], progress_bar: bool = False) -> None:
        """Download several files of a version concurrently (each verified like
        :meth:`download_version_file`).

        Args:
            dataset: The dataset or its id.
            version: The version (a number is safest: ``'latest'`` may move meanwhile).
            files: ``(sha256, save path)`` pairs.
            progress_bar: Show a progress bar.

        Raises:
            DatamintException: The first failure, after every download was attempted.
        """
        from tqdm.auto import tqdm

        base = f"/datasets/{self._entid(dataset)}/versions/{self._ref(version)}/blobs"

        def job(sha256: str, target: Path) -> Any:
            async def run(client: httpx.AsyncClient) -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                async with client.stream("GET", f"{base}/{sha256}", headers={"accept": "*/*"}) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from_response(response)
                    # A partial file of its own: other processes may be downloading the same file
                    # into the same folder (DataLoader workers, one process per GPU).
                    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
                    partial = Path(name)
                    try:
                        with os.fdopen(fd, "wb") as fh:
                            async for chunk in response.aiter_bytes(1 << 20):
                                digest.update(chunk)
                                fh.write(chunk)
                        if digest.hexdigest() != sha256:
                            raise DatamintException(f"Downloaded file {sha256[:12]}… has the wrong hash "
                                                    f"{digest.hexdigest()[:12]}…; retry, and if it persists the "
                                                    "server's copy is damaged")
                        os.replace(partial, target)
                    except BaseException:
                        partial.unlink(missing_ok=True)
                        raise
            return run

        jobs = [job(sha, Path(path)) for sha, path in files]
        with tqdm(total=len(jobs), desc="Downloading dataset", unit="files", disable=not progress_bar) as bar:
            results = self._run_concurrently(jobs, return_exceptions=True, on_done=lambda: bar.update(1))
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    # Segments.ai-style names (seed 004).

    def add_release(self, dataset: str | DatasetInfo, name: str, description: str = "") -> DatasetVersion:
        """Alias of :meth:`create_version` (waits for the version)."""
        return self.create_version(dataset, name, description)  # type: ignore[return-value]

    def get_releases(self, dataset: str | DatasetInfo) -> list[DatasetVersion]:
        """Alias of :meth:`get_versions`."""
        return self.get_versions(dataset)

    def get_release(self, dataset: str | DatasetInfo, name: VersionRef) -> DatasetVersion:
        """Alias of :meth:`get_version`."""
        return self.get_version(dataset, name)

    def delete_release(self, dataset: str | DatasetInfo, name: VersionRef) -> None:
        """Alias of :meth:`delete_version`."""
        self.delete_version(dataset, name)



"""Where a dataset's records and files come from.

* :class:`LiveSource` — a project as it is now, through the normal endpoints and the entity cache
  (``<data dir>/resources/<id>/``, ``<data dir>/annotations/<id>/``; wire §3.5, §9).
* :class:`VersionSource` — an immutable dataset version, downloaded once into a content-addressed
  folder (``<folder>/blobs/<sha[:2]>/<sha>``) with its manifest in ``<folder>/versions/``. A newer
  version downloads only the files whose hash is not there yet.

Both produce :class:`Record` s (a resource dict and its annotation dicts) and local file paths.
A source holds only configuration and plain data, so it pickles cheaply into DataLoader workers;
each process creates its own :class:`~datamint.Api` (and HTTP connections) on first use.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamint.exceptions import DatamintException, EntityAlreadyExistsError, ItemNotFoundError, PermissionDeniedError

_LOG = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DatamintDatasetException(DatamintException):
    """A dataset cannot be built: unknown dataset or version, nothing downloaded, bad options."""


@dataclass
class Record:
    """One resource of a dataset and its annotations (plain dicts, as the server sends them)."""

    resource: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The resource id."""
        return str(self.resource["id"])

    @property
    def mimetype(self) -> str:
        """The resource's mimetype."""
        return str(self.resource.get("mimetype") or "")

    @property
    def patient_id(self) -> str | None:
        """The patient, from the resource or its DICOM metadata."""
        return self.resource.get("patient_id") or (self.resource.get("metadata") or {}).get("PatientID")


@dataclass
class Connection:
    """How to reach the server; each process builds its own client from it."""

    server_url: str | None = None
    api_key: str | None = None
    _api: Any = field(default=None, repr=False, compare=False)
    _pid: int = field(default=-1, repr=False, compare=False)

    def api(self) -> Any:
        """This process's :class:`~datamint.Api` (rebuilt after a fork: sockets are never shared)."""
        if self._api is None or self._pid != os.getpid():
            from datamint.api.client import Api

            self._api = Api(self.server_url, self.api_key, check_connection=False)
            self._pid = os.getpid()
        return self._api

    def __getstate__(self) -> dict[str, Any]:
        return {"server_url": self.server_url, "api_key": self.api_key, "_api": None, "_pid": -1}


def trusted(annotations: Sequence[dict[str, Any]], sources: Sequence[str] | None) -> list[dict[str, Any]]:
    """Annotations whose ``source`` is unset or among ``sources`` (all when ``sources`` is None)."""
    if sources is None:
        return list(annotations)
    allowed = set(sources)
    return [a for a in annotations if not a.get("source") or a.get("source") in allowed]


def author_of(annotation: dict[str, Any]) -> str:
    """Who made an annotation: the model for model output, else the user's email."""
    return str(annotation.get("created_by_model") or annotation.get("created_by") or annotation.get("added_by")
               or "unknown")


def name_of(annotation: dict[str, Any]) -> str:
    """The annotation's label (``identifier``/``name``)."""
    return str(annotation.get("identifier") or annotation.get("name") or "")


def kind_of(annotation: dict[str, Any]) -> str:
    """The annotation's type."""
    return str(annotation.get("type") or annotation.get("annotation_type") or "")


def frames_of(annotation: dict[str, Any]) -> list[int] | None:
    """The frames an annotation covers (``None``: the whole image)."""
    if annotation.get("scope") == "image" or annotation.get("frame_index") is None:
        return None
    span = annotation.get("frame_range")
    if isinstance(span, (list, tuple)) and len(span) == 2 and span[1] is not None:
        return list(range(int(span[0]), int(span[1]) + 1))
    return [int(annotation["frame_index"])]


class LiveSource:
    """A project's current resources and annotations, files through the entity cache.

    Args:
        connection: Server URL and key.
        project: The project's wire dict (``id``, ``name``, ``dataset_id``...).
    """

    kind = "live"

    def __init__(self, connection: Connection, project: dict[str, Any]) -> None:
        self.connection = connection
        self.project = project
        self._paths: dict[str, Path] = {}

    def load(self) -> tuple[list[Record], list[dict[str, Any]]]:
        """The records (GET /projects/{id}/resources + POST /annotations/search) and the worklists."""
        api = self.connection.api()
        pid = self.project["id"]
        resources = api.projects._request("GET", f"/projects/{pid}/resources").json()
        worklists = api.projects._request("GET", f"/projects/{pid}/worklists").json()
        return self.records_of(resources), worklists

    def records_of(self, resources: Sequence[dict[str, Any]]) -> list[Record]:
        """Records of these resource dicts, with their annotations (POST /annotations/search, paged)."""
        by_resource: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in resources}
        if by_resource:
            body = {"resource_ids": list(by_resource), "load_ai_segmentations": True}
            for item in self.connection.api().annotations._iter_items("/annotations/search", method="POST", body=body,
                                                                       return_field="annotations"):
                by_resource.setdefault(item.get("resource_id"), []).append(item)
        return [Record(r, by_resource[r["id"]]) for r in resources]

    def _resource(self, record: Record) -> Any:
        from datamint.entities.resource import resource_from_dict

        entity = resource_from_dict(record.resource)
        entity._api = self.connection.api().resources
        return entity

    def cached_path(self, record: Record) -> Path | None:
        """The cached file of a resource, without any network access (remembered once found)."""
        found = self._paths.get(record.id)
        if found is None:
            from datamint.entities.cache_manager import version_hash
            from datamint.entities.resource import RESOURCE_CACHE

            r = record.resource  # the same version fields as Resource._version()
            version = version_hash({"created_at": r.get("created_at"), "deleted_at": r.get("deleted_at"),
                                    "size": r.get("size")})
            found = RESOURCE_CACHE.get_path(record.id, version)
            if found is not None:
                self._paths[record.id] = found
        return found

    def resource_path(self, record: Record) -> Path:
        """The local file of a resource, downloaded into the cache when missing."""
        found = self.cached_path(record)
        if found is None:
            resource = self._resource(record)
            resource.fetch_file_data(auto_convert=False, use_cache=True)
            found = resource.filepath_cached
            if found is None:  # pragma: no cover - the cache refused to store it
                raise DatamintDatasetException(f"Cannot cache resource {record.id}")
            self._paths[record.id] = found
        return found

    def mask_path(self, annotation: dict[str, Any]) -> Path:
        """The local file of an annotation's mask, downloaded into the cache when missing."""
        key = f"mask:{annotation['id']}"
        found = self._paths.get(key)
        if found is None:
            from datamint.entities.annotations import annotation_from_dict

            entity = annotation_from_dict(dict(annotation))
            found = entity.filepath_cached
            if found is None:
                entity._api = self.connection.api().annotations
                entity.fetch_file_data(auto_convert=False, use_cache=True)
                found = entity.filepath_cached
            self._paths[key] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def prefetch(self, records: Sequence[Record], include_annotations: bool = True, progress_bar: bool = True) -> None:
        """Download every missing file into the cache (concurrently), then every missing mask (one by one)."""
        from datamint.entities.resource import resource_from_dict

        api = self.connection.api()
        api.resources.cache_resources([resource_from_dict(r.resource) for r in records], progress_bar=progress_bar)
        if include_annotations:
            for record in records:
                for annotation in record.annotations:
                    if kind_of(annotation) == "segmentation" and annotation.get("file"):
                        self.mask_path(annotation)


class VersionSource:
    """An immutable dataset version in a local content-addressed folder.

    Args:
        connection: Server URL and key (``None`` for offline use of what was downloaded).
        folder: Where the version's files and manifests live.
        dataset_id: The dataset, when known (needed to download).
        version: ``'latest'``, a number or a name.
    """

    kind = "version"

    def __init__(self, connection: Connection | None, folder: Path, dataset_id: str | None,
                 version: str | int) -> None:
        self.connection = connection
        self.folder = Path(folder)
        self.dataset_id = dataset_id
        self.version = str(version)
        self.manifest: dict[str, Any] = {}

    # -- manifests -------------------------------------------------------------------------------

    def _manifest_path(self, number: int) -> Path:
        return self.folder / "versions" / f"{number}.json"

    def local_manifests(self) -> list[dict[str, Any]]:
        """Manifests of the versions downloaded into the folder, oldest first."""
        out = []
        for path in sorted((self.folder / "versions").glob("*.json"), key=lambda p: int(p.stem)
                           if p.stem.isdigit() else -1):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return out

    def _local(self) -> dict[str, Any] | None:
        manifests = self.local_manifests()
        if not manifests:
            return None
        if self.version.lower() == "latest":
            return manifests[-1]
        for manifest in manifests:
            version = manifest.get("version") or {}
            if self.version in (str(version.get("number")), str(version.get("name"))):
                return manifest
        return None

    def blob_path(self, sha256: str, suffix: str = "") -> Path:
        """Where the file with this hash is kept.

        Raises:
            DatamintDatasetException: ``sha256`` is not 64 lowercase hex digits (a manifest naming
                files by anything else could place them outside the folder: ``../..``).
        """
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise DatamintDatasetException(f"The version's manifest names a file by an invalid SHA-256 {sha256!r} "
                                           "(expected 64 lowercase hex digits): refusing to store or read it")
        return self.folder / "blobs" / sha256[:2] / f"{sha256}{suffix}"

    @staticmethod
    def resource_suffix(resource: dict[str, Any]) -> str:
        """File extension of a resource (readers and humans like them)."""
        name = str(resource.get("filename") or "").lower()
        for suffix in (".nii.gz", ".nii", ".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mp4", ".avi"):
            if name.endswith(suffix):
                return suffix
        mimetype = str(resource.get("mimetype") or "")
        return {"application/dicom": ".dcm", "application/nifti": ".nii.gz", "image/png": ".png",
                "image/jpeg": ".jpg"}.get(mimetype, "")

    @staticmethod
    def mask_suffix(mask: dict[str, Any]) -> str:
        """File extension of a mask."""
        return ".png" if mask.get("mimetype") == "image/png" else ".nii.gz"

    def wanted_files(self, manifest: dict[str, Any]) -> list[tuple[str, Path, int]]:
        """``(sha256, path, size)`` of every file a version needs."""
        files = {r["sha256"]: (self.blob_path(r["sha256"], self.resource_suffix(r)), int(r.get("size") or -1))
                 for r in manifest.get("resources", [])}
        for annotation in manifest.get("annotations", []):
            mask = annotation.get("mask")
            if mask:
                files[mask["sha256"]] = (self.blob_path(mask["sha256"], self.mask_suffix(mask)),
                                         int(mask.get("size") or -1))
        return [(sha, path, size) for sha, (path, size) in files.items()]

    def missing_files(self, manifest: dict[str, Any], verify: bool = False) -> list[tuple[str, Path]]:
        """Files of a version that are absent, of the wrong size, or (``verify``) of the wrong hash."""
        import hashlib

        missing = []
        for sha, path, size in self.wanted_files(manifest):
            try:
                ok = path.stat().st_size == size or size < 0
            except OSError:
                ok = False
            if ok and verify:
                digest = hashlib.sha256()
                with open(path, "rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
                ok = digest.hexdigest() == sha
            if not ok:
                missing.append((sha, path))
        return missing

    # -- loading ---------------------------------------------------------------------------------

    def _fetch_manifest(self, api: Any) -> dict[str, Any]:
        """The manifest of the version; ``'latest'`` of a dataset that has no version yet freezes
        its current content as its first version (the seed's users never created versions by hand).

        Raises:
            ItemNotFoundError: No such version.
            DatamintDatasetException: ``'latest'`` needs a first version and the caller may not create one.
        """
        try:
            return api.datasets.get_manifest(self.dataset_id, self.version)
        except ItemNotFoundError:
            if self.version.lower() != "latest" or api.datasets.get_versions(self.dataset_id):
                raise
        try:
            created = api.datasets.create_version(
                self.dataset_id, description="Created on first use of version='latest' by a Datamint dataset")
            _LOG.warning("The dataset had no version yet: its current content is now version %s (%r); "
                         "create a new version (api.datasets.create_version) to include later changes",
                         created.number, created.name)
        except EntityAlreadyExistsError:  # another process created one at the same moment: use it
            pass
        except PermissionDeniedError as exc:
            raise DatamintDatasetException(
                "This dataset has no version yet and version='latest' needs one; you may not create it: ask "
                "a manager of the project to run api.datasets.create_version(...), or pass version=None to "
                "read the project as it is now") from exc
        return api.datasets.get_manifest(self.dataset_id, "latest")

    def load(self, download: bool = True, verify: bool = False, progress_bar: bool = True
             ) -> tuple[list[Record], list[dict[str, Any]]]:
        """Resolve the version, fetch its manifest and missing files (``download``), and return the
        records and the worklists of its label schema.

        Raises:
            DatamintDatasetException: The version is not downloaded and ``download`` is False; or
                files are missing.
        """
        if download:
            if self.connection is None or self.dataset_id is None:
                raise DatamintDatasetException("Downloading needs a server connection and a dataset id")
            api = self.connection.api()
            manifest = self._fetch_manifest(api)
            number = int(manifest["version"]["number"])
            path = self._manifest_path(number)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(manifest), encoding="utf-8")
            missing = self.missing_files(manifest, verify)
            if missing:
                api.datasets.download_version_files(self.dataset_id, number, missing, progress_bar=progress_bar)
        else:
            manifest = self._local()
            if manifest is None:
                raise DatamintDatasetException(
                    f"Version {self.version!r} is not downloaded yet in {self.folder}: pass download=True")
            missing = self.missing_files(manifest, verify)
            if missing:
                raise DatamintDatasetException(f"{len(missing)} file(s) of version {self.version!r} are missing or "
                                               f"damaged in {self.folder}: pass download=True to fetch them")
        self.manifest = manifest
        by_resource: dict[str, list[dict[str, Any]]] = {}
        for annotation in manifest.get("annotations", []):
            by_resource.setdefault(annotation["resource_id"], []).append(annotation)
        records = [Record(r, by_resource.get(r["id"], [])) for r in manifest.get("resources", [])]
        return records, list((manifest.get("label_schema") or {}).get("worklists") or [])

    def cached_path(self, record: Record) -> Path | None:
        """The resource's file (always local once loaded)."""
        return self.resource_path(record)

    def resource_path(self, record: Record) -> Path:
        """The resource's file in the folder."""
        return self.blob_path(record.resource["sha256"], self.resource_suffix(record.resource))

    def mask_path(self, annotation: dict[str, Any]) -> Path:
        """The annotation's mask as it was in the version."""
        mask = annotation.get("mask") or {}
        if not mask.get("sha256"):
            raise DatamintDatasetException(f"Annotation {annotation.get('id')} has no mask in this version")
        return self.blob_path(mask["sha256"], self.mask_suffix(mask))

    def prefetch(self, records: Sequence[Record], include_annotations: bool = True, progress_bar: bool = True) -> None:
        """Nothing to do: a version's files are downloaded by :meth:`load`."""

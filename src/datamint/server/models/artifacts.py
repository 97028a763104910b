"""MLflow's artifacts in our blob store: an MLflow ``ArtifactRepository`` over :class:`BlobStore`.

The MLflow artifact proxy (``/api/2.0/mlflow-artifacts/...``) writes and reads through this
repository, so run and model artifacts live beside the platform's other files, in the local
folder or the S3 bucket the server is configured with, under the prefix ``mlflow/``.
"""

from __future__ import annotations

import os
import posixpath

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from datamint.server.storage.base import BlobNotFoundError, BlobStore, InvalidBlobKeyError, validate_key

PREFIX = "mlflow"


class BlobStoreArtifactRepository(ArtifactRepository):
    """Artifacts kept in the server's blob store under ``mlflow/<artifact path>``."""

    def __init__(self, store: BlobStore, prefix: str = PREFIX) -> None:
        super().__init__(f"datamint-blobs:/{prefix}")
        self.store = store
        self.prefix = prefix.strip("/")

    def _key(self, path: str | None) -> str:
        path = (path or "").strip("/")
        key = f"{self.prefix}/{path}" if path else self.prefix
        try:
            return validate_key(key)
        except InvalidBlobKeyError as exc:
            raise MlflowException(f"Invalid artifact path {path!r}: {exc}", INVALID_PARAMETER_VALUE) from exc

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Store one local file under ``artifact_path``."""
        name = os.path.basename(local_file)
        key = self._key(posixpath.join(artifact_path or "", name))
        with open(local_file, "rb") as handle:
            self.store.put(key, handle)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Store every file below ``local_dir`` under ``artifact_path``, keeping the tree."""
        for root, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(root, local_dir)
            sub = artifact_path or ""
            if rel != ".":
                sub = posixpath.join(sub, *rel.split(os.sep))
            for name in files:
                self.log_artifact(os.path.join(root, name), sub or None)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and folders directly under ``path`` (empty for a file or a missing path)."""
        base = self._key(path)
        prefix = base + "/"
        entries: dict[str, FileInfo] = {}
        for key in self.store.list(prefix):
            rest = key[len(prefix):]
            head, sep, _ = rest.partition("/")
            rel = posixpath.join((path or "").strip("/"), head) if path else head
            if sep:
                entries.setdefault(head, FileInfo(rel, True, None))
            else:
                entries[head] = FileInfo(rel, False, self.store.size(key))
        return [entries[name] for name in sorted(entries)]

    def get_local_path(self, artifact_path: str) -> str | None:
        """The file's path when the blob store is a local folder (served directly); else None."""
        key = self._key(artifact_path)
        try:
            return self.store.local_path(key)
        except BlobNotFoundError:
            if any(True for _ in self.store.list(key + "/")):
                return None  # a folder: MLflow downloads it file by file
            raise MlflowException(f"Artifact {artifact_path!r} not found", RESOURCE_DOES_NOT_EXIST) from None

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        key = self._key(remote_file_path)
        try:
            with self.store.open(key) as src, open(local_path, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        except BlobNotFoundError:
            raise MlflowException(f"Artifact {remote_file_path!r} not found", RESOURCE_DOES_NOT_EXIST) from None

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file, or a folder with everything below it."""
        key = self._key(artifact_path)
        for child in list(self.store.list(key + "/")):
            self.store.delete(child)
        if self.store.exists(key):
            self.store.delete(key)

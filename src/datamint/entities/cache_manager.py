"""The on-disk entity cache: ``<data dir>/<namespace>/<entity id>/`` (wire protocol §3.5).

Each entity folder holds one data file (``image_data<ext>`` for resources) and ``metadata.json``
with the *version hash* of the entity it was saved for: the SHA-256 of the JSON (sorted keys) of
fields that change whenever the server's bytes change (for resources ``created_at``,
``deleted_at`` and ``size``). A cached file whose hash differs from the entity's current one is
stale and is never served.

Writes are atomic (temporary file + rename), so a crash or a concurrent writer never leaves a
half-written file that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datamint import configs

METADATA_FILE = "metadata.json"


def version_hash(info: dict[str, Any]) -> str:
    """The SHA-256 hex digest of ``info`` serialised as JSON with sorted keys.

    Args:
        info: The version-defining fields, e.g. ``{"created_at": ..., "deleted_at": ..., "size": ...}``.

    Returns:
        64 hex characters.
    """
    return hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class CacheManager:
    """Stores and validates cached data of one kind of entity.

    Args:
        namespace: Folder under the data root, e.g. ``"resources"``.
        data_key: Stem of the data file name, e.g. ``"image_data"``.
        root: Data root; :func:`datamint.configs.data_dir` when omitted.

    Example:
        >>> cache = CacheManager("resources", "image_data")
        >>> cache.save(resource_id, version_hash(info), raw_bytes, suffix=".dcm")
        >>> cache.get_path(resource_id, version_hash(info))
    """

    def __init__(self, namespace: str, data_key: str, root: Path | None = None) -> None:
        self.namespace = namespace
        self.data_key = data_key
        self._root = root

    @property
    def root(self) -> Path:
        """The namespace folder (resolved at call time so ``DATAMINT_DATA_DIR`` changes apply)."""
        return (self._root or configs.data_dir()) / self.namespace

    def entity_dir(self, entity_id: str) -> Path:
        """Folder of one entity's cached data."""
        if not entity_id or "/" in entity_id or "\\" in entity_id or entity_id in (".", ".."):
            raise ValueError(f"Invalid entity id for the cache: {entity_id!r}")
        return self.root / entity_id

    def _metadata(self, entity_id: str) -> dict[str, Any] | None:
        try:
            with open(self.entity_dir(entity_id) / METADATA_FILE, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def get_path(self, entity_id: str, version: str) -> Path | None:
        """The cached data file when it exists and was saved for ``version``; otherwise ``None``."""
        meta = self._metadata(entity_id)
        if not meta or meta.get("version_hash") != version:
            return None
        path = self.entity_dir(entity_id) / str(meta.get("data_file", ""))
        return path if meta.get("data_file") and path.is_file() else None

    def get_metadata(self, entity_id: str) -> dict[str, Any] | None:
        """The stored ``metadata.json`` of an entity, if any."""
        return self._metadata(entity_id)

    def load(self, entity_id: str, version: str) -> bytes | None:
        """The cached bytes for ``version``, or ``None`` when missing or stale."""
        path = self.get_path(entity_id, version)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def save(self, entity_id: str, version: str, data: bytes | Path, suffix: str = "",
             extra: dict[str, Any] | None = None) -> Path:
        """Store data for an entity (replacing any older version) and return the data file's path.

        Args:
            entity_id: The entity's id.
            version: Its current version hash.
            data: The bytes, or a finished file to move into the cache.
            suffix: Extension of the data file, e.g. ``".dcm"``.
            extra: More fields for ``metadata.json`` (e.g. ``mimetype``).
        """
        folder = self.entity_dir(entity_id)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.data_key}{suffix}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            if isinstance(data, Path):
                os.close(fd)
                shutil.move(str(data), tmp)
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        meta = {"entity_id": entity_id, "version_hash": version, "data_file": name,
                "saved_at": datetime.now(timezone.utc).isoformat(), **(extra or {})}
        self._write_metadata(folder, meta)
        for old in folder.iterdir():
            if old.name not in (name, METADATA_FILE) and old.name.startswith(self.data_key):
                old.unlink(missing_ok=True)
        return folder / name

    @staticmethod
    def _write_metadata(folder: Path, meta: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-meta-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1, sort_keys=True)
        os.replace(tmp, folder / METADATA_FILE)

    def invalidate(self, entity_id: str) -> None:
        """Delete everything cached for an entity."""
        shutil.rmtree(self.entity_dir(entity_id), ignore_errors=True)

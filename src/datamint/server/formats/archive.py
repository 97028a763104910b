"""The export's zip archive (written to a temporary file on disk, then stored as one blob) and the
pieces every writer shares: the plan of the export and the reading of stored masks."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from datamint.server.formats.geometry import ResourceGeometry
from datamint.server.formats.source import ResourceInfo
from datamint.server.storage.base import BlobStore

PNG = "image/png"


class Archive:
    """A zip being written to a temporary file; members are streamed, never held whole.

    Aggregate files that grow resource by resource (a COCO JSON per split) are spooled to their
    own temporary files (:meth:`spool`) and copied in at :meth:`close`.
    """

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="datamint-export-", suffix=".zip")
        os.close(handle)
        self.zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._spools: dict[str, IO[str]] = {}
        self.members = 0

    def write(self, name: str, data: bytes | str) -> None:
        """Add a member."""
        self.zip.writestr(name, data)
        self.members += 1

    def spool(self, name: str) -> IO[str]:
        """A text file that becomes member ``name`` at :meth:`close` (created on first use)."""
        if name not in self._spools:
            self._spools[name] = tempfile.TemporaryFile("w+", encoding="utf-8")
        return self._spools[name]

    def has_spool(self, name: str) -> bool:
        """Whether :meth:`spool` was called for ``name``."""
        return name in self._spools

    def drop_spool(self, name: str) -> None:
        """Forget a spool that is not a member (a part copied into another one)."""
        spool = self._spools.pop(name, None)
        if spool is not None:
            spool.close()

    def close(self) -> int:
        """Copy the spools in and finish the zip; its size in bytes."""
        for name, spool in self._spools.items():
            spool.seek(0)
            with self.zip.open(name, "w", force_zip64=True) as out:
                reader = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
                shutil.copyfileobj(spool, reader, 1 << 20)
                reader.flush()
                reader.detach()
            spool.close()
            self.members += 1
        self._spools.clear()
        self.zip.close()
        return os.path.getsize(self.path)

    def discard(self) -> None:
        """Remove the temporary files."""
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        try:
            self.zip.close()
        except Exception:  # already closed or half written: the file goes anyway
            pass
        if os.path.exists(self.path):
            os.unlink(self.path)


@dataclass
class Plan:
    """What every writer of one export knows.

    Attributes:
        labels: Every label of the export, sorted; class ids follow this order (COCO and label
            maps from 1, YOLO from 0).
        splits: Resource id → split name (empty: no split).
        options: The export's format options.
        store: The blob store (masks, DICOM sources).
        geometry: Loads a resource's geometry (cached by the caller).
        log: Appends a line to the job's log.
    """

    labels: list[str]
    splits: dict[str, str]
    options: dict[str, Any]
    store: BlobStore
    geometry: Callable[[ResourceInfo], ResourceGeometry]
    log: Callable[[str], None]
    skipped: dict[str, int] = field(default_factory=dict)
    written: int = 0

    def class_id(self, label: str, start: int = 1) -> int:
        """The class id of ``label``."""
        return self.labels.index(label) + start

    def split_of(self, resource: ResourceInfo) -> str | None:
        """The resource's split name, or ``None`` without a split."""
        return self.splits.get(resource.id) if self.splits else None

    def skip(self, why: str, count: int = 1) -> None:
        """Count annotations left out, by reason (logged once at the end)."""
        self.skipped[why] = self.skipped.get(why, 0) + count


def read_frame_mask(data: bytes) -> np.ndarray:
    """A stored PNG mask as a boolean ``(rows, columns)`` array (non-zero = the label)."""
    from datamint.imaging.render import open_image

    with open_image(data) as image:  # its size checked against the decoded-size limits first
        array = np.asarray(image)
    if array.ndim == 3:
        array = array[..., :3].any(axis=-1) if array.shape[-1] >= 3 else array[..., 0]
    return array != 0


def _quick_volume(data: bytes) -> np.ndarray | None:
    """The voxels of a plain NIfTI-1 file (what the server stores for masks), read straight from
    its bytes: a tenth of nibabel's full load. ``None`` for anything else."""
    import gzip

    import nibabel

    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    if len(raw) < 352 or int.from_bytes(raw[:4], "little") != 348:
        return None
    header = nibabel.Nifti1Header.from_fileobj(io.BytesIO(raw[:352]), check=False)
    shape, offset = header.get_data_shape(), int(header.get_data_offset())
    if not 2 <= len(shape) <= 3 or offset + int(np.prod(shape)) * header.get_data_dtype().itemsize > len(raw):
        return None
    return np.frombuffer(raw, dtype=header.get_data_dtype(), count=int(np.prod(shape)),
                         offset=offset).reshape(shape, order="F")


def read_volume_mask(data: bytes) -> np.ndarray:
    """A stored NIfTI mask as a boolean ``(columns, rows, frames)`` array."""
    from datamint.imaging.nifti_io import load_nifti

    array = _quick_volume(data)
    if array is None:
        array = np.asanyarray(load_nifti(data).dataobj)
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., np.newaxis]
    return array != 0


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

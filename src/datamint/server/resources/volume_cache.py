"""A disk cache of decoded volumes, so a viewer scrolling a volume does not decode it per slice.

Two kinds of resources would otherwise be read whole for every slice a viewer asks for:

* a gzip-compressed NIfTI (``.nii.gz``): gzip cannot seek, so each slice decompressed the file
  up to that slice. The cache keeps the decompressed ``.nii``, which nibabel memory-maps;
* the sagittal and coronal planes of a DICOM series: each crosses every frame. The cache keeps
  the frames decoded once in modality units (:func:`datamint.imaging.volume.write_dicom_volume`).

Entries live under ``<data_dir>/cache/volumes``, named by the resource's blob key and size (a blob
is never rewritten under its key). They are written to a temporary name and renamed into place,
so several server processes can share the folder (two may build the same entry at once: the last
rename wins, both are identical). Within a process, one lock per entry makes concurrent requests
wait for one build. The folder is kept under ``volume_cache_mb``: the least recently used entries
are deleted after each build.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datamint.imaging.errors import CorruptFileError
from datamint.imaging.limits import check_decoded_bytes, current_limits
from datamint.imaging.nifti_io import check_nifti_size, read_nifti_header
from datamint.imaging.volume import DicomFrames, write_dicom_volume
from datamint.server.resources.frames import local_copy
from datamint.server.resources.models import Resource
from datamint.server.storage.base import BlobStore

_GZIP_MAGIC = b"\x1f\x8b"


class VolumeCache:
    """Decoded volumes on disk, bounded in size (see the module docstring).

    Args:
        folder: Where the entries live (created when needed).
        max_bytes: The folder's size above which least recently used entries are deleted.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._geometries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._frames: OrderedDict[str, DicomFrames] = OrderedDict()

    def frames(self, store: BlobStore, resource: Resource) -> DicomFrames | None:
        """A frame reader of the resource's DICOM, its header parsed once per process (the last 16
        are kept), or ``None`` when the store has no local file to read from (then each frame
        is read the slow way, from a copy).

        Raises:
            UnsupportedFormatError: Colour data or a Modality LUT sequence.
            CorruptFileError: The header cannot be read.
        """
        path = store.local_path(resource.location)
        if path is None:
            return None
        key = f"{self._name(resource, '')}/{current_limits()}"
        with self._guard:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        reader = DicomFrames(path)
        with self._guard:
            self._frames[key] = reader
            while len(self._frames) > 16:
                self._frames.popitem(last=False)
        return reader

    def geometry(self, resource: Resource, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The resource's slice geometry, computed once per process (the last 64 are kept).

        A series' slice requests need it to know its planes; reading a 2,000-frame header for each
        would cost more than the slice. It is kept per decoded-size limits: computing it checks
        them, so limits lowered later apply to the files already seen.
        """
        key = f"{self._name(resource, '')}/{current_limits()}"  # limits lowered later apply again
        with self._guard:
            if key in self._geometries:
                self._geometries.move_to_end(key)
                return self._geometries[key]
        value = compute()
        with self._guard:
            self._geometries[key] = value
            while len(self._geometries) > 64:
                self._geometries.popitem(last=False)
        return value

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    @staticmethod
    def _name(resource: Resource, suffix: str) -> str:
        digest = hashlib.sha256(f"{resource.location}\0{resource.size}".encode()).hexdigest()[:32]
        return f"{digest}{suffix}"

    def _entry(self, name: str, build: Callable[[str], None]) -> Path:
        path = self.folder / name
        if path.exists():
            with contextlib.suppress(OSError):
                os.utime(path)  # most recently used
            return path
        with self._lock(name):
            if path.exists():
                return path
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=path.suffix, dir=self.folder)
            os.close(fd)
            try:
                build(tmp)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        self._trim(keep=path)
        return path

    def _trim(self, keep: Path) -> None:
        entries = []
        for entry in self.folder.iterdir():
            if entry.name.startswith(".build-"):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat()
                entries.append((stat.st_mtime, stat.st_size, entry))
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if entry == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()  # an open memory map keeps its data until it is closed
            total -= size

    @contextlib.contextmanager
    def nifti_path(self, store: BlobStore, resource: Resource):  # type: ignore[no-untyped-def]
        """A path to the resource's NIfTI, uncompressed (the cached copy when it is gzipped).

        Yields:
            A local path nibabel can memory-map.

        Raises:
            BlobNotFoundError: The stored file is missing.
            CorruptFileError: The gzip stream is damaged or truncated.
        """
        with local_copy(store, resource.location) as path:
            with open(path, "rb") as probe:
                compressed = probe.read(2) == _GZIP_MAGIC
            if not compressed:
                yield path
                return

            def build(tmp: str) -> None:
                # never inflate more than the header announces (and the limits allow): a gzip bomb
                # stops at the limit instead of filling the disk
                header = read_nifti_header(path)
                cap = check_nifti_size(header) + int(header.get_data_offset() or 352) + (1 << 20)
                written = 0
                try:
                    with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            written += len(chunk)
                            if written > cap:
                                check_decoded_bytes(written, "the decompressed NIfTI")
                                break  # within the limits but longer than announced: the announced part is enough
                            dst.write(chunk)
                except (OSError, EOFError, zlib.error) as exc:
                    raise CorruptFileError(f"cannot decompress the NIfTI ({exc}); the file may be truncated") from exc

            yield str(self._entry(self._name(resource, ".nii"), build))

    def dicom_volume(self, store: BlobStore, resource: Resource) -> Path:
        """The ``.npy`` volume ``(frames, rows, columns)`` of a greyscale DICOM, built once.

        Raises:
            BlobNotFoundError: The stored file is missing.
            UnsupportedFormatError: Colour data or undecodable pixels.
            CorruptFileError: The file cannot be read.
        """
        def build(tmp: str) -> None:
            with local_copy(store, resource.location) as path:
                write_dicom_volume(path, tmp)

        return self._entry(self._name(resource, ".npy"), build)

"""A blob store kept in a local folder, with atomic writes (temp file + fsync + rename)."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from datamint.server.common.files import (
    MARKER,
    PRIVATE_DIR,
    PRIVATE_FILE,
    make_tree_private,
    private_dir,
    sweep_old_files,
)

from .base import (
    DEFAULT_CHUNK_SIZE,
    BlobData,
    BlobNotFoundError,
    InvalidBlobKeyError,
    check_range,
    iter_source_chunks,
    validate_key,
    validate_prefix,
)

__all__ = ["TMP_DIR_NAME", "LocalBlobStore"]

logger = logging.getLogger(__name__)

TMP_DIR_NAME = ".tmp"
"""Folder under the root that holds in-progress writes; reserved, never a key's first segment."""

_TMP_SUFFIX = ".part"
_MISSING_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


@functools.cache
def _umask_strips_owner_bits() -> bool:
    """Whether this process's umask (read once, from ``/proc``) takes any of the owner's bits away.

    A umask only ever removes bits, so ``mkdir(path, 0o700)`` never makes a folder more open than
    ``0700``; only a umask with owner bits would leave it less (unusable by the server itself),
    which a ``chmod`` repairs. Where the umask cannot be read, assume it does.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return bool(int(line.split()[1], 8) & 0o700)
    except (OSError, ValueError):
        pass
    return True


def _make_parent(folder: Path) -> None:
    """Create a blob's folder (``0700``) when missing: one ``mkdir`` when only the last folder is
    new (each resource has its own), :func:`private_dir` when more are."""
    try:
        os.mkdir(folder, PRIVATE_DIR)
    except FileExistsError:
        return
    except FileNotFoundError:
        private_dir(folder)
        return
    if _umask_strips_owner_bits():
        os.chmod(folder, PRIVATE_DIR)


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk so a rename survives a crash (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blob store backed by a folder: key ``"a/b/c"`` is the file ``<root>/a/b/c``.

    Writes go to a temp file in ``<root>/.tmp`` (same filesystem), are fsynced and then
    moved into place with :func:`os.replace`, so readers never see a partial object. Temp
    files left by a crash are removed when a store is created, once older than
    ``stale_tmp_age`` seconds (younger ones may belong to another live process). Files are
    ``0600`` and folders ``0700`` (patient data: the server's user only); a store created before
    that rule has its files fixed on first start.

    Args:
        root: Folder holding the blobs; created if missing.
        stale_tmp_age: Age in seconds after which a leftover temp file is deleted on start.

    Example:
        >>> store = LocalBlobStore("/var/lib/datamint/blobs")
        >>> store.put("org/1/resources/2/original", b"DICM...")
        7
    """

    def __init__(self, root: str | Path, *, stale_tmp_age: float = 3600.0) -> None:
        self.root = Path(root).expanduser().resolve()
        self._tmp_dir = self.root / TMP_DIR_NAME
        private_dir(self._tmp_dir)
        make_tree_private(self.root, self._tmp_dir / MARKER)  # installs from before private modes: fixed once
        self.remove_stale_temp_files(stale_tmp_age)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    # -- helpers -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == TMP_DIR_NAME:
            raise InvalidBlobKeyError(key, f"'{TMP_DIR_NAME}' is reserved for in-progress writes")
        return self.root.joinpath(*key.split("/"))

    def remove_stale_temp_files(self, max_age: float = 3600.0) -> int:
        """Delete temp files older than ``max_age`` seconds, left behind by crashed writes.

        Args:
            max_age: Minimum age in seconds (by modification time) of the files to delete.

        Returns:
            The number of files deleted.
        """
        return sweep_old_files(self._tmp_dir, max_age, _TMP_SUFFIX)

    def _prune_empty_dirs(self, start: Path) -> None:
        """Remove empty folders from ``start`` up to (not including) the root."""
        current = start
        while current != self.root and self.root in current.parents:
            try:
                current.rmdir()
            except OSError:
                return  # not empty, already gone, or busy: stop here
            current = current.parent

    # -- BlobStore -----------------------------------------------------------------------

    def put(self, key: str, data: BlobData) -> int:
        """Store ``data`` under ``key`` atomically; see :meth:`BlobStore.put`.

        Raises (besides the contract's):
            OSError: If the file cannot be written (e.g. the disk is full).
        """
        dest = self._path(key)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir, suffix=_TMP_SUFFIX)
        try:
            size = 0
            with os.fdopen(fd, "wb") as tmp:
                for chunk in iter_source_chunks(data, DEFAULT_CHUNK_SIZE):
                    tmp.write(chunk)
                    size += len(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, PRIVATE_FILE)  # patient data: the server's user only
            self._move_into_place(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        return size

    @property
    def spool_dir(self) -> str:
        """A folder on the store's filesystem where callers may build files for :meth:`adopt`."""
        return str(self._tmp_dir)

    def adopt(self, key: str, path: str) -> int:
        """Store a finished file under ``key`` by moving it into place (no copy).

        The file must lie in :attr:`spool_dir` (same filesystem); it is flushed to disk, then
        renamed atomically, so readers never see a partial object. It no longer exists at ``path``
        afterwards.

        Args:
            key: Destination key.
            path: The finished file, inside :attr:`spool_dir`.

        Returns:
            The number of bytes stored.

        Raises:
            InvalidBlobKeyError: If ``key`` is malformed.
            ValueError: If ``path`` is not inside :attr:`spool_dir`.
        """
        dest = self._path(key)
        source = os.path.abspath(path)
        if os.path.dirname(source) != self.spool_dir:
            raise ValueError(f"adopt() takes files from {self._tmp_dir}, not {source}")
        # one open, no buffered reader and no path walk: each system call of a store thread gives
        # the interpreter lock away, and on a busy server taking it back costs a wait each time
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)  # a link is not a spooled file
        try:
            os.fsync(fd)
            status = os.fstat(fd)
            if stat.S_IMODE(status.st_mode) != PRIVATE_FILE:  # spooled by mkstemp: 0600 already
                os.fchmod(fd, PRIVATE_FILE)
        finally:
            os.close(fd)
        self._move_into_place(source, dest)
        return status.st_size

    def _move_into_place(self, tmp_name: str, dest: Path) -> None:
        """Rename a finished temp file to ``dest``, creating parent folders as needed."""
        for attempt in range(3):
            try:
                _make_parent(dest.parent)
                os.replace(tmp_name, dest)
                break
            except FileNotFoundError:
                # A concurrent delete pruned the freshly created parent folder: try again.
                if attempt == 2:
                    raise
        _fsync_dir(dest.parent)

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading; see :meth:`BlobStore.open`."""
        path = self._path(key)
        try:
            return open(path, "rb")  # the caller owns (and closes) the stream
        except OSError as exc:
            if exc.errno in _MISSING_ERRNOS:
                raise BlobNotFoundError(key) from None
            raise

    def get(self, key: str) -> bytes:
        """Return the whole object; see :meth:`BlobStore.get`."""
        with self.open(key) as fh:
            return fh.read()

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the object in chunks; see :meth:`BlobStore.iter_chunks`."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        fh = self.open(key)

        def generate() -> Iterator[bytes]:
            with fh:
                yield from iter_source_chunks(fh, chunk_size)

        return generate()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` of the object; see :meth:`BlobStore.get_range`."""
        check_range(start, end)
        with self.open(key) as fh:
            fh.seek(start)
            return fh.read(end - start)

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object; see :meth:`BlobStore.exists`."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Return the object's size in bytes; see :meth:`BlobStore.size`."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFoundError(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        """Delete the object and any folders left empty; see :meth:`BlobStore.delete`."""
        path = self._path(key)
        try:
            path.unlink()
        except OSError as exc:
            if exc.errno in _MISSING_ERRNOS or isinstance(exc, PermissionError) and path.is_dir():
                return
            raise
        self._prune_empty_dirs(path.parent)

    def list(self, prefix: str = "") -> Iterator[str]:
        """List keys starting with ``prefix`` in sorted order; see :meth:`BlobStore.list`."""
        validate_prefix(prefix)
        head = prefix.rpartition("/")[0]
        if head.split("/", 1)[0] == TMP_DIR_NAME:
            return iter(())
        base = self.root.joinpath(*head.split("/")) if head else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            if rel_dir == ".":
                rel_dir = ""
                dirnames[:] = [d for d in dirnames if d != TMP_DIR_NAME]
            for name in filenames:
                key = f"{rel_dir}/{name}" if rel_dir else name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return iter(keys)

    def local_path(self, key: str) -> str | None:
        """Return the absolute path of the object's file; see :meth:`BlobStore.local_path`."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFoundError(key)
        return str(path)

    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy an object atomically; see :meth:`BlobStore.copy`."""
        self._path(dst_key)
        if src_key == dst_key:
            self.size(src_key)  # still report a missing source
            return
        with self.open(src_key) as src:
            self.put(dst_key, src)

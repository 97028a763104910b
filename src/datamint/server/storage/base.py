"""The blob store contract shared by every storage backend.

A blob store maps *keys* to immutable byte strings. Keys are ``/``-separated relative
paths such as ``"org/<uuid>/resources/<uuid>/original"``; every backend checks them with
:func:`validate_key`, so a key accepted by one backend is accepted by all.

Exceptions::

    KeyError
     └── BlobNotFoundError        the key holds no object
    ValueError
     └── InvalidBlobKeyError      the key is malformed (absolute, "..", "a//b", ...)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "BlobData",
    "BlobNotFoundError",
    "BlobStore",
    "InvalidBlobKeyError",
    "check_range",
    "iter_source_chunks",
    "validate_key",
    "validate_prefix",
]

DEFAULT_CHUNK_SIZE = 1 << 20
"""Chunk size used when streaming data in or out of a store (1 MiB)."""

MAX_KEY_BYTES = 1024
"""Longest key accepted, in UTF-8 bytes (the S3 limit)."""

MAX_SEGMENT_BYTES = 255
"""Longest key segment accepted, in UTF-8 bytes (the usual file-name limit)."""

BlobData = bytes | bytearray | memoryview | BinaryIO
"""What :meth:`BlobStore.put` accepts: a bytes-like object or a readable binary stream."""


class BlobNotFoundError(KeyError):
    """Raised when a key holds no object.

    Attributes:
        key: The key that was looked up.
    """

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"Blob not found: {self.key!r}"


class InvalidBlobKeyError(ValueError):
    """Raised when a key is malformed.

    Attributes:
        key: The rejected key.
        reason: Why it was rejected.
    """

    def __init__(self, key: object, reason: str) -> None:
        super().__init__(f"Invalid blob key {key!r}: {reason}")
        self.key = key
        self.reason = reason


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative ``/``-separated path and return it unchanged.

    Rejected: non-strings, the empty string, absolute keys (leading ``/``), empty segments
    (``a//b``, a trailing ``/``), ``.`` and ``..`` segments, backslashes, NUL and other ASCII
    control characters, segments over 255 UTF-8 bytes and keys over 1024 UTF-8 bytes.

    Args:
        key: The key to check.

    Returns:
        The same key, so the call can be used inline.

    Raises:
        InvalidBlobKeyError: If the key is rejected; the message says why.

    Example:
        >>> validate_key("org/1/resources/2/original")
        'org/1/resources/2/original'
    """
    if not isinstance(key, str):
        raise InvalidBlobKeyError(key, "keys must be strings")
    if not key:
        raise InvalidBlobKeyError(key, "the key is empty")
    if key.startswith("/"):
        raise InvalidBlobKeyError(key, "keys are relative and must not start with '/'")
    if "\\" in key:
        raise InvalidBlobKeyError(key, "backslashes are not allowed; separate segments with '/'")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidBlobKeyError(key, "NUL and other control characters are not allowed")
    try:
        encoded_len = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidBlobKeyError(key, "the key is not valid Unicode (lone surrogate)") from None
    if encoded_len > MAX_KEY_BYTES:
        raise InvalidBlobKeyError(key, f"the key is longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidBlobKeyError(key, "empty path segments ('a//b', trailing '/') are not allowed")
        if segment in (".", ".."):
            raise InvalidBlobKeyError(key, f"'{segment}' segments are not allowed")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidBlobKeyError(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """Check a listing prefix and return it unchanged.

    A prefix is any leading part of a key: ``""``, ``"org/1/"`` and ``"org/1/res"`` are all
    valid. Everything before its last ``/`` must be a valid key.

    Args:
        prefix: The prefix to check.

    Returns:
        The same prefix.

    Raises:
        InvalidBlobKeyError: If no valid key could start with ``prefix``.
    """
    if prefix == "":
        return prefix
    if not isinstance(prefix, str):
        raise InvalidBlobKeyError(prefix, "prefixes must be strings")
    head, _, tail = prefix.rpartition("/")
    if head:
        validate_key(head)
    elif prefix.startswith("/"):
        raise InvalidBlobKeyError(prefix, "prefixes are relative and must not start with '/'")
    if tail:
        # The tail is a partial segment: check its characters, not its completeness.
        validate_key(f"x{tail}")
    return prefix


def check_range(start: int, end: int) -> None:
    """Check the bounds given to :meth:`BlobStore.get_range`.

    Args:
        start: First byte offset (inclusive).
        end: Stop offset (exclusive).

    Raises:
        ValueError: If ``start`` is negative or ``end`` is smaller than ``start``.
    """
    if start < 0 or end < start:
        raise ValueError(f"Invalid byte range [{start}, {end}): need 0 <= start <= end")


def iter_source_chunks(data: BlobData, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the content of ``data`` in chunks of at most ``chunk_size`` bytes.

    File-like objects are read with ``read(chunk_size)`` until they return ``b""``; they are
    never read whole.

    Args:
        data: Bytes-like object or readable binary stream.
        chunk_size: Largest chunk to read at once.

    Yields:
        Non-empty byte strings.

    Raises:
        TypeError: If ``data`` is neither bytes-like nor readable.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset : offset + chunk_size])
        return
    read = getattr(data, "read", None)
    if read is None:
        raise TypeError(f"put() needs bytes or a readable binary file object, not {type(data).__name__}")
    while True:
        chunk = read(chunk_size)
        if not chunk:
            return
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError("put() needs a binary file object; read() returned text")
        yield bytes(chunk)


@runtime_checkable
class BlobStore(Protocol):
    """Synchronous key → bytes storage used by the server for every uploaded file.

    Implementations: :class:`~datamint.server.storage.local.LocalBlobStore` (a folder) and
    :class:`~datamint.server.storage.s3.S3BlobStore` (S3 or any S3-compatible server).
    Every method validates its keys with :func:`validate_key` and raises
    :class:`InvalidBlobKeyError` for malformed ones.

    This class is the one statement of the contract: the backends' methods say only how they
    fulfil it (and what they raise besides), and ``tests/server/test_blob_store.py`` runs the same
    contract tests against every backend.
    """

    def put(self, key: str, data: BlobData) -> int:
        """Store ``data`` under ``key`` atomically, replacing any existing object.

        Readers see either the old object or the complete new one, never a partial one; if
        the write fails (including when ``data.read()`` raises), nothing is left behind and
        any previous object is kept. File objects are streamed in chunks, not read whole.

        Args:
            key: Destination key.
            data: Bytes-like object or readable binary stream (read from its current position).

        Returns:
            The number of bytes stored.

        Raises:
            InvalidBlobKeyError: If ``key`` is malformed.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading.

        Args:
            key: Key to read.

        Returns:
            A readable binary stream; the caller closes it (use it as a context manager).

        Raises:
            BlobNotFoundError: If ``key`` holds no object.
        """
        ...

    def get(self, key: str) -> bytes:
        """Return the whole object.

        Args:
            key: Key to read.

        Returns:
            The object's bytes.

        Raises:
            BlobNotFoundError: If ``key`` holds no object.
        """
        ...

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the object in chunks, e.g. for a streaming HTTP response.

        The object is opened before this method returns, so a missing key raises here and
        not on the first ``next()``.

        Args:
            key: Key to read.
            chunk_size: Largest chunk yielded.

        Returns:
            An iterator over non-empty chunks whose concatenation is the object.

        Raises:
            BlobNotFoundError: If ``key`` holds no object.
        """
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` of the object, like ``get(key)[start:end]``.

        Args:
            key: Key to read.
            start: First byte offset (inclusive, ``>= 0``).
            end: Stop offset (exclusive, ``>= start``); clipped to the object's size.

        Returns:
            The requested bytes; ``b""`` if ``start`` is at or past the end.

        Raises:
            BlobNotFoundError: If ``key`` holds no object.
            ValueError: If the bounds are invalid.
        """
        ...

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object.

        Args:
            key: Key to check.

        Returns:
            True if the object exists.
        """
        ...

    def size(self, key: str) -> int:
        """Return the object's size in bytes.

        Args:
            key: Key to check.

        Returns:
            The size in bytes.

        Raises:
            BlobNotFoundError: If ``key`` holds no object.
        """
        ...

    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing key is not an error.

        Args:
            key: Key to delete.
        """
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """List keys that start with ``prefix`` (a plain string prefix, as in S3).

        Args:
            prefix: Leading part of the keys to list; ``""`` lists everything.

        Returns:
            An iterator over matching keys in sorted order.
        """
        ...

    def local_path(self, key: str) -> str | None:
        """Return a filesystem path for the object when the backend is local.

        Lets the server answer with ``FileResponse`` / ``sendfile``. The path is read-only
        for callers: write through :meth:`put`.

        Args:
            key: Key to locate.

        Returns:
            An absolute path to an existing file, or None for remote backends.

        Raises:
            BlobNotFoundError: If the backend is local and ``key`` holds no object.
        """
        ...

    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy an object to another key atomically, replacing any object there.

        Args:
            src_key: Key to copy from.
            dst_key: Key to copy to.

        Raises:
            BlobNotFoundError: If ``src_key`` holds no object.
        """
        ...

"""A blob store on S3 or any S3-compatible server (MinIO, Ceph, moto), through boto3.

boto3 is an optional dependency (the ``s3`` extra); it is imported when a store is created.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from .base import (
    DEFAULT_CHUNK_SIZE,
    BlobData,
    BlobNotFoundError,
    check_range,
    iter_source_chunks,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

__all__ = ["MISSING_EXTRA_MESSAGE", "S3BlobStore"]

MISSING_EXTRA_MESSAGE = "S3 storage needs the 's3' extra: pip install 'datamint[s3]'"

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest multipart part


def _error_code(exc: ClientError) -> str:
    """Return the S3 error code of a botocore ``ClientError`` (e.g. ``"NoSuchKey"``)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class _CountingReader:
    """Read-only, non-seekable view of a source that counts the bytes handed out."""

    def __init__(self, data: BlobData) -> None:
        self._chunks = iter_source_chunks(data, DEFAULT_CHUNK_SIZE)
        self._buffer = b""
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._buffer, *self._chunks]
            self._buffer = b""
        else:
            parts = [self._buffer]
            have = len(self._buffer)
            while have < size:
                chunk = next(self._chunks, b"")
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            joined = b"".join(parts)
            parts, self._buffer = [joined[:size]], joined[size:]
        out = b"".join(parts)
        self.count += len(out)
        return out


class S3BlobStore:
    """Blob store in an S3 bucket: key ``"a/b"`` is the object ``<prefix>/a/b``.

    Uploads go through boto3's managed transfer: small objects in one ``PutObject``, large
    ones as a multipart upload that S3 only assembles once every part has arrived (and that
    is aborted on failure), so readers never see a partial object.

    Credentials come from ``access_key``/``secret_key`` when given, else from boto3's usual
    chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, instance roles).

    Args:
        bucket: Bucket name.
        prefix: Key prefix inside the bucket (``"datamint/blobs"``); ``""`` for none.
        endpoint_url: URL of an S3-compatible server, e.g. ``"http://127.0.0.1:9000"``;
            None for AWS. Path-style addressing is used when it is set.
        region: AWS region name; None for boto3's default.
        access_key: Access key id; must be given together with ``secret_key``.
        secret_key: Secret access key.
        create_bucket: Create the bucket if it does not exist.
        part_size: Multipart threshold and part size in bytes (at least 5 MiB).

    Raises:
        ImportError: If boto3 is not installed (the message says which extra to install).
        ValueError: If the arguments are inconsistent.

    Example:
        >>> store = S3BlobStore("datamint", endpoint_url="http://127.0.0.1:9000")
        >>> store.put("org/1/resources/2/original", b"DICM...")
        7
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        create_bucket: bool = False,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
            from botocore.exceptions import ClientError
        except ImportError:
            raise ImportError(MISSING_EXTRA_MESSAGE) from None

        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        if (access_key is None) != (secret_key is None):
            raise ValueError(
                "Give both access_key and secret_key, or neither to use the AWS credential chain"
            )
        if part_size < _MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {_MIN_PART_SIZE} bytes (S3's minimum part size)")
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)

        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url
        self._client_error = ClientError
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
        if create_bucket:
            self._ensure_bucket(region or session.region_name)

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"{type(self).__name__}({self.bucket!r}, prefix={self.prefix!r}{where})"

    # -- helpers -------------------------------------------------------------------------

    def _ensure_bucket(self, region: str | None) -> None:
        """Create the bucket unless it exists already."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except self._client_error as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**kwargs)
        except self._client_error as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _get_object(self, key: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return cast("dict[str, Any]", self._client.get_object(Bucket=self.bucket, Key=key, **kwargs))
        except self._client_error as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFoundError(key.removeprefix(self.prefix)) from None
            raise

    # -- BlobStore -----------------------------------------------------------------------

    def put(self, key: str, data: BlobData) -> int:
        """Store ``data`` under ``key`` atomically; see :meth:`BlobStore.put`.

        Raises (besides the contract's):
            botocore.exceptions.ClientError: If S3 refuses the upload.
        """
        object_key = self._object_key(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            source: Any = io.BytesIO(data)
            size = memoryview(data).nbytes
            self._client.upload_fileobj(source, self.bucket, object_key, Config=self._transfer)
            return size
        reader = _CountingReader(data)
        self._client.upload_fileobj(reader, self.bucket, object_key, Config=self._transfer)
        return reader.count

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading; see :meth:`BlobStore.open`."""
        return cast(BinaryIO, self._get_object(self._object_key(key))["Body"])

    def get(self, key: str) -> bytes:
        """Return the whole object; see :meth:`BlobStore.get`."""
        with self.open(key) as body:
            return body.read()

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the object in chunks; see :meth:`BlobStore.iter_chunks`."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        body = self._get_object(self._object_key(key))["Body"]

        def generate() -> Iterator[bytes]:
            with body:
                for chunk in body.iter_chunks(chunk_size):
                    if chunk:
                        yield chunk

        return generate()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` with an HTTP ``Range`` request; see :meth:`BlobStore.get_range`."""
        check_range(start, end)
        object_key = self._object_key(key)
        if start == end:
            self.size(key)  # report a missing key even for an empty range
            return b""
        try:
            response = self._get_object(object_key, Range=f"bytes={start}-{end - 1}")
        except self._client_error as exc:
            if _error_code(exc) == "InvalidRange":  # start is at or past the end
                return b""
            raise
        with response["Body"] as body:
            return cast(bytes, body.read())

    def exists(self, key: str) -> bool:
        """Tell whether ``key`` holds an object; see :meth:`BlobStore.exists`."""
        try:
            self.size(key)
        except BlobNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """Return the object's size from a ``HeadObject`` request; see :meth:`BlobStore.size`."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except self._client_error as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFoundError(key) from None
            raise
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete the object (S3's ``DeleteObject`` is idempotent); see :meth:`BlobStore.delete`."""
        self._client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        """List keys starting with ``prefix``, page by page, in S3's (sorted) order; see :meth:`BlobStore.list`."""
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)

        def generate() -> Iterator[str]:
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix) :]

        return generate()

    def local_path(self, key: str) -> str | None:
        """Return None: S3 objects have no local file; see :meth:`BlobStore.local_path`."""
        validate_key(key)
        return None

    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy an object server-side (multipart copy for big objects); see :meth:`BlobStore.copy`."""
        source = {"Bucket": self.bucket, "Key": self._object_key(src_key)}
        dst_object_key = self._object_key(dst_key)
        if src_key == dst_key:  # S3 refuses a plain self-copy; it would be a no-op anyway
            self.size(src_key)
            return
        try:
            self._client.copy(source, self.bucket, dst_object_key, Config=self._transfer)
        except self._client_error as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFoundError(src_key) from None
            raise

"""Blob storage for the server: one :class:`BlobStore` contract, a local and an S3 backend.

Build a store from the configured URL with :func:`make_blob_store`::

    make_blob_store("/var/lib/datamint/blobs")                    # LocalBlobStore
    make_blob_store("file:///var/lib/datamint/blobs")             # LocalBlobStore
    make_blob_store("s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1")
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .base import BlobNotFoundError, BlobStore, InvalidBlobKeyError, validate_key
from .local import LocalBlobStore
from .s3 import S3BlobStore

__all__ = [
    "BlobNotFoundError",
    "BlobStore",
    "InvalidBlobKeyError",
    "LocalBlobStore",
    "S3BlobStore",
    "make_blob_store",
    "validate_key",
]

_S3_QUERY_PARAMS = ("access_key", "create_bucket", "endpoint_url", "region", "secret_key")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"Storage URL parameter {name}={value!r} is not a boolean (use true or false)")


def _local_from_file_url(storage_url: str, stale_tmp_age: float) -> LocalBlobStore:
    parts = urlsplit(storage_url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"Unsupported file URL {storage_url!r}: the host must be empty, as in file:///abs/path"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"File storage URLs take no query or fragment: {storage_url!r}")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise ValueError(f"File storage URLs need an absolute path, as in file:///abs/path: {storage_url!r}")
    return LocalBlobStore(path, stale_tmp_age=stale_tmp_age)


def _s3_from_url(storage_url: str, endpoint_url: str | None, create_bucket: bool) -> BlobStore:
    parts = urlsplit(storage_url)
    if not parts.netloc:
        raise ValueError(f"S3 storage URLs name a bucket, as in s3://bucket/prefix: {storage_url!r}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    unknown = sorted(set(query) - set(_S3_QUERY_PARAMS))
    if unknown:
        raise ValueError(
            f"Unknown S3 storage URL parameter(s) {', '.join(unknown)}; known: {', '.join(_S3_QUERY_PARAMS)}"
        )
    options = {name: values[-1] for name, values in query.items()}
    if "create_bucket" in options:
        create_bucket = _parse_bool("create_bucket", options["create_bucket"])
    return S3BlobStore(
        parts.netloc,
        prefix=unquote(parts.path).strip("/"),
        endpoint_url=options.get("endpoint_url") or endpoint_url,
        region=options.get("region") or None,
        access_key=options.get("access_key"),
        secret_key=options.get("secret_key"),
        create_bucket=create_bucket,
    )


def make_blob_store(
    storage_url: str | Path,
    *,
    s3_endpoint_url: str | None = None,
    create_bucket: bool = False,
    stale_tmp_age: float = 3600.0,
) -> BlobStore:
    """Build the blob store described by a storage URL.

    Supported forms:

    * a plain path (``/var/lib/datamint/blobs``, ``./data/blobs``, ``~/blobs``) or
      ``file:///abs/path``: a :class:`LocalBlobStore` in that folder;
    * ``s3://bucket/prefix?endpoint_url=...&region=...&access_key=...&secret_key=...``:
      an :class:`~datamint.server.storage.s3.S3BlobStore` (needs the ``s3`` extra). Without
      ``access_key``/``secret_key`` the credentials come from boto3's chain (AWS env vars,
      ``~/.aws``, instance roles). ``create_bucket=true`` creates a missing bucket.

    This function reads no environment variables itself: the server's settings pass
    ``DATAMINT_SERVER_S3_ENDPOINT_URL`` in as ``s3_endpoint_url``.

    Args:
        storage_url: The storage URL or folder path.
        s3_endpoint_url: Endpoint for ``s3://`` URLs that carry no ``endpoint_url`` parameter.
        create_bucket: Create a missing S3 bucket (overridden by a ``create_bucket`` parameter).
        stale_tmp_age: A local store deletes its leftover temp (spool) files older than this
            many seconds when it is created.

    Returns:
        A ready blob store.

    Raises:
        ValueError: If the URL is empty, malformed or has an unknown scheme.
        ImportError: If an ``s3://`` URL is given without the ``s3`` extra installed.

    Example:
        >>> store = make_blob_store("s3://datamint/blobs?endpoint_url=http://127.0.0.1:9000")
    """
    if isinstance(storage_url, Path):
        return LocalBlobStore(storage_url, stale_tmp_age=stale_tmp_age)
    url = storage_url.strip()
    if not url:
        raise ValueError(
            "The storage URL is empty: give a folder path, file:///abs/path or s3://bucket/prefix"
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme == "" or (len(scheme) == 1 and url[1:2] == ":"):  # plain or Windows drive path
        return LocalBlobStore(url, stale_tmp_age=stale_tmp_age)
    if scheme == "file":
        return _local_from_file_url(url, stale_tmp_age)
    if scheme == "s3":
        return _s3_from_url(url, s3_endpoint_url, create_bucket)
    raise ValueError(
        f"Unknown storage URL scheme {scheme!r} in {storage_url!r}: use a folder path, "
        "file:///abs/path, or s3://bucket/prefix?endpoint_url=...&region=..."
    )

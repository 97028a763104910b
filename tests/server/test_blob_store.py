"""Contract tests for the blob stores, run against every backend.

The S3 backend runs against moto's standalone S3 server, started once per session as a
subprocess on a free loopback port.
"""

from __future__ import annotations

import io
import os
import random
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamint.server.common.files import MARKER
from datamint.server.storage import (
    BlobNotFoundError,
    BlobStore,
    InvalidBlobKeyError,
    LocalBlobStore,
    S3BlobStore,
    make_blob_store,
    validate_key,
)
from datamint.server.storage import local as local_store
from datamint.server.storage.local import TMP_DIR_NAME
from datamint.server.storage.s3 import MISSING_EXTRA_MESSAGE
from fixtures.s3 import CREDENTIALS, moto_server

MiB = 1 << 20
BUCKET = "datamint-test"
BAD_KEYS = ["", "../x", "/abs", "a//b", "a\\b", "a/../b", "a/./b", "a/", "..", "a\x00b", "a\nb"]


# -- fixtures ---------------------------------------------------------------------------------



@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's S3 server for the session (its bucket created) and return its endpoint URL."""
    with moto_server() as endpoint:
        S3BlobStore(BUCKET, endpoint_url=endpoint, create_bucket=True, **CREDENTIALS)
        yield endpoint


def _s3_store(endpoint: str, prefix: str | None = None) -> S3BlobStore:
    # A 5 MiB part size (S3's minimum) makes the multi-MB tests exercise multipart uploads.
    prefix = prefix if prefix is not None else f"test-{uuid.uuid4().hex}"
    return S3BlobStore(BUCKET, prefix, endpoint_url=endpoint, part_size=5 * MiB, **CREDENTIALS)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh, empty store of each backend (S3: a unique prefix in the shared bucket)."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return _s3_store(request.getfixturevalue("moto_endpoint"))


class Boom(Exception):
    """Raised by a source stream that fails mid-upload."""


class StrictReader(io.RawIOBase):
    """A binary stream that refuses to be read whole and can fail after ``fail_after`` bytes."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._buf = io.BytesIO(data)
        self._fail_after = fail_after
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("put() read the whole stream at once instead of streaming it")
        if self._fail_after is not None and self._buf.tell() >= self._fail_after:
            raise Boom("source failed mid-stream")
        self.largest_read = max(self.largest_read, size)
        return self._buf.read(size)


def _leftovers(store: BlobStore) -> list[str]:
    """Temp files (local) or unfinished multipart uploads (S3) a failed put may have left."""
    if isinstance(store, LocalBlobStore):
        return [name for name in os.listdir(store.root / TMP_DIR_NAME) if name != MARKER]
    assert isinstance(store, S3BlobStore)
    client = boto3.client(
        "s3",
        endpoint_url=store.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads if upload["Key"].startswith(store.prefix)]


# -- contract: every backend ------------------------------------------------------------------


def test_store_satisfies_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_get_bytes_round_trip(store: BlobStore) -> None:
    key = "org/1/resources/2/original"
    assert not store.exists(key)
    assert store.put(key, b"DICM\x00\x01payload") == 13
    assert store.get(key) == b"DICM\x00\x01payload"
    assert store.exists(key)
    assert store.size(key) == 13
    with store.open(key) as fh:
        assert fh.read(4) == b"DICM"
        assert fh.read() == b"\x00\x01payload"


def test_put_accepts_bytearray_memoryview_and_empty(store: BlobStore) -> None:
    assert store.put("ba", bytearray(b"abc")) == 3
    assert store.put("mv", memoryview(b"defg")) == 4
    assert store.put("empty", b"") == 0
    assert (store.get("ba"), store.get("mv"), store.get("empty")) == (b"abc", b"defg", b"")
    assert store.size("empty") == 0


def test_put_streams_large_file_object(store: BlobStore) -> None:
    data = os.urandom(6 * MiB + 123)
    source = StrictReader(data)
    assert store.put("big/scan.nii.gz", source) == len(data)
    assert 0 < source.largest_read <= 8 * MiB
    assert store.size("big/scan.nii.gz") == len(data)
    assert store.get("big/scan.nii.gz") == data


def test_put_reads_file_object_from_current_position(store: BlobStore) -> None:
    source = io.BytesIO(b"headerBODY")
    source.seek(6)
    assert store.put("k", source) == 4
    assert store.get("k") == b"BODY"


def test_overwrite_replaces_content(store: BlobStore) -> None:
    store.put("k", b"first version, longer")
    store.put("k", io.BytesIO(b"second"))
    assert store.get("k") == b"second"
    assert store.size("k") == 6
    assert list(store.list()) == ["k"]


def test_delete_is_idempotent(store: BlobStore) -> None:
    store.put("a/b/c", b"x")
    store.put("a/other", b"y")
    store.delete("a/b/c")
    assert not store.exists("a/b/c")
    with pytest.raises(BlobNotFoundError):
        store.get("a/b/c")
    store.delete("a/b/c")
    store.delete("never/existed")
    assert list(store.list()) == ["a/other"]


def test_list_with_prefix_is_sorted(store: BlobStore) -> None:
    keys = ["a/b/c", "a/b.txt", "a/bz", "a/a", "ab", "b/x", "a/b/d/e", "z"]
    for key in random.Random(7).sample(keys, len(keys)):
        store.put(key, key.encode())
    if isinstance(store, LocalBlobStore):  # an upload in progress must stay invisible
        (store.root / TMP_DIR_NAME / "inflight.part").write_bytes(b"partial")
    assert list(store.list()) == sorted(keys)
    assert list(store.list("a/")) == ["a/a", "a/b.txt", "a/b/c", "a/b/d/e", "a/bz"]
    assert list(store.list("a/b")) == ["a/b.txt", "a/b/c", "a/b/d/e", "a/bz"]
    assert list(store.list("a/b/")) == ["a/b/c", "a/b/d/e"]
    assert list(store.list("a")) == ["a/a", "a/b.txt", "a/b/c", "a/b/d/e", "a/bz", "ab"]
    assert list(store.list("nothing/")) == []
    assert list(store.list("z")) == ["z"]


def test_iter_chunks_reassembles(store: BlobStore) -> None:
    data = os.urandom(2 * MiB + 1000)
    store.put("k", data)
    chunks = list(store.iter_chunks("k", chunk_size=MiB))
    assert b"".join(chunks) == data
    assert len(chunks) >= 3
    assert all(0 < len(chunk) <= MiB for chunk in chunks)
    small = list(store.iter_chunks("k", chunk_size=300_000))
    assert b"".join(small) == data
    assert max(len(chunk) for chunk in small) <= 300_000


def test_iter_chunks_of_empty_object(store: BlobStore) -> None:
    store.put("empty", b"")
    assert b"".join(store.iter_chunks("empty")) == b""


def test_get_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 4
    store.put("k", data)
    assert store.get_range("k", 0, 5) == data[0:5]
    assert store.get_range("k", 100, 612) == data[100:612]
    assert store.get_range("k", 10, 10) == b""
    assert store.get_range("k", len(data) - 2, len(data) + 100) == data[-2:]
    assert store.get_range("k", len(data) + 5, len(data) + 10) == b""
    with pytest.raises(ValueError):
        store.get_range("k", 5, 2)
    with pytest.raises(ValueError):
        store.get_range("k", -1, 3)


def test_copy(store: BlobStore) -> None:
    data = os.urandom(1000)
    store.put("src/original", data)
    store.put("dst/copy", b"to be replaced")
    store.copy("src/original", "dst/copy")
    assert store.get("dst/copy") == data
    store.put("src/original", b"changed")
    assert store.get("dst/copy") == data
    store.copy("dst/copy", "dst/copy")
    assert store.get("dst/copy") == data
    with pytest.raises(BlobNotFoundError):
        store.copy("missing", "dst/other")
    assert not store.exists("dst/other")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("missing/key"),
        lambda s: s.open("missing/key"),
        lambda s: s.size("missing/key"),
        lambda s: s.iter_chunks("missing/key"),
        lambda s: s.get_range("missing/key", 0, 10),
    ],
    ids=["get", "open", "size", "iter_chunks", "get_range"],
)
def test_missing_key_raises_blob_not_found(store: BlobStore, call: Callable[[BlobStore], object]) -> None:
    with pytest.raises(BlobNotFoundError) as info:
        call(store)
    assert isinstance(info.value, KeyError)
    assert "missing/key" in str(info.value)
    assert not store.exists("missing/key")


@pytest.mark.parametrize("bad_key", BAD_KEYS)
def test_bad_keys_are_rejected(store: BlobStore, bad_key: str) -> None:
    store.put("good", b"x")
    calls = [
        lambda: store.put(bad_key, b"data"),
        lambda: store.get(bad_key),
        lambda: store.open(bad_key),
        lambda: store.exists(bad_key),
        lambda: store.size(bad_key),
        lambda: store.delete(bad_key),
        lambda: store.iter_chunks(bad_key),
        lambda: store.get_range(bad_key, 0, 1),
        lambda: store.local_path(bad_key),
        lambda: store.copy("good", bad_key),
        lambda: store.copy(bad_key, "good2"),
    ]
    for call in calls:
        with pytest.raises(InvalidBlobKeyError):
            call()
    assert list(store.list()) == ["good"]


@pytest.mark.parametrize("bad_prefix", ["/abs", "../", "a//", "a\\b", "a/../"])
def test_bad_list_prefix_is_rejected(store: BlobStore, bad_prefix: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        list(store.list(bad_prefix))


def test_failed_put_leaves_nothing_behind(store: BlobStore) -> None:
    old = b"the complete previous version"
    store.put("kept", old)
    data = os.urandom(7 * MiB)
    with pytest.raises(Boom):  # fails after the first 5 MiB part has gone out to S3
        store.put("kept", StrictReader(data, fail_after=6 * MiB))
    with pytest.raises(Boom):
        store.put("new/key", StrictReader(data, fail_after=2 * MiB))
    assert store.get("kept") == old
    assert not store.exists("new/key")
    assert list(store.list()) == ["kept"]
    assert _leftovers(store) == []


def test_local_path(store: BlobStore) -> None:
    store.put("a/b", b"content")
    path = store.local_path("a/b")
    if isinstance(store, LocalBlobStore):
        assert path is not None
        assert Path(path).is_absolute()
        assert Path(path).read_bytes() == b"content"
        with pytest.raises(BlobNotFoundError):
            store.local_path("a/missing")
    else:
        assert path is None


_segment = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
    min_size=1,
    max_size=20,
).filter(lambda s: s[0] not in ".")
_keys = st.lists(_segment, min_size=1, max_size=5).map("/".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_keys, data=st.binary(max_size=64))
def test_valid_keys_round_trip(store: BlobStore, key: str, data: bytes) -> None:
    full_key = f"{uuid.uuid4().hex}/{key}"  # examples share the store; keep them apart
    assert validate_key(full_key) == full_key
    assert store.put(full_key, data) == len(data)
    assert store.get(full_key) == data
    assert list(store.list(full_key)) == [full_key]
    store.delete(full_key)
    assert not store.exists(full_key)


# -- key validation (pure) --------------------------------------------------------------------


@given(st.text(max_size=40))
def test_validate_key_accepts_only_safe_keys(key: str) -> None:
    try:
        result = validate_key(key)
    except InvalidBlobKeyError as exc:
        assert exc.key == key
        return
    assert result == key
    segments = key.split("/")
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert "\\" not in key
    assert "\x00" not in key


@given(st.lists(_segment, min_size=0, max_size=3), st.lists(_segment, min_size=0, max_size=3))
def test_dot_dot_segment_is_always_rejected(before: list[str], after: list[str]) -> None:
    with pytest.raises(InvalidBlobKeyError):
        validate_key("/".join([*before, "..", *after]))


# -- local backend only -----------------------------------------------------------------------


def test_local_put_creates_nothing_outside_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("org/1/file", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs"]
    assert (tmp_path / "blobs" / "org" / "1" / "file").read_bytes() == b"x"


def test_local_stale_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    LocalBlobStore(root).put("kept", b"x")
    tmp_dir = root / TMP_DIR_NAME
    stale = tmp_dir / "crashed-upload.part"
    fresh = tmp_dir / "running-upload.part"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    store = LocalBlobStore(root)

    assert not stale.exists()
    assert fresh.exists()  # may belong to another live process
    assert store.get("kept") == b"x"
    assert list(store.list()) == ["kept"]


def test_local_reserved_tmp_area_is_not_a_key(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(InvalidBlobKeyError):
        store.put(f"{TMP_DIR_NAME}/x", b"x")
    (tmp_path / TMP_DIR_NAME / "inflight.part").write_bytes(b"partial")
    assert list(store.list(f"{TMP_DIR_NAME}/")) == []


def test_local_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("org/1/resources/2/original", b"x")
    store.put("org/1/other", b"y")
    store.delete("org/1/resources/2/original")
    assert not (tmp_path / "org" / "1" / "resources").exists()
    assert (tmp_path / "org" / "1" / "other").exists()
    store.put("org/1/resources/2/original", b"again")
    assert store.get("org/1/resources/2/original") == b"again"


# -- make_blob_store --------------------------------------------------------------------------


def test_make_blob_store_local_forms(tmp_path: Path) -> None:
    plain = make_blob_store(str(tmp_path / "plain"))
    file_url = make_blob_store((tmp_path / "file url").as_uri())
    from_path = make_blob_store(tmp_path / "path")
    assert isinstance(plain, LocalBlobStore) and plain.root == tmp_path / "plain"
    assert isinstance(file_url, LocalBlobStore) and file_url.root == tmp_path / "file url"
    assert isinstance(from_path, LocalBlobStore) and from_path.root == tmp_path / "path"
    file_url.put("k", b"v")
    assert (tmp_path / "file url" / "k").read_bytes() == b"v"


def test_make_blob_store_s3_url(moto_endpoint: str) -> None:
    prefix = f"factory-{uuid.uuid4().hex}"
    url = (
        f"s3://{BUCKET}/{prefix}/blobs?endpoint_url={moto_endpoint}"
        "&region=us-east-1&access_key=testing&secret_key=testing"
    )
    store = make_blob_store(url)
    assert isinstance(store, S3BlobStore)
    store.put("k", b"v")
    # The object landed under the URL's prefix: a store rooted one level up sees it there.
    assert list(_s3_store(moto_endpoint, prefix).list()) == ["blobs/k"]


def test_make_blob_store_s3_uses_passed_endpoint_and_env_credentials(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"created-{uuid.uuid4().hex[:12]}"
    store = make_blob_store(f"s3://{bucket}", s3_endpoint_url=moto_endpoint, create_bucket=True)
    store.put("k", b"v")
    assert store.get("k") == b"v"


@pytest.mark.parametrize(
    "url",
    ["", "   ", "ftp://host/path", "gs://bucket/x", "file://otherhost/path", "s3:///no-bucket"],
)
def test_make_blob_store_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="storage URL|file URL|S3 storage"):
        make_blob_store(url)


def test_make_blob_store_rejects_unknown_s3_parameter() -> None:
    with pytest.raises(ValueError, match="Unknown S3 storage URL parameter.*endpoint"):
        make_blob_store("s3://bucket/prefix?endpoint=http://127.0.0.1:9000")


def test_s3_without_boto3_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError) as info:
        S3BlobStore("bucket")
    assert str(info.value) == MISSING_EXTRA_MESSAGE


def test_local_adopt_moves_a_spooled_file_into_place(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    spooled = Path(store.spool_dir) / "upload-1.part"
    spooled.write_bytes(b"x" * 3000)
    assert store.adopt("org/1/resources/2/original", str(spooled)) == 3000
    assert not spooled.exists()
    assert store.get("org/1/resources/2/original") == b"x" * 3000
    outside = tmp_path / "elsewhere.part"
    outside.write_bytes(b"y")
    with pytest.raises(ValueError):
        store.adopt("org/1/x", str(outside))
    assert outside.exists() and not store.exists("org/1/x")


def test_local_adopt_makes_the_file_and_its_new_folders_private(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    spooled = Path(store.spool_dir) / "upload-2.part"
    spooled.write_bytes(b"z" * 10)
    spooled.chmod(0o644)  # not built by mkstemp
    assert store.adopt("org/7/resources/8/original", str(spooled)) == 10
    stored = store.root / "org" / "7" / "resources" / "8" / "original"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    for folder in ("org", "org/7", "org/7/resources", "org/7/resources/8"):  # every new folder, not just the last
        assert stat.S_IMODE((store.root / folder).stat().st_mode) == 0o700, folder
    again = Path(store.spool_dir) / "upload-3.part"
    again.write_bytes(b"w" * 4)
    assert store.adopt("org/7/resources/9/original", str(again)) == 4  # only the last folder is new
    assert stat.S_IMODE((store.root / "org/7/resources/9").stat().st_mode) == 0o700


def test_local_adopt_refuses_path_tricks_and_links(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    outside = tmp_path / "root" / "secret.part"
    outside.write_bytes(b"s")
    with pytest.raises(ValueError):
        store.adopt("org/1/x", f"{store.spool_dir}/../secret.part")  # '..' back out of the spool folder
    link = Path(store.spool_dir) / "upload-4.part"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        store.adopt("org/1/y", str(link))
    assert outside.read_bytes() == b"s" and link.is_symlink()
    assert not store.exists("org/1/x") and not store.exists("org/1/y")


def test_local_adopt_repairs_a_folder_whose_owner_bits_the_umask_took(tmp_path: Path) -> None:
    """A umask only takes bits away: with owner bits in it (here the owner's execute bit), a new
    folder would not be usable by the server itself, so it is given 0700 after its mkdir."""
    store = LocalBlobStore(tmp_path / "root")
    store.put("org/2/resources/1/original", b"first")  # the parents exist: only the last folder is new
    spooled = Path(store.spool_dir) / "upload-5.part"
    spooled.write_bytes(b"u" * 5)
    old = os.umask(0o177)
    local_store._umask_strips_owner_bits.cache_clear()
    try:
        assert store.adopt("org/2/resources/3/original", str(spooled)) == 5
    finally:
        os.umask(old)
        local_store._umask_strips_owner_bits.cache_clear()
    assert stat.S_IMODE((store.root / "org/2/resources/3").stat().st_mode) == 0o700
    assert store.get("org/2/resources/3/original") == b"u" * 5

"""The dataset archive is streamed with flat memory: a few hundred MB of blobs go through with a
Python heap peak of a few MB, and the result is a valid zip whose members are byte-exact."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import zipfile

import numpy as np

from datamint.server.datasets.archive import stream_zip
from datamint.server.datasets.snapshot import AnnotationEntry, ResourceEntry, Snapshot
from datamint.server.storage.local import LocalBlobStore

BLOBS = 40
BLOB_BYTES = 8 << 20  # 40 × 8 MiB = 320 MiB


def _store_with_blobs(tmp_path) -> tuple[LocalBlobStore, list[ResourceEntry], list[str]]:
    store = LocalBlobStore(tmp_path / "blobs")
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, size=1 << 20, dtype=np.uint8).tobytes()
    entries, hashes = [], []
    for i in range(BLOBS):
        data = bytes([i]) + block[1:]
        key = f"org/resources/{i}/original"
        with open(store.root / "tmp-source", "wb") as fh:
            for _ in range(BLOB_BYTES // len(block)):
                fh.write(data)
        with open(store.root / "tmp-source", "rb") as fh:
            store.put(key, fh)
        digest = hashlib.sha256(data * (BLOB_BYTES // len(block))).hexdigest()
        hashes.append(digest)
        entries.append(ResourceEntry(f"00000000-0000-0000-0000-{i:012d}", digest, BLOB_BYTES, key,
                                     {"id": f"00000000-0000-0000-0000-{i:012d}", "filename": f"scan{i}.bin",
                                      "mimetype": "application/octet-stream"}))
    return store, entries, hashes


class _Counting:
    """A consumer that keeps only a running hash of what it receives."""

    def __init__(self) -> None:
        self.size = 0
        self.largest = 0

    def feed(self, chunks) -> None:  # type: ignore[no-untyped-def]
        for chunk in chunks:
            self.size += len(chunk)
            self.largest = max(self.largest, len(chunk))


def test_archive_memory_stays_flat_for_hundreds_of_megabytes(tmp_path):
    store, entries, _ = _store_with_blobs(tmp_path)
    snapshot = Snapshot(entries, [], {"worklists": []})
    consumer = _Counting()
    tracemalloc.start()
    try:
        consumer.feed(stream_zip(store, snapshot, "dicom", {"id": "d"}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert consumer.size > BLOBS * BLOB_BYTES
    assert peak < 16 << 20, f"peak Python heap {peak / 2**20:.1f} MiB while streaming {consumer.size / 2**20:.0f} MiB"
    assert consumer.largest < 4 << 20


def test_streamed_archive_is_a_valid_zip_with_exact_members(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    payloads = {i: bytes(np.random.default_rng(i).integers(0, 256, 300_000 + i, dtype=np.uint8)) for i in range(3)}
    entries = []
    for i, data in payloads.items():
        store.put(f"r/{i}", data)
        rid = f"00000000-0000-0000-0000-{i:012d}"
        entries.append(ResourceEntry(rid, hashlib.sha256(data).hexdigest(), len(data), f"r/{i}",
                                     {"id": rid, "filename": f"../evil/{i}.dcm", "mimetype": "application/dicom"}))
    store.put("m/0", b"\x89PNG fake mask")
    annotations = [AnnotationEntry("a0", entries[0].id, {"id": "a0", "type": "segmentation"}, "ab" * 32, 14,
                                   "image/png", "m/0")]
    body = b"".join(stream_zip(store, Snapshot(entries, annotations, {}), "dicom", {"id": "d"}))
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    manifest = json.loads(archive.read("manifest.json"))
    for i, resource in enumerate(manifest["resources"]):
        (path,) = resource["archive_paths"]
        assert ".." not in path and path.endswith(f"/{i}.dcm")
        assert archive.read(path) == payloads[i]
    assert archive.read(manifest["annotations"][0]["mask"]["archive_path"]) == b"\x89PNG fake mask"

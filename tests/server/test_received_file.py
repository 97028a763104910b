"""``ReceivedFile.sha256``: hashed while received, or (files built from bytes) by reading them."""

from __future__ import annotations

import hashlib
import io

from datamint.server.resources.receive import FILE_THREADS, ReceivedFile, store_many
from datamint.server.storage.local import LocalBlobStore


def test_hash_while_receiving_and_for_files_built_from_bytes(tmp_path):
    data = b"DICM" * 100_000
    streamed = ReceivedFile("a.dcm", None, buffer=io.BytesIO())
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        streamed.feed(chunk)
        streamed.buffer.write(chunk)
    assert streamed.size == len(data) and streamed.hashed == len(data)
    assert streamed.sha256 == hashlib.sha256(data).hexdigest()
    built = ReceivedFile("b.dcm", None, buffer=io.BytesIO(data), size=len(data))  # as the DICOM receivers do
    assert built.hashed == 0 and built.sha256 == hashlib.sha256(data).hexdigest()
    spooled = tmp_path / "c.part"
    spooled.write_bytes(data[:1000])
    on_disk = ReceivedFile("c.dcm", None, path=str(spooled), size=1000)
    assert on_disk.sha256 == hashlib.sha256(data[:1000]).hexdigest()


class _RefusingStore(LocalBlobStore):
    """A local store that cannot write one key (a full or failing disk for that file)."""

    def __init__(self, root, refused: str) -> None:
        super().__init__(root)
        self.refused = refused

    def put(self, key, data):  # type: ignore[no-untyped-def]
        if key == self.refused:
            raise OSError(28, "No space left on device")
        return super().put(key, data)


def test_store_many_stores_every_file_in_order_and_fails_only_the_one_that_cannot_be_written(tmp_path):
    store = _RefusingStore(tmp_path / "blobs", refused="k/07")
    files = []
    for i in range(19):  # more files than FILE_THREADS: each task stores a share of them
        received = ReceivedFile(f"{i}.dcm", None, buffer=io.BytesIO(bytes([i]) * (i + 1)))
        files.append((f"k/{i:02d}", received))
    outcomes = store_many(store, files)
    assert len(files) > FILE_THREADS
    assert [type(o).__name__ if o else None for o in outcomes] == [None] * 7 + ["OSError"] + [None] * 11
    for i in range(19):
        if i != 7:
            assert store.get(f"k/{i:02d}") == bytes([i]) * (i + 1)
    assert not store.exists("k/07")

"""``ReceivedFile.sha256``: hashed while received, or (files built from bytes) by reading them."""

from __future__ import annotations

import hashlib
import io

from datamint.server.resources.receive import ReceivedFile


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

"""The multipart body of an upload (``send._JoinedChunks``): httpx's encoding, byte for byte, with
the small chunks (boundaries, part headers, form fields, small files) sent together."""

from __future__ import annotations

import io

import httpx

from datamint.api._upload import send
from datamint.api.base_api import run_sync


def _files(big: bytes, small: bytes) -> list:
    return [("resources", ("a.dcm", send._LargeReads(io.BytesIO(big)), "application/dicom")),
            ("resources", ("b.dcm", send._LargeReads(io.BytesIO(small)), "application/dicom"))]


def _chunks(body: send._JoinedChunks) -> list[bytes]:
    """The chunks the body yields, read as the SDK runs its coroutines (also where another test
    left an event loop running in this thread)."""
    async def read() -> list[bytes]:
        return [chunk async for chunk in body]

    return run_sync(read)


def test_small_chunks_go_together_and_the_bytes_are_httpx_own() -> None:
    big, small = bytes(range(256)) * 400, b"abc"  # 102,400 bytes and 3
    data = {"source": "api", "files": '[{"mimetype": "application/dicom"}]'}
    body = send._JoinedChunks(data, _files(big, small))
    chunks = _chunks(body)
    boundary = body.headers["Content-Type"].split("boundary=")[1].encode()
    expected = httpx.Request("POST", "http://x/", data=data, files=_files(big, small))
    plain = list(expected.stream)
    other = expected.headers["Content-Type"].split("boundary=")[1].encode()
    assert len(plain) == 17  # per field: boundary, headers, value(s), line break; then the closing boundary
    assert b"".join(chunks) == b"".join(plain).replace(other, boundary)
    assert [len(c) for c in chunks] == [len(b"".join(plain[:10])), 102400, len(b"".join(plain[11:]))]
    assert chunks[1] == big and chunks[2].endswith(b"abc\r\n--" + boundary + b"--\r\n")
    assert body.headers["Content-Length"] == str(sum(map(len, chunks)))
    assert set(body.headers) == {"Content-Type", "Content-Length"}
    assert _chunks(body) == chunks  # a retry sends the same bytes again


def test_small_chunks_are_sent_once_they_add_up() -> None:
    part = b"x" * (send._SMALL_CHUNK // 2)
    files = [("resources", (f"{i}.png", send._LargeReads(io.BytesIO(part)), "image/png")) for i in range(4)]
    chunks = _chunks(send._JoinedChunks({}, files))
    assert len(chunks) == 3 and all(len(c) >= send._SMALL_CHUNK for c in chunks[:2])
    assert b"".join(chunks).count(part) == 4

"""The memory budget of one multipart request (``receive.MEMORY_BUDGET``): the file parts held in
memory together stay under it; once the next part would pass it, that part is spooled to disk.

No database is involved: the receiver is driven with a real ASGI request over its ``receive``
callable (the end-to-end uploads in ``tests/e2e/resources`` run it behind the real server)."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.requests import Request

from datamint.server.resources import receive
from datamint.server.resources.receive import ReceivedForm, receive_form

BOUNDARY = "budget-test-boundary"


def _body(parts: list[bytes]) -> bytes:
    out = bytearray()
    for i, data in enumerate(parts):
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"resources\"; filename=\"f{i}.dcm\"\r\n"
                "Content-Type: application/dicom\r\n\r\n").encode()
        out += data + b"\r\n"
    out += b"--" + BOUNDARY.encode() + b"--\r\n"
    return bytes(out)


def _receive(body: bytes, folder: Path, many: bool = True) -> ReceivedForm:
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]

    async def next_message() -> dict:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/resources/series", "query_string": b"",
             "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]}
    with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever another test left running in this one
        return thread.submit(asyncio.run, receive_form(Request(scope, next_message), str(folder), 64, 1 << 20,
                                                      many=many)).result()


def _content(received) -> bytes:  # type: ignore[no-untyped-def]
    with received.open() as reader:
        return reader.read()


def test_parts_past_the_budget_are_spooled(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(receive, "MEMORY_BUDGET", 200_000)
    sizes = [50_000, 100_000, 50_000, 50_000, 50_000, 50_000, 1_000]  # the 100 kB part is over 64 KiB
    parts = [bytes([i + 1]) * size for i, size in enumerate(sizes)]
    form = _receive(_body(parts), tmp_path)
    try:
        assert [f.path is not None for f in form.files] == [False, True, False, False, False, True, True]
        assert sum(f.size for f in form.files if f.path is None) == 200_000  # the budget, exactly filled
        assert [f.size for f in form.files] == sizes
        assert [_content(f) for f in form.files] == parts
        assert [f.sha256 for f in form.files] == [hashlib.sha256(p).hexdigest() for p in parts]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(f.path).name for f in form.files if f.path)
    finally:
        form.discard()
    assert list(tmp_path.iterdir()) == []


def test_ten_thousand_small_files_hold_at_most_the_budget(tmp_path):
    parts = [i.to_bytes(4, "big") * 1000 for i in range(10_000)]  # 4 kB each, 40 MB in all
    form = _receive(_body(parts), tmp_path)
    try:
        held = sum(f.size for f in form.files if f.path is None)
        assert held == (receive.MEMORY_BUDGET // 4000) * 4000  # 16 MiB worth of whole parts, then disk
        assert sum(1 for f in form.files if f.path is not None) == 10_000 - receive.MEMORY_BUDGET // 4000
        assert _content(form.files[0]) == parts[0] and _content(form.files[-1]) == parts[-1]
    finally:
        form.discard()
    assert list(tmp_path.iterdir()) == []


def test_one_file_upload_keeps_its_1_mib_limit(tmp_path):
    small = _receive(_body([b"x" * (1 << 20)]).replace(b'name="resources"', b'name="resource"'), tmp_path, many=False)
    large = _receive(_body([b"y" * ((1 << 20) + 1)]).replace(b'name="resources"', b'name="resource"'), tmp_path,
                     many=False)
    try:
        assert small.file is not None and small.file.path is None and small.file.size == 1 << 20
        assert large.file is not None and large.file.path is not None and _content(large.file) == b"y" * ((1 << 20) + 1)
    finally:
        small.discard()
        large.discard()

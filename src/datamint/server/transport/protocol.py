"""uvicorn's HTTP protocol (httptools) with a bound on the request head.

uvicorn collects a request's line and headers without any size limit before the application
sees them, so one client could grow the server's memory with an endless header. This protocol
counts the bytes of a head while it arrives and, past ``max_header_kb`` (setting), answers 431
and closes the connection; the request gate (:mod:`datamint.server.transport.gate`) enforces the
same limit exactly on heads that complete. ``datamint server run`` uses it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Environment variable the protocol reads its limit from (the CLI sets it, also for --workers).
ENV_LIMIT = "DATAMINT_SERVER_MAX_HEADER_KB"
DEFAULT_KB = 32


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that refuses request heads above the limit with 431."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = int(os.environ.get(ENV_LIMIT) or DEFAULT_KB) * 1024
        self._in_head = True
        self._head_bytes = 0
        self._boundary = False  # a head or a message ended during the current data_received

    def on_message_begin(self) -> None:
        self._in_head, self._boundary = True, True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._boundary = False, 0, True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._boundary = True, 0, True

    def data_received(self, data: bytes) -> None:
        self._boundary = False
        super().data_received(data)
        # Bytes fed while a head was open and nothing ended: all of them belong to that head. (A
        # read that also held the end of a body or head is not counted: at most one read more.)
        if self._in_head and not self._boundary and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()

    def _refuse(self) -> None:
        body = json.dumps({"message": f"Request headers too large: the limit is {self.max_head_bytes // 1024} KiB",
                           "code": "request_header_fields_too_large", "status_code": 431,
                           "request_id": None}).encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

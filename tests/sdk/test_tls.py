"""The SDK's TLS settings (``verify_ssl``) against a real HTTPS server whose certificate a test CA signed.

The context is built once per setting and process (``base_api.tls_context``) instead of once per
client; these tests hold it to httpx's rules: a CA bundle path trusts that CA, ``True`` trusts
``SSL_CERT_FILE`` when set and certifi's bundle otherwise, ``False`` checks nothing.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from datamint.api import base_api
from datamint.api.base_api import ApiConfig, BaseApi
from datamint.exceptions import NetworkError


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_url(ca: trustme.CA) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _get_both_ways(url: str, verify: bool | str) -> list[str]:
    """The path the server saw, through the SDK's synchronous client and through its asynchronous one."""
    api = BaseApi(ApiConfig(url, api_key="k", max_retries=0, verify_ssl=verify))

    async def job(client: httpx.AsyncClient) -> str:
        return str((await client.get("/async")).json()["path"])

    try:
        return [api._request("GET", "/sync").json()["path"], *api._run_concurrently([job])]
    finally:
        api.close()


def test_a_ca_bundle_path_trusts_that_ca(https_url: str, ca_file: str) -> None:
    assert _get_both_ways(https_url, ca_file) == ["/sync", "/async"]


def test_the_default_refuses_a_certificate_no_known_ca_signed(https_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
        _get_both_ways(https_url, True)


def test_the_default_trusts_ssl_cert_file(https_url: str, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    assert _get_both_ways(https_url, True) == ["/sync", "/async"]


def test_false_checks_nothing(https_url: str) -> None:
    assert _get_both_ways(https_url, False) == ["/sync", "/async"]


def test_each_setting_is_built_once(ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert base_api.tls_context(ca_file) is base_api.tls_context(ca_file)
    assert base_api.tls_context(True) is base_api.tls_context(True)
    assert base_api.tls_context(True) is not base_api.tls_context(ca_file)
    assert base_api.tls_context(True).verify_mode == ssl.CERT_REQUIRED and base_api.tls_context(True).check_hostname
    assert base_api.tls_context(False).verify_mode == ssl.CERT_NONE
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the environment is part of the setting
    assert base_api.tls_context(True) is not base_api.tls_context(ca_file)
    assert base_api.tls_context(True).cert_store_stats()["x509_ca"] == 1

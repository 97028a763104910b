"""Which address a request is charged to: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from datamint.server.transport.clients import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),                # not a proxy: the header is ignored
    ("10.0.0.5", [], "10.0.0.5"),                              # a proxy that names nobody
    ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),            # the client the proxy names
    ("10.0.0.5", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),   # the client wrote the left part
    ("10.0.0.5", ["198.51.100.7, 10.1.1.1"], "198.51.100.7"),  # two proxies in a row
    ("10.0.0.5", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),  # the header sent twice
    ("10.0.0.5", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),          # only proxies: the left-most
    ("10.0.0.5", ["garbage, 198.51.100.7"], "198.51.100.7"),
    ("10.0.0.5", ["198.51.100.7, garbage"], "10.0.0.5"),       # a garbled hop: trust stops there
    ("::1", ["2001:db8::1"], "2001:db8::1"),
    ("::ffff:10.0.0.5", ["198.51.100.7"], "198.51.100.7"),     # IPv4-mapped peer
    (None, ["1.2.3.4"], "unknown"),
])
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_nothing_is_trusted_by_default():
    assert client_address("127.0.0.1", ["1.2.3.4"], parse_networks([])) == "127.0.0.1"


def test_a_bad_entry_is_named():
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address"):
        parse_networks(["10.0.0.1", "proxy.local"])


def test_a_trusted_proxy_rewrites_client_and_scheme_and_no_one_else_does():
    from datamint.server.transport.clients import apply_trusted_proxy

    headers = [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-proto", b"https")]
    proxied = {"client": ("10.0.0.5", 4000), "scheme": "http", "headers": headers}
    assert apply_trusted_proxy(proxied, PROXIES) == "198.51.100.7"
    assert proxied["client"] == ("198.51.100.7", 0) and proxied["scheme"] == "https"
    assert proxied["state"]["client_address"] == "198.51.100.7"
    direct = {"client": ("203.0.113.9", 4000), "scheme": "http", "headers": headers}
    assert apply_trusted_proxy(direct, PROXIES) == "203.0.113.9"
    assert direct["client"] == ("203.0.113.9", 4000) and direct["scheme"] == "http"

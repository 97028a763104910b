"""The address a request comes from, trusting ``X-Forwarded-For`` only from configured proxies.

Failed authentications are counted per client address (:mod:`datamint.server.auth.throttle`).
Behind a reverse proxy every request arrives from the proxy, and the proxy names the real client
in ``X-Forwarded-For``. That header is written by whoever sends the request, so it is believed
only when the peer is one of the ``trusted_proxies`` (addresses or networks): the address used is
then the right-most one in the chain that is not itself a trusted proxy. Anybody else's
``X-Forwarded-For`` is ignored, so rotating it gives an attacker no fresh counts and spoofing a
victim's address does not lock the victim out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Parse ``trusted_proxies`` entries (``10.0.0.5``, ``10.0.0.0/8``, ``::1``).

    Raises:
        ValueError: An entry is not an address or network (names the entry).
    """
    networks: list[Network] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {text!r} is not an IP address or network (e.g. 10.0.0.0/8)")
    return tuple(networks)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], networks: Sequence[Network]) -> str:
    """The client's address for a request from ``peer`` carrying these ``X-Forwarded-For`` values.

    Args:
        peer: The TCP peer's address (``None`` when unknown, e.g. a Unix socket).
        forwarded_for: Every ``X-Forwarded-For`` header value, in the order received.
        networks: The trusted proxies.

    Returns:
        ``peer`` unless it is a trusted proxy; otherwise the right-most forwarded address that is
        not a trusted proxy (the left-most one when all are).
    """
    address = peer or "unknown"
    if not networks or not _trusted(address, networks):
        return address
    chain = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(chain):
        try:
            ipaddress.ip_address(hop)
        except ValueError:  # a garbled entry: stop believing the chain here
            return address
        address = hop
        if not _trusted(hop, networks):
            return hop
    return address


def scope_client_address(scope: Mapping[str, Any], networks: Sequence[Network]) -> str:
    """:func:`client_address` of an ASGI request scope (as :func:`apply_trusted_proxy` resolved it,
    when it ran)."""
    resolved = (scope.get("state") or {}).get("client_address")
    if resolved:
        return str(resolved)
    peer = (scope.get("client") or (None, 0))[0]
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers") or []
                 if name.lower() == b"x-forwarded-for"]
    return client_address(peer, forwarded, networks)


def apply_trusted_proxy(scope: dict[str, Any], networks: Sequence[Network]) -> str:
    """Resolve the request's client once, and when the peer is a trusted proxy make the scope
    describe the client's request: ``client`` becomes the forwarded address and ``scheme`` the
    last ``X-Forwarded-Proto`` (``http`` or ``https``), so access logs, secure cookies and links
    are right behind a TLS-terminating proxy. Headers from other peers change nothing.

    Returns:
        The client's address (also kept in the request state as ``client_address``).
    """
    address = scope_client_address(scope, networks)
    state = scope.setdefault("state", {})
    state["client_address"] = address
    peer = (scope.get("client") or (None, 0))[0]
    if networks and peer and _trusted(peer, networks):
        scope["client"] = (address, 0)
        protos = [value.decode("latin-1").split(",")[-1].strip().lower()
                  for name, value in scope.get("headers") or [] if name.lower() == b"x-forwarded-proto"]
        if protos and protos[-1] in ("http", "https"):
            scope["scheme"] = protos[-1]
    return address

"""Throttling of repeated authentication failures from one client address.

Failures are rows of ``auth_failures`` in the server's database, so every worker process (and
every server sharing the database) counts the same failures: with ``--workers 2`` a client gets
``auth_failures_per_minute`` attempts, not twice as many. The client address is the TCP peer, or
the client a trusted reverse proxy names (``trusted_proxies``, see
:mod:`datamint.server.transport.clients`), so a forged ``X-Forwarded-For`` neither escapes the
count nor locks somebody else out.

An IPv6 client is counted by its /64 network: one host (a home line, a cloud VM) commonly holds a
whole /64, so counting single addresses would give it 2^64 fresh counts. An IPv4-mapped IPv6
address (``::ffff:192.0.2.1``) is its IPv4 address.

Requests checked at the same moment all see the count before any of them failed, so a client
that sends many wrong keys at once can exceed the limit by the number of its requests in flight
(bounded by its connections); the next request after those is refused.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from datetime import timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from datamint.server.auth.models import AuthFailure
from datamint.server.db.base import new_id, utcnow
from datamint.server.db.session import Database
from datamint.server.errors import TooManyRequestsError


def throttle_key(client: str) -> str:
    """The key ``client``'s failures are counted under: an IPv4 address as is, an IPv6 address by
    its /64 network (``2001:db8:7:1::/64``), an IPv4-mapped IPv6 address as its IPv4 address;
    anything that is no address (``unknown``) as is. At most 64 characters."""
    try:
        ip = ipaddress.ip_address(client.strip())
    except ValueError:
        return client[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class AuthFailureGuard:
    """Counts failed authentications per client in a sliding window (one minute by default).

    Once a client has failed ``max_failures`` times within the window, every further request
    from it gets 429 with ``Retry-After`` until the oldest failure leaves the window.

    Args:
        database: Where failures are counted.
        max_failures: Failures allowed per client per window.
        window_s: Length of the window in seconds.
    """

    def __init__(self, database: Database, max_failures: int, window_s: float = 60.0) -> None:
        self.database = database
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def check(self, client: str, session: Session | None = None) -> None:
        """Raise :class:`TooManyRequestsError` when ``client`` is currently throttled.

        Args:
            client: The client's address (counted under :func:`throttle_key`).
            session: A session to read with (a short one of its own otherwise).
        """
        if session is None:
            with self.database.session() as own:
                self.check(client, own)
                own.rollback()
            return
        now = utcnow()
        count, oldest = session.execute(
            select(func.count(), func.min(AuthFailure.failed_at))
            .where(AuthFailure.client == throttle_key(client), AuthFailure.failed_at > now - self.window)).one()
        if count >= self.max_failures and oldest is not None:
            if oldest.tzinfo is None:  # SQLite returns naive UTC through an aggregate
                oldest = oldest.replace(tzinfo=now.tzinfo)
            retry = max(1, int((oldest + self.window - now).total_seconds()) + 1)
            raise TooManyRequestsError(
                f"Too many failed authentication attempts from this address; retry in {retry} s", retry)

    def record_failure(self, client: str) -> None:
        """Count one failed authentication of ``client`` (committed at once, whatever the request
        does next); about once a window, forget failures older than the window."""
        now = utcnow()
        sweep = False
        with self._lock:
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.window.total_seconds()
                sweep = True
        with self.database.transaction() as session:
            session.execute(insert(AuthFailure).values(id=new_id(), client=throttle_key(client), failed_at=now))
            if sweep:
                session.execute(delete(AuthFailure).where(AuthFailure.failed_at <= now - self.window))

    def tracked_clients(self) -> int:
        """How many clients (:func:`throttle_key`) have failures within the window."""
        with self.database.session() as session:
            return int(session.scalar(select(func.count(func.distinct(AuthFailure.client)))
                                      .where(AuthFailure.failed_at > utcnow() - self.window)) or 0)

    def clear(self) -> None:
        """Forget every recorded failure (an operator's reset; tests start from a clean count)."""
        with self.database.transaction() as session:
            session.execute(delete(AuthFailure))

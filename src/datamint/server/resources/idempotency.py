"""``Idempotency-Key`` on ``POST /resources``: a retried upload creates nothing new.

A client that lost the answer to an upload (a timeout, a dropped connection) cannot know whether
the server created the resource. When the upload carries an ``Idempotency-Key`` header (the SDK
sends a fresh one per file and repeats it on its retries), the server remembers which resource
that key created for that user (:class:`~datamint.server.resources.models.UploadIdempotency`,
unique per user and key, inserted in the transaction that inserts the resource). A request with
a key already used answers with that resource (201, the first answer's ``duplicate_of``) and
stores nothing; of several identical requests at once, the first to commit creates the resource
and the others answer with it. The key stands for the whole request: the same key with a
different file, or with the same file but other fields (another project, other tags, ...: the
values of :func:`request_fingerprint`), is refused (422), since its answer would describe a
resource made from the first request's fields. Keys are kept at least ``idempotency_hours``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from datamint.server.auth.service import Principal
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import ConflictError, ValidationFailedError
from datamint.server.resources import repository as repo
from datamint.server.resources import wire
from datamint.server.resources.models import UploadIdempotency

#: The HTTP header that carries the key.
HEADER = "Idempotency-Key"
MAX_LENGTH = 255


def check_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: 1 to 255 visible ASCII characters, or absent; 422 otherwise."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise ValidationFailedError(f"{HEADER} must be 1 to {MAX_LENGTH} visible ASCII characters "
                                    "(a UUID is a good choice)")
    return key


def request_fingerprint(fields: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of an upload's fields other than its file, as checked (file name, declared
    type, project, channel, tags, metadata, ...): equal for two requests that would make the same
    resource from the same file. The batch route and ``POST /resources`` pass the same names.

    Args:
        fields: JSON values (a key's absence and ``None`` differ: pass every field, ``None`` when
            not sent).
    """
    text = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def find(session: Session, me: Principal, key: str) -> UploadIdempotency | None:
    """The record of ``key`` for the caller, if an upload with it committed."""
    return session.scalar(select(UploadIdempotency).where(UploadIdempotency.user_id == me.user_id,
                                                          UploadIdempotency.idem_key == key))


def record(session: Session, me: Principal, key: str, content_sha256: str, request_sha256: str, resource_id: str,
           duplicate_of: str | None) -> None:
    """Bind ``key`` to the resource an upload is creating, in the upload's insert transaction (after
    the resource row was flushed). A plain insert, not an ORM one: the audit trail records the
    resource, not this bookkeeping.

    Raises:
        IntegrityError: Another request with this key committed its resource first.
    """
    session.execute(insert(UploadIdempotency).values(
        id=new_id(), user_id=me.user_id, idem_key=key, content_sha256=content_sha256, request_sha256=request_sha256,
        resource_id=resource_id, duplicate_of=duplicate_of, created_at=utcnow()))


def replay(session: Session, me: Principal, found: UploadIdempotency, content_sha256: str,
           request_sha256: str) -> dict[str, Any]:
    """The answer to a repeated upload: the resource its key created.

    Raises:
        ValidationFailedError: The key was used for a different file, or for this file with other
            fields (422).
        ConflictError: The resource was removed for good meanwhile (409; retry with a new key).
    """
    if found.content_sha256 != content_sha256:
        raise ValidationFailedError(f"This {HEADER} was already used for a different file; send each file "
                                    "with a key of its own")
    if found.request_sha256 is not None and found.request_sha256 != request_sha256:
        raise ValidationFailedError(f"This {HEADER} was already used for this file with other fields; send "
                                    "each upload with a key of its own")
    resource = repo.get_resource(session, me.customer_id, found.resource_id)
    if resource is None:
        raise ConflictError(f"The resource this {HEADER} created was removed; upload again with a new key")
    return {**wire.to_wire(session, resource), "duplicate_of": found.duplicate_of}

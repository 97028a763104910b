"""Duplicate uploads: finding a live resource of the organization that has the same content.

**Scope: one organization** — the resources its members can see. An upload is a duplicate of the
oldest live (not deleted) resource of the uploader's organization that has

* the same stored bytes (``content_sha256``, computed by the server while receiving them), or
* the same original file(s) *uploaded by the same user*: our SDK rewrites DICOM before sending it
  when it anonymizes (new UIDs every time) or assembles a series, so it declares the SHA-256 of
  the original file(s) (``source_sha256``; a series: the SHA-256 of its slices' sorted hashes).
  The server cannot check a declared hash, so it only matches the declarer's own uploads: no
  member can make another member's upload resolve to a resource of their choosing.

What happens is chosen per upload (form field ``on_duplicate``):

* ``keep`` (default; what the official client does): a new resource every time. The answer names
  the earlier copy in ``duplicate_of`` so that clients can say so.
* ``skip``: no new resource; the answer is ``200`` with the existing resource (``duplicate_of``
  is its own id), which is also added to the upload's project, if one was named.

Two identical ``skip`` uploads at the same moment create one resource: the check runs again in
the transaction that inserts the row, under a lock the database holds per content hash
(:mod:`datamint.server.db.locks`: PostgreSQL advisory transaction locks; SQLite's write lock,
taken at the start of that transaction). This is a policy for people re-running an upload, not a uniqueness constraint:
``keep`` uploads may always add copies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.db import locks
from datamint.server.errors import ValidationFailedError
from datamint.server.resources import repository as repo
from datamint.server.resources.models import Resource

POLICIES = ("keep", "skip")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_policy(value: str | None) -> str:
    """The ``on_duplicate`` form field: ``keep`` (default) or ``skip``; 422 otherwise."""
    text = (value or "keep").strip().lower()
    if text not in POLICIES:
        raise ValidationFailedError(f"on_duplicate must be 'keep' or 'skip', not {value!r}")
    return text


def check_declared(value: str | None) -> str | None:
    """The ``source_sha256`` form field: 64 hexadecimal digits, or absent; 422 otherwise."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if not _SHA256.match(text):
        raise ValidationFailedError("source_sha256 must be the SHA-256 of the original file: 64 hexadecimal digits")
    return text


def find(session: Session, me: Principal, content_sha256: str, source_sha256: str | None) -> Resource | None:
    """The live resource this upload duplicates (see the module docstring); ``None`` when there is
    none or when the caller may not see the organization's resources."""
    if not policy.allowed(me, policy.Action.RESOURCES_READ):
        return None
    return repo.find_same_content(session, me.customer_id, content_sha256, source_sha256, me.user_id)


def lock(session: Session, me: Principal, keys: Sequence[str | None]) -> None:
    """Serialise, until the end of the transaction, the uploads of the same content in the organization
    (:func:`datamint.server.db.locks.serialize`: across processes too, on both backends)."""
    for key in sorted({k for k in keys if k}):
        locks.serialize(session, "upload-content", me.customer_id, key)

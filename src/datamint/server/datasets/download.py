"""The archive download's token flow (wire §4.6).

``GET /datasets/{id}/download/{format}?version=`` checks access and answers a token (a JSON
string). ``GET /datasets/download/{token}`` streams the zip. Tokens are random, stored only as
their SHA-256, valid for :data:`TOKEN_TTL` and usable once, and only by a caller of the
organization that asked for them (others get 404, as for any other organization's data).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.datasets import archive, service
from datamint.server.datasets import repository as repo
from datamint.server.datasets import snapshot as snap
from datamint.server.datasets.models import DatasetVersion, DownloadToken
from datamint.server.db.base import utcnow
from datamint.server.errors import AppError, NotFoundError, ValidationFailedError
from datamint.server.storage.base import BlobStore

TOKEN_TTL = timedelta(minutes=15)


class TokenGoneError(AppError):
    """The download token expired or was already used (410)."""

    status_code = 410
    code = "gone"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, me: Principal, dataset_id: str, fmt: str, version: str | None) -> str:
    """A new download token for the dataset (``version`` omitted: its live content).

    Raises:
        ValidationFailedError: Unknown or unsupported format.
        NotFoundError: Unknown dataset or version.
    """
    fmt = (fmt or "").lower()
    fmt = {"jpeg": "jpg", "tif": "tiff"}.get(fmt, fmt)
    if fmt not in archive.FORMATS:
        raise ValidationFailedError(f"Unknown archive format {fmt!r}; use one of {', '.join(archive.FORMATS)}")
    dataset, _ = service.visible_dataset(session, me, dataset_id, policy.ProjectAction.EXPORT)
    version_id = service.resolve_version(session, dataset, version).id if version not in (None, "") else None
    now = utcnow()
    repo.purge_tokens(session, now - timedelta(days=1))
    token = secrets.token_urlsafe(32)
    session.add(DownloadToken(token_hash=_hash(token), customer_id=me.customer_id, user_id=me.user_id,
                              dataset_id=dataset.id, version_id=version_id, format=fmt, created_at=now,
                              expires_at=now + TOKEN_TTL))
    return token


def redeem(session: Session, store: BlobStore, me: Principal, token: str) -> tuple[str, Iterator[bytes]]:
    """Use a token (the caller commits): the archive's file name and its byte stream.

    Access is checked again, so a caller who lost access since the token was issued is refused.

    Raises:
        NotFoundError: Unknown token, or one of another organization.
        TokenGoneError: The token expired or was already used.
    """
    row = session.get(DownloadToken, _hash(token or ""))
    if row is None or row.customer_id != me.customer_id:
        raise NotFoundError("Download token", "Download token not found; request one with "
                            "GET /datasets/{id}/download/{format}")
    now = utcnow()
    if row.expires_at <= now:
        raise TokenGoneError("Download token expired; request a new one with GET /datasets/{id}/download/{format}")
    if not repo.redeem_token(session, row.token_hash, now):
        raise TokenGoneError("Download token already used; each token downloads once, request a new one")
    dataset, project = service.visible_dataset(session, me, row.dataset_id, policy.ProjectAction.EXPORT)
    if row.version_id is None:
        content = snap.live_snapshot(session, store, project)
        label = "current"
    else:
        version = session.get(DatasetVersion, row.version_id)
        if version is None:
            raise NotFoundError("Dataset version", "Dataset version not found: it was deleted after the token "
                                "was issued")
        content = snap.version_snapshot(session, version)
        label = version.name
    info: dict[str, Any] = service.dataset_info(dataset, project, [r.id for r in content.resources])
    filename = f"{_slug(project.name)}-{_slug(label)}-{row.format}.zip"
    return filename, archive.stream_zip(store, content, row.format, info)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80] or "dataset"

"""``Annotated`` dependencies shared by every router: the session, settings, blob store and caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from datamint.server.audit import recorder
from datamint.server.auth.service import Principal, authenticate
from datamint.server.config import Settings
from datamint.server.errors import AuthenticationFailedError

if TYPE_CHECKING:
    from datamint.server.storage.base import BlobStore


def _session(request: Request) -> Iterator[Session]:
    session = request.app.state.database.session()
    recorder.begin(session, request.scope)
    try:
        yield session
        recorder.record_read(session)
    finally:
        session.rollback()
        session.close()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _blob_store(request: Request) -> BlobStore:
    return request.app.state.blob_store


def api_key_from_headers(request: Request) -> str | None:
    """The API key sent as ``apikey: <key>`` or ``Authorization: Bearer <key>``."""
    key = request.headers.get("apikey")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def client_address(request: Request) -> str:
    """The address failed authentications are counted under (see ``auth.throttle``)."""
    return request.client.host if request.client else "unknown"


def _principal(request: Request, session: Annotated[Session, Depends(_session)]) -> Principal:
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    try:
        principal = authenticate(session, api_key_from_headers(request))
    except AuthenticationFailedError:
        guard.record_failure(client)
        raise
    request.state.user_email = principal.email
    request.state.customer_id = principal.customer_id
    recorder.set_actor(session, principal.user_id, principal.email, principal.customer_id)
    return principal


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated["BlobStore", Depends(_blob_store)]
CurrentUser = Annotated[Principal, Depends(_principal)]

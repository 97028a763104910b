"""``Annotated`` dependencies shared by every router: the session, settings, blob store and caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from datamint.server.audit import recorder
from datamint.server.auth import web_sessions
from datamint.server.auth.service import Principal, authenticate
from datamint.server.config import Settings
from datamint.server.db import unit_of_work
from datamint.server.errors import AuthenticationFailedError
from datamint.server.transport.clients import scope_client_address

if TYPE_CHECKING:
    from datamint.server.jobs.runtime import JobRuntime
    from datamint.server.resources.volume_cache import VolumeCache
    from datamint.server.storage.base import BlobStore


# The three dependencies below are ``async``: FastAPI runs sync dependencies through the thread
# pool, and those hops were a large share of the event loop's time per request under concurrent
# uploads. A session connects lazily and closing an idle one is instant; the writes a read causes
# (``unit_of_work.after_read``: the event of an audited download...) still go to the thread pool.
async def _session(request: Request) -> AsyncIterator[Session]:
    session = request.app.state.database.session()
    recorder.begin(session, request.scope)
    try:
        yield session
        recorder.record_read(session)
        if unit_of_work.has_after_read(session):
            await run_in_threadpool(unit_of_work.run_after_read, session)
    finally:
        session.rollback()
        session.close()


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _blob_store(request: Request) -> BlobStore:
    return request.app.state.blob_store


async def _volume_cache(request: Request) -> VolumeCache:
    return request.app.state.volume_cache


async def _jobs(request: Request) -> JobRuntime:
    return request.app.state.jobs


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
    """The address failed authentications are counted under (see ``auth.throttle``): the peer, or
    the client a trusted proxy names in ``X-Forwarded-For`` (``transport.clients``)."""
    return scope_client_address(request.scope, request.app.state.trusted_proxies)


#: The request's session. It ends when the route function returns, before the response is sent:
#: the writes the read caused (``unit_of_work.after_read``, among them the event of an audited
#: read) run then, each in its own short transaction, so a client never sees its answer before the
#: audit event. A route that raised drops them.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


async def _unit_of_work(session: SessionDep) -> AsyncIterator[Session]:
    try:
        yield session
    except BaseException:
        await run_in_threadpool(unit_of_work.abandon, session)
        raise
    await run_in_threadpool(unit_of_work.commit, session)


#: The request's session as a unit of work: it commits once, after the route function returned
#: without error (and before the response is sent), then runs the ``unit_of_work.after_commit``
#: callbacks, then its ``unit_of_work.after_read`` writes (as :data:`SessionDep` does). A route that
#: raises commits nothing (its ``unit_of_work.on_abandon`` callbacks undo what it did outside the
#: database). Routes that change data take this instead of :data:`SessionDep` and never call
#: ``session.commit()``; it is the same session the caller was authenticated with, so the audit
#: event is written in the same transaction.
UnitOfWork = Annotated[Session, Depends(_unit_of_work, scope="function")]


async def _principal(request: Request, session: SessionDep) -> Principal:
    """The caller, as the request gate authenticated it before the body was read
    (``transport.gate``); authenticated here only when the gate did not (an app without it)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, request, session)
    request.state.user_email = principal.email
    request.state.customer_id = principal.customer_id
    recorder.set_actor(session, principal.user_id, principal.email, principal.customer_id)
    return principal


def _authenticate(request: Request, session: Session) -> Principal:
    """The caller: from its API key, else from the web app's session cookie (CSRF checked on writes)."""
    guard = request.app.state.auth_guard
    client = client_address(request)
    guard.check(client)
    key = api_key_from_headers(request)
    cookie = request.cookies.get(web_sessions.COOKIE_NAME)
    try:
        if key is None and cookie:
            principal = web_sessions.authenticate_cookie(session, cookie, request.method,
                                                         request.headers.get(web_sessions.CSRF_HEADER))
        else:
            principal = authenticate(session, key)
    except AuthenticationFailedError:
        guard.record_failure(client)
        raise
    return principal


SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated["BlobStore", Depends(_blob_store)]
#: The viewer's cache of decoded volumes (``resources.volume_cache``).
VolumeCacheDep = Annotated["VolumeCache", Depends(_volume_cache)]
#: The process's jobs runtime (``jobs.service.submit`` sends new jobs through it).
JobsDep = Annotated["JobRuntime", Depends(_jobs)]
CurrentUser = Annotated[Principal, Depends(_principal)]

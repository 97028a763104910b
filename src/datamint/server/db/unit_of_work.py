"""A request (or any block of work) is one unit of work: it commits once, when it ends without error.

The reusable pieces:

* :func:`commit` ends a unit of work: it flushes and commits the session, turning an integrity
  error (a constraint the database holds, such as a unique name) into a 409 instead of a 500.
  ``deps.UnitOfWork`` calls it after the route function returned; routes never commit.
* :func:`after_commit` registers work that must happen only once the unit's changes are durable
  and visible to other processes: sending a job id to the queue, deleting blobs that a committed
  delete orphaned. The callbacks run after the commit, in order; if the unit rolls back they are
  dropped. A savepoint (``begin_nested``) is no commit: its release runs nothing, and its rollback
  drops the callbacks registered inside it only. A failing callback is logged, not raised: the
  commit already happened, and whatever the callback was for must be recoverable from the database
  (the jobs sweeper re-sends queued jobs).
* :func:`on_abandon` registers the undo of work done outside the database (blobs a failed request
  wrote); :func:`abandon` ends a unit of work that failed: it rolls back and runs those callbacks.
  ``deps.UnitOfWork`` calls it when the route raises or the commit fails.
* :func:`after_read` registers a write that a read causes (an API key's "last used" time, the
  audit event of a download) to run once the request's answer is built, each in a short
  transaction of its own (:func:`write_apart`), never on the request's session: a read never
  commits in the middle of its request. ``deps`` runs them (:func:`run_after_read`) when the
  route returned without error; the request gate runs those of its own authentication session.

:func:`install` attaches the callbacks to every session of a :class:`~datamint.server.db.session.Database`
and lets each of its sessions open a sibling for :func:`after_read` writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from datamint.server.errors import ConflictError, describe_database_error

_LOG = logging.getLogger("datamint.server.db")
_KEY = "after_commit"
_ABANDON_KEY = "on_abandon"
_AFTER_READ_KEY = "after_read"
_FACTORY_KEY = "session_factory"
#: Per open savepoint of a session, how many after-commit callbacks were waiting when it began.
_MARKS_KEY = "after_commit_marks"

#: A write done apart from the request: it gets its own session and returns nothing useful.
Write = Callable[[Session], object]


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's current transaction has committed (never if it rolls back).

    Args:
        session: The unit of work's session.
        callback: A function without arguments.
    """
    session.info.setdefault(_KEY, []).append(callback)


def commit_early(session: Session) -> None:
    """Commit what the unit of work holds so far, keeping its callbacks for its final commit.

    Only for what must be durable before the request goes on: the intent rows of crash-safe
    uploads, committed before their blobs are written (the janitor removes the blobs of intents a
    crash left behind). Everything else commits once, at the end of the unit.
    """
    waiting = session.info.pop(_KEY, [])
    try:
        session.commit()
    finally:
        session.info[_KEY] = waiting + session.info.get(_KEY, [])


def on_abandon(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` if the unit of work ends without committing (see :func:`abandon`).

    Args:
        session: The unit of work's session.
        callback: A function without arguments; it may use ``session`` (rolled back by then).
    """
    session.info.setdefault(_ABANDON_KEY, []).append(callback)


def abandon(session: Session) -> None:
    """End a unit of work that failed: roll back, drop its :func:`after_commit` callbacks and run
    its :func:`on_abandon` callbacks (a failing one is logged; the others still run)."""
    session.rollback()
    session.info.pop(_KEY, None)
    for callback in session.info.pop(_ABANDON_KEY, []):
        try:
            callback()
        except Exception:  # noqa: BLE001 - the request already failed; leftovers are swept later
            _LOG.exception("on-abandon callback %r failed", callback)


def commit(session: Session) -> None:
    """Commit the unit of work held by ``session`` (on failure it is :func:`abandon`-ed).

    Raises:
        ConflictError: A database constraint rejected the changes (409; the session is rolled back).
    """
    try:
        session.commit()
    except IntegrityError as exc:
        abandon(session)
        _LOG.info("unit of work rejected by a constraint: %s", describe_database_error(exc))
        raise ConflictError("The change conflicts with another one made at the same time; reload and try again")
    except BaseException:
        abandon(session)
        raise
    session.info.pop(_ABANDON_KEY, None)


def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """At a savepoint's start, note how many callbacks are waiting (those registered inside it are
    dropped if it rolls back)."""
    if transaction.nested:
        session.info.setdefault(_MARKS_KEY, {})[transaction] = len(session.info.get(_KEY, []))


def _run_callbacks(session: Session) -> None:
    # SQLAlchemy sends after_commit for a savepoint's release too (begin_nested), before the unit
    # has committed: its callbacks wait for the unit's own commit (a job sent then would be dropped
    # by a worker that cannot see its row yet; a blob deleted then would be lost with a rollback).
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        session.info.get(_MARKS_KEY, {}).pop(savepoint, None)
        return
    session.info.pop(_MARKS_KEY, None)
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit happened; the database lets the work be redone
            _LOG.exception("after-commit callback %r failed", callback)


def _drop_callbacks(session: Session) -> None:
    # A savepoint rolled back drops only the callbacks registered inside it; the unit goes on.
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        mark = session.info.get(_MARKS_KEY, {}).pop(savepoint, None)
        if mark is not None:
            del session.info.get(_KEY, [])[mark:]
        return
    session.info.pop(_MARKS_KEY, None)
    session.info.pop(_KEY, None)


class _AfterRead(NamedTuple):
    write: Write
    required: bool


def after_read(session: Session, write: Write, *, required: bool = False) -> None:
    """Do ``write`` after the request's answer is built, in a short transaction of its own.

    For the writes a read causes, which are no part of its answer: without this the read would
    commit its request's session in the middle of the request (and a unit of work would commit
    before its end).

    When: :func:`run_after_read` runs them in the order registered, after the request's own
    transaction ended (committed, or rolled back for a read) and before the response is sent. If
    the route raised they are dropped, like :func:`after_commit` callbacks.

    Where: each gets a new session (:func:`write_apart`), never the request's, so that it neither
    sees nor commits the request's changes. Give it plain values (ids, texts, times), not rows
    loaded by the request's session.

    Failure: a failing write is rolled back as a whole; nothing of it is kept. A best-effort write
    (the default) is logged and the request answers as if it had never been asked for. A
    ``required`` one (the audit event of an audited read) fails the request instead: it answers
    500 and the client gets none of the data.

    Concurrency: two requests may run the same write at once, in any order. Make the database
    hold what must stay true: an ``UPDATE`` whose ``WHERE`` only matches rows still to change, or
    an ``INSERT`` that a unique constraint refuses for the second writer (:func:`write_apart`
    takes that refusal as "already done"). Never a read-then-insert in Python.

    Args:
        session: The request's session.
        write: ``(session) -> anything``: the statements to run; it must not commit.
        required: Whether the request fails when the write does.
    """
    session.info.setdefault(_AFTER_READ_KEY, []).append(_AfterRead(write, required))


def has_after_read(session: Session) -> bool:
    """Whether ``session`` holds :func:`after_read` writes still to run."""
    return bool(session.info.get(_AFTER_READ_KEY))


def run_after_read(session: Session) -> None:
    """Run the :func:`after_read` writes of ``session``, whose own work is over.

    Whatever ``session`` still holds is rolled back first (nothing after a unit of work's commit;
    the snapshot of a read), so the writes run while the request holds no connection.

    Raises:
        Exception: What a ``required`` write raised (the writes after it do not run).
    """
    writes: list[_AfterRead] = session.info.pop(_AFTER_READ_KEY, [])
    session.rollback()
    if not writes:
        return
    open_session = sessions_beside(session)
    for item in writes:
        if item.required:
            write_apart(open_session, item.write)
            continue
        try:
            write_apart(open_session, item.write)
        except Exception:  # noqa: BLE001 - best effort: the read's answer stands without it
            _LOG.exception("after-read write %r failed; the read answers without it", item.write)


def sessions_beside(session: Session) -> Callable[[], Session]:
    """Opens new sessions like ``session`` (from its factory), for :func:`write_apart`."""
    return session.info.get(_FACTORY_KEY) or sessionmaker(session.get_bind())


def write_apart(open_session: Callable[[], Session], write: Write) -> bool:
    """Run ``write`` in a short transaction of its own, on a new session from ``open_session``.

    Returns:
        ``True`` when it committed; ``False`` when a database constraint refused it (an integrity
        error: another writer did the same first), after a rollback that leaves nothing of it.

    Raises:
        Exception: What ``write`` or the commit raised (the transaction is rolled back).
    """
    with open_session() as session:
        try:
            write(session)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            _LOG.debug("write %r refused by a constraint (done by another writer): %s", write,
                       describe_database_error(exc))
            return False
        except BaseException:
            session.rollback()
            raise
    return True


def install(factory: sessionmaker[Session]) -> None:
    """Run :func:`after_commit` callbacks for every session ``factory`` makes, and let its sessions
    open siblings for :func:`after_read` writes (idempotent)."""
    factory.kw.setdefault("info", {})[_FACTORY_KEY] = factory
    if not event.contains(factory, "after_commit", _run_callbacks):
        event.listen(factory, "after_transaction_create", _mark_savepoint)
        event.listen(factory, "after_commit", _run_callbacks)
        event.listen(factory, "after_rollback", _drop_callbacks)

"""A request (or any block of work) is one unit of work: it commits once, when it ends without error.

Two reusable pieces:

* :func:`commit` ends a unit of work: it flushes and commits the session, turning an integrity
  error (a constraint the database holds, such as a unique name) into a 409 instead of a 500.
  ``deps.UnitOfWork`` calls it after the route function returned; routes never commit.
* :func:`after_commit` registers work that must happen only once the unit's changes are durable
  and visible to other processes: sending a job id to the queue, deleting blobs that a committed
  delete orphaned. The callbacks run after the commit, in order; if the unit rolls back they are
  dropped. A failing callback is logged, not raised: the commit already happened, and whatever the
  callback was for must be recoverable from the database (the jobs sweeper re-sends queued jobs).
* :func:`on_abandon` registers the undo of work done outside the database (blobs a failed request
  wrote); :func:`abandon` ends a unit of work that failed: it rolls back and runs those callbacks.
  ``deps.UnitOfWork`` calls it when the route raises or the commit fails.

:func:`install` attaches the callbacks to every session of a :class:`~datamint.server.db.session.Database`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from datamint.server.errors import ConflictError, describe_database_error

_LOG = logging.getLogger("datamint.server.db")
_KEY = "after_commit"
_ABANDON_KEY = "on_abandon"


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


def _run_callbacks(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit happened; the database lets the work be redone
            _LOG.exception("after-commit callback %r failed", callback)


def _drop_callbacks(session: Session) -> None:
    session.info.pop(_KEY, None)


def install(factory: sessionmaker[Session]) -> None:
    """Run :func:`after_commit` callbacks for every session ``factory`` makes (idempotent)."""
    if not event.contains(factory, "after_commit", _run_callbacks):
        event.listen(factory, "after_commit", _run_callbacks)
        event.listen(factory, "after_rollback", _drop_callbacks)

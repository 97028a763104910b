"""Job kinds: what each kind of job runs, registered by the area that owns the work.

An area plugs a kind in when its module is imported::

    from datamint.server.jobs import registry

    def build(ctx: JobContext) -> dict | None:
        ...

    registry.register("datasets.version", build, cleanup=remove_partial_copies)

Kinds are named ``<area>.<verb>`` (``datasets.version``, ``models.deploy``, ``inference.run``,
``formats.export``). The server and every ``datamint server worker`` import the same modules
(through ``datamint.server.app``), so both know the same kinds; modules outside Datamint are
loaded with ``datamint server worker --import MODULE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datamint.server.jobs.context import JobContext

Handler = Callable[["JobContext"], "dict[str, Any] | None"]
Cleanup = Callable[["JobContext"], None]


@dataclass(frozen=True)
class JobKind:
    """A registered kind of job.

    Attributes:
        name: ``<area>.<verb>``.
        handler: Runs the job. It reports progress and checks for cancellation through its
            context, and returns the job's result (a JSON-serialisable dict) or ``None``. It must
            be idempotent: after a crash it runs again from the start (or from what it saved with
            ``ctx.save_checkpoint``), and must not duplicate what the crashed attempt committed.
        cleanup: Called once when a job of this kind ends ``failed`` or ``cancelled`` (also when
            its worker died on the last attempt): removes what the attempts left behind, e.g.
            blobs written before a commit that never happened (see ``ctx.checkpoint``).
        max_attempts: Runs allowed when workers die mid-job (a handler's own error fails the job
            at once: running it again would fail again).
        description: One line for ``docs`` and ``--help``.
    """

    name: str
    handler: Handler
    cleanup: Cleanup | None = None
    max_attempts: int = 3
    description: str = ""


_KINDS: dict[str, JobKind] = {}


def register(name: str, handler: Handler, *, cleanup: Cleanup | None = None, max_attempts: int = 3,
             description: str = "") -> JobKind:
    """Register (or replace) the job kind ``name``.

    Args:
        name: ``<area>.<verb>``.
        handler: The function that runs a job of this kind.
        cleanup: Removes leftovers of a failed or cancelled job.
        max_attempts: Runs allowed when workers die mid-job (at least 1).
        description: One line saying what the job does.

    Returns:
        The registered kind.

    Raises:
        ValueError: Bad name or ``max_attempts``.
    """
    if "." not in name or len(name) > 64:
        raise ValueError(f"Job kind {name!r}: use '<area>.<verb>', at most 64 characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    kind = JobKind(name, handler, cleanup, max_attempts, description)
    _KINDS[name] = kind
    return kind


def get(name: str) -> JobKind | None:
    """The kind ``name``, or ``None`` when no imported module registered it."""
    return _KINDS.get(name)


def names() -> list[str]:
    """Every registered kind, sorted."""
    return sorted(_KINDS)

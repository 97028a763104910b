"""Building a dataset version in steps, so that a background job can report progress, be cancelled
between steps, and keep its final write transaction short.

1. :func:`hash_pending_resources`: hash the resources never hashed before, a few per transaction
   (digests are facts about immutable bytes: committing them early is right whatever happens next).
2. :func:`masks_to_copy` + :func:`copy_mask`: copy new masks to their content-addressed keys
   before the final transaction (the caller records the keys first, so that a failed or crashed
   build can remove them: :func:`remove_unrecorded`).
3. ``service.create_version``: one transaction that freezes everything (now cheap: digests known,
   masks already copied).

The steps are idempotent: a build that crashed and runs again skips what is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from sqlalchemy.orm import Session

from datamint.server.datasets import repository as repo
from datamint.server.datasets import snapshot as snap
from datamint.server.datasets.models import ResourceDigest
from datamint.server.db import unit_of_work
from datamint.server.errors import NotFoundError
from datamint.server.projects.models import Project
from datamint.server.resources import repository as resources_repo
from datamint.server.storage.base import BlobNotFoundError, BlobStore

#: Resources hashed per committed transaction.
DIGEST_BATCH = 20


def unhashed_resources(session: Session, project: Project) -> list[tuple[str, str, str]]:
    """``(id, filename, blob key)`` of the project's live resources that have no digest yet."""
    resources = list(resources_repo.project_resources(session, project.id))
    known = repo.digests(session, [r.id for r in resources])
    return [(r.id, r.filename, r.location) for r in resources if r.id not in known]


def hash_pending_resources(open_session: Callable[[], Session], store: BlobStore,
                           pending: Sequence[tuple[str, str, str]], on_progress: Callable[[int, int], None]) -> None:
    """Hash ``pending`` resources and record their digests, committing every :data:`DIGEST_BATCH`.

    Args:
        open_session: Returns a new session (each batch commits its own).
        store: The blob store.
        pending: From :func:`unhashed_resources`.
        on_progress: Called with ``(done, total)`` after each resource; it may raise to stop.

    Raises:
        NotFoundError: A resource's bytes are missing from storage.
    """
    total = len(pending)
    for start in range(0, total, DIGEST_BATCH):
        batch = pending[start:start + DIGEST_BATCH]
        rows = []
        for i, (resource_id, filename, key) in enumerate(batch, start=start + 1):
            try:
                sha, size = snap.sha256_of(store, key)
            except BlobNotFoundError:
                raise NotFoundError("Resource file", f"Resource file not found: the bytes of {filename!r} "
                                    f"({resource_id}) are missing from storage")
            rows.append(ResourceDigest(resource_id=resource_id, sha256=sha, size=size))
            on_progress(i, total)
        # A batch hashed at the same time by another build is refused by the digests' primary key:
        # the same facts, already there.
        unit_of_work.write_apart(open_session, partial(_record_new, digests=rows))


def _record_new(session: Session, digests: list[ResourceDigest]) -> None:
    known = repo.digests(session, [d.resource_id for d in digests])
    session.add_all(d for d in digests if d.resource_id not in known)


def masks_to_copy(session: Session, store: BlobStore, customer_id: str, project: Project) -> list[tuple[str, str]]:
    """``(mask key, content key)`` of the live masks whose content the organization does not hold yet."""
    snapshot = snap.live_snapshot(session, store, project)
    plan: dict[str, tuple[str, str]] = {}
    candidates = [a for a in snapshot.annotations if a.mask_key]
    hashes = {}
    for entry in candidates:
        try:
            hashes[entry.id] = snap.sha256_of(store, entry.mask_key)[0]  # type: ignore[arg-type]
        except BlobNotFoundError:
            raise NotFoundError("Annotation file", f"Annotation file not found: the mask of annotation {entry.id} "
                                "is missing from storage")
    stored = repo.content_blobs(session, customer_id, list(hashes.values()))
    for entry in candidates:
        sha = hashes[entry.id]
        if sha not in stored and sha not in plan:
            plan[sha] = (entry.mask_key, snap.content_key(customer_id, sha, entry.mask_mimetype or ""))  # type: ignore[arg-type]
    return list(plan.values())


def copy_mask(store: BlobStore, source: str, target: str) -> None:
    """Copy one mask to its content key (nothing to do when it is there already)."""
    if not store.exists(target):
        store.copy(source, target)


def remove_unrecorded(session: Session, store: BlobStore, keys: Sequence[str]) -> list[str]:
    """Delete the content copies among ``keys`` that no version recorded; returns the deleted keys."""
    deleted = []
    for key in keys:
        if not repo.blob_key_in_use(session, key):
            store.delete(key)
            deleted.append(key)
    return deleted

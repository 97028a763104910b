"""Rules for datasets (wire §4.6) and their versions.

A dataset is the data of one project: its resources *are* the project's resources (one source of
truth, ``project_resources``), its name is the project's name, and it is visible to whoever sees
the project. ``DELETE /datasets/{id}`` therefore archives the owning project (restorable with
``POST /projects/{id}/restore``); versions are deleted one by one.

Versions are immutable snapshots (:mod:`.snapshot`), numbered 1, 2, ... per dataset and named
(``v<number>`` unless a name is given). A version reference is ``latest``, a number, or a name.
Reading a dataset needs ``project.read``; changing its resources, creating and deleting versions
``project.manage``; downloading its content (manifest, blobs, archives) ``project.export``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.common.values import small_number
from datamint.server.datasets import repository as repo
from datamint.server.datasets import snapshot as snap
from datamint.server.datasets.models import DatasetVersion, DatasetVersionAnnotation, DatasetVersionResource
from datamint.server.db import locks, unit_of_work
from datamint.server.db.base import iso
from datamint.server.db.session import Database
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.projects import repository as projects_repo
from datamint.server.projects import service as projects_service
from datamint.server.projects.models import Dataset, Project
from datamint.server.resources import membership
from datamint.server.storage.base import BlobStore

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")


def visible_dataset(session: Session, me: Principal, dataset_id: str,
                    action: policy.ProjectAction = policy.ProjectAction.READ) -> tuple[Dataset, Project]:
    """The dataset and its project when the caller may perform ``action`` on it.

    Raises:
        NotFoundError: No such dataset in the caller's organization, or the caller is neither a
            member of its project nor an admin.
        ForbiddenError: A member whose project roles do not grant ``action``.
    """
    found = repo.get_with_project(session, me.customer_id, check_uuid(dataset_id, "dataset"))
    if found is None:
        raise NotFoundError("Dataset")
    dataset, project = found
    member = projects_repo.get_member(session, project.id, me.user_id)
    roles = list(member.roles) if member else None
    if roles is None and not me.is_admin:
        raise NotFoundError("Dataset")
    policy.require_project(me, roles, action)
    return dataset, project


def to_wire_many(session: Session, pairs: list[tuple[Dataset, Project]]) -> list[dict[str, Any]]:
    """DatasetInfo dicts (wire §5.4) of several datasets; resources come in one query."""
    ids = repo.live_resource_ids(session, [p.id for _, p in pairs])
    return [dataset_info(d, p, ids[p.id]) for d, p in pairs]


def dataset_info(d: Dataset, p: Project, resource_ids: list[str]) -> dict[str, Any]:
    """DatasetInfo (wire §5.4) of a dataset whose resource ids are already known."""
    return {
        "id": d.id, "name": p.name, "description": p.description or d.description or "",
        "created_at": iso(d.created_at), "created_by": d.created_by, "customer_id": d.customer_id,
        "updated_at": iso(p.updated_at or d.updated_at), "total_resource": len(resource_ids),
        "resource_ids": resource_ids, "project_id": p.id, "archived": p.archived,
    }


def list_datasets(session: Session, me: Principal, include_archived: bool, offset: int, limit: int
                  ) -> tuple[list[dict[str, Any]], int]:
    """The datasets of the projects the caller sees, and their total."""
    policy.require(me, policy.Action.PROJECTS_READ)
    pairs, total = repo.list_datasets(session, me.customer_id, None if me.is_admin else me.user_id,
                                      include_archived, offset, limit)
    return to_wire_many(session, pairs), total


def get_dataset(session: Session, me: Principal, dataset_id: str) -> dict[str, Any]:
    """One dataset as DatasetInfo."""
    return to_wire_many(session, [visible_dataset(session, me, dataset_id)])[0]


def delete_dataset(session: Session, me: Principal, dataset_id: str) -> None:
    """Archive the project that owns the dataset (restorable; versions are kept)."""

    _, project = visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
    projects_service.archive_project(session, me, project.id)


def update_resources(session: Session, me: Principal, dataset_id: str, to_add: list[str], to_delete: list[str],
                     all_files_selected: bool, project_id: str | None) -> dict[str, Any]:
    """Add or remove resources of the dataset, i.e. of its project.

    Raises:
        ValidationFailedError: ``project_id`` names another project than the dataset's.
    """

    _, project = visible_dataset(session, me, dataset_id)
    if project_id is not None and check_uuid(project_id, "project") != project.id:
        raise ValidationFailedError(f"Dataset {dataset_id} belongs to project {project.id}, not {project_id}")
    result = membership.update_project_resources(session, me, project.id, to_add, to_delete, all_files_selected)
    return {**result, "dataset_id": dataset_id}


# -- versions ------------------------------------------------------------------------------------


def resolve_version(session: Session, dataset: Dataset, ref: str) -> DatasetVersion:
    """The version ``ref`` names: ``latest``, a number, or a name.

    Raises:
        NotFoundError: No such version (or the dataset has none, for ``latest``).
    """
    ref = str(ref).strip()
    if ref.lower() == "latest":
        version = repo.latest_version(session, dataset.id)
        if version is None:
            raise NotFoundError("Dataset version", "Dataset version not found: this dataset has no version yet; "
                                "create one with POST /datasets/{id}/versions")
        return version
    number = small_number(ref) if ref.isascii() else None  # a version number is written in ASCII digits
    version = repo.version_by_number(session, dataset.id, number) if number is not None else None
    version = version or repo.version_by_name(session, dataset.id, ref)
    if version is None:
        raise NotFoundError("Dataset version", f"Dataset version not found: {ref!r}")
    return version


def _check_name(name: str) -> str:
    name = name.strip()
    if not _NAME_RE.match(name) or name.isdigit() or name.lower() == "latest":
        raise ValidationFailedError(f"Invalid version name {name!r}: use 1-100 letters, digits, '.', '_', '-' or "
                                    "spaces, starting with a letter or digit; not only digits and not 'latest'")
    return name


def check_new_version(session: Session, me: Principal, dataset_id: str, name: str | None
                      ) -> tuple[Dataset, Project, str | None]:
    """Check that the caller may create a version of the dataset with this name (cleaned).

    Raises:
        NotFoundError / ForbiddenError: The caller may not manage the dataset.
        ValidationFailedError: Bad name.
        ConflictError: The name is taken (the existing version is attached).
    """
    dataset, project = visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
    name = _check_name(name) if name else None
    existing = repo.version_by_name(session, dataset.id, name) if name else None
    if existing is not None:
        raise ConflictError(f"Dataset version {name!r} already exists", existing=snap.version_to_wire(existing))
    return dataset, project, name


def _lock_and_check(session: Session, me: Principal, dataset_id: str, name: str | None
                    ) -> tuple[Dataset, Project, str | None]:
    """:func:`check_new_version` under the organization's content lock (held until the commit)."""
    dataset, project = visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
    lock_content(session, me.customer_id)
    return check_new_version(session, me, dataset_id, name)


def _default_name(session: Session, dataset_id: str, number: int) -> str:
    """``v<number>``, or ``v<number>-2``, ``-3``... when a version was explicitly given that name
    (called under the content lock, so no other version of the dataset is being written)."""
    name, suffix = f"v{number}", 1
    while repo.version_by_name(session, dataset_id, name) is not None:
        suffix += 1
        name = f"v{number}-{suffix}"
    return name


def create_version(session: Session, store: BlobStore, me: Principal, dataset_id: str, name: str | None,
                   description: str | None) -> snap.Snapshot:
    """Freeze the dataset's current content as a new version (the caller commits).

    Returns:
        The snapshot; its ``written`` blobs must be deleted if the commit fails.

    Raises:
        ConflictError: The name is taken (the existing version is attached).
        ValidationFailedError: Bad name.
    """
    dataset, project, name = _lock_and_check(session, me, dataset_id, name)
    snapshot = snap.live_snapshot(session, store, project)
    try:
        number = repo.take_number(session, dataset.id)
        name = name or _default_name(session, dataset.id, number)
        snap.freeze_masks(session, store, me.customer_id, snapshot)
        version = DatasetVersion(dataset_id=dataset.id, customer_id=me.customer_id, project_id=project.id,
                                 number=number, name=name, description=(description or "").strip(),
                                 created_by=me.email, resource_count=len(snapshot.resources),
                                 annotation_count=len(snapshot.annotations),
                                 total_size=sum(r.size for r in snapshot.resources),
                                 label_schema=snapshot.label_schema)
        session.add(version)
        session.flush()
        session.add_all(DatasetVersionResource(version_id=version.id, resource_id=r.id, position=i, sha256=r.sha256,
                                               size=r.size, blob_key=r.blob_key, data=r.data)
                        for i, r in enumerate(snapshot.resources))
        session.add_all(DatasetVersionAnnotation(version_id=version.id, annotation_id=a.id,
                                                 customer_id=me.customer_id, resource_id=a.resource_id, position=i,
                                                 data=a.data, mask_sha256=a.mask_sha256, mask_size=a.mask_size,
                                                 mask_mimetype=a.mask_mimetype)
                        for i, a in enumerate(snapshot.annotations))
        session.flush()
    except IntegrityError:
        discard_written(store, snapshot)
        raise ConflictError("Another version of this dataset was created at the same time; try again")
    except BaseException:
        discard_written(store, snapshot)
        raise
    snapshot.version = version
    return snapshot


def discard_written(store: BlobStore, snapshot: snap.Snapshot) -> None:
    """Delete the content blobs a failed version creation wrote."""
    for key in snapshot.written:
        store.delete(key)
    snapshot.written.clear()


def list_versions(session: Session, me: Principal, dataset_id: str, offset: int, limit: int
                  ) -> tuple[list[dict[str, Any]], int]:
    """A page of the dataset's versions, oldest first."""
    dataset, _ = visible_dataset(session, me, dataset_id)
    rows, total = repo.list_versions(session, dataset.id, offset, limit)
    return [snap.version_to_wire(v) for v in rows], total


def get_version(session: Session, me: Principal, dataset_id: str, ref: str) -> DatasetVersion:
    """One version of a visible dataset."""
    dataset, _ = visible_dataset(session, me, dataset_id)
    return resolve_version(session, dataset, ref)


def delete_version(session: Session, me: Principal, dataset_id: str, ref: str) -> list[str]:
    """Delete a version (the caller commits); returns the keys of content blobs no version needs
    any more, to delete from the store after the commit."""
    dataset, _ = visible_dataset(session, me, dataset_id, policy.ProjectAction.MANAGE)
    lock_content(session, me.customer_id)
    version = resolve_version(session, dataset, ref)
    hashes = repo.version_mask_hashes(session, version.id)
    session.delete(version)
    session.flush()
    orphans = repo.unreferenced_blobs(session, me.customer_id, hashes)
    keys = [b.blob_key for b in orphans]
    for blob in orphans:
        session.delete(blob)
    return keys


def lock_content(session: Session, customer_id: str) -> None:
    """Serialize the changes of an organization's version content until the transaction ends:
    version numbers and names, resource digests and the content blobs versions share (a version
    being created never reuses a blob that a version being deleted is about to remove)."""
    locks.serialize(session, "dataset-content", customer_id)


def delete_unused_blobs(session: Session, store: BlobStore, customer_id: str, keys: list[str]) -> None:
    """After :func:`delete_version` committed: delete its orphaned content blobs from the store,
    except those a version created meanwhile recorded again. Runs in a transaction of its own
    under :func:`lock_content`, which it ends."""
    if not keys:
        return
    try:
        lock_content(session, customer_id)
        for key in keys:
            if not repo.blob_key_in_use(session, key):
                store.delete(key)
    finally:
        session.rollback()


def delete_unused_blobs_after_commit(session: Session, database: Database, store: BlobStore, customer_id: str,
                                     keys: list[str]) -> None:
    """Once the unit of work of ``session`` (which deleted a version) has committed, run
    :func:`delete_unused_blobs` in a session of its own."""
    def run() -> None:
        with database.session() as own:
            delete_unused_blobs(own, store, customer_id, keys)

    if keys:
        unit_of_work.after_commit(session, run)


def live_resources_body(session: Session, me: Principal, dataset_id: str) -> Iterator[bytes]:
    """The resources of the dataset now (its project's live resources), as the pieces of the JSON
    text of a bare array: the streamed body of ``GET /projects/{id}/resources``
    (:func:`.membership.project_resources_body`: checks now, writes the pieces as they are sent)."""
    _, project = visible_dataset(session, me, dataset_id)
    return membership.project_resources_body(session, me, project.id)


def version_resources(session: Session, me: Principal, dataset_id: str, version: str) -> list[dict[str, Any]]:
    """The resources of one version of the dataset, as frozen, with their ``sha256``."""
    dataset, _ = visible_dataset(session, me, dataset_id)
    frozen = resolve_version(session, dataset, version)
    return [{**r.data, "sha256": r.sha256} for r in repo.version_resources(session, frozen.id)]


def manifest(session: Session, me: Principal, dataset_id: str, ref: str) -> dict[str, Any]:
    """The manifest (resources with hashes, annotations with mask hashes, label schema) of a version."""
    dataset, project = visible_dataset(session, me, dataset_id, policy.ProjectAction.EXPORT)
    snapshot = snap.version_snapshot(session, resolve_version(session, dataset, ref))
    return snap.manifest(snapshot, dataset_info(dataset, project, [r.id for r in snapshot.resources]))


def version_blob(session: Session, me: Principal, dataset_id: str, ref: str, sha256: str) -> tuple[str, int, str]:
    """``(blob key, size, mimetype)`` of a resource file or mask held by a version, by its hash."""
    dataset, _ = visible_dataset(session, me, dataset_id, policy.ProjectAction.EXPORT)
    version = resolve_version(session, dataset, ref)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise ValidationFailedError(f"Invalid SHA-256 {sha256!r}: expected 64 lowercase hex digits")
    found = repo.version_blob(session, version, sha256)
    if found is None:
        raise NotFoundError("Blob", f"Blob not found: version {version.name!r} holds no file with hash {sha256}")
    return found

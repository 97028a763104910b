"""SQL for datasets: visibility through projects, versions and their entries, content blobs,
resource digests, download tokens and project splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from datamint.server.datasets.models import (
    ContentBlob,
    DatasetVersion,
    DatasetVersionAnnotation,
    DatasetVersionCounter,
    DatasetVersionResource,
    DownloadToken,
    ProjectResourceSplit,
    ResourceDigest,
)
from datamint.server.projects.models import Dataset, Project, ProjectMember
from datamint.server.resources.models import ProjectResource, Resource

_CHUNK = 500  # ids per IN (...) list


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


# -- datasets ------------------------------------------------------------------------------------


def _visible(customer_id: str, user_id: str | None, include_archived: bool) -> Select[tuple[Dataset, Project]]:
    stmt = (select(Dataset, Project).join(Project, Project.dataset_id == Dataset.id)
            .where(Dataset.customer_id == customer_id))
    if not include_archived:
        stmt = stmt.where(Project.archived.is_(False))
    if user_id is not None:
        stmt = stmt.where(Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)))
    return stmt


def list_datasets(session: Session, customer_id: str, user_id: str | None, include_archived: bool, offset: int,
                  limit: int) -> tuple[list[tuple[Dataset, Project]], int]:
    """One page of (dataset, project) pairs a caller can see, oldest first, and their total.

    Args:
        user_id: Only datasets of projects this user is a member of; ``None`` for all (admins).
    """
    stmt = _visible(customer_id, user_id, include_archived)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Dataset.created_at, Dataset.id).offset(offset).limit(limit)).all()
    return [(d, p) for d, p in rows], total


def get_with_project(session: Session, customer_id: str, dataset_id: str) -> tuple[Dataset, Project] | None:
    """The dataset of this organization with this id and the project that owns it."""
    row = session.execute(select(Dataset, Project).join(Project, Project.dataset_id == Dataset.id)
                          .where(Dataset.id == dataset_id, Dataset.customer_id == customer_id)).first()
    return (row[0], row[1]) if row else None


def live_resource_ids(session: Session, project_ids: Sequence[str]) -> dict[str, list[str]]:
    """Ids of the live (not deleted) resources of each project, oldest first."""
    out: dict[str, list[str]] = {pid: [] for pid in project_ids}
    if not project_ids:
        return out
    rows = session.execute(select(ProjectResource.project_id, ProjectResource.resource_id)
                           .join(Resource, Resource.id == ProjectResource.resource_id)
                           .where(ProjectResource.project_id.in_(list(project_ids)), Resource.deleted.is_(False))
                           .order_by(Resource.created_at, Resource.id))
    for pid, rid in rows:
        out[pid].append(rid)
    return out


# -- digests -------------------------------------------------------------------------------------


def digests(session: Session, resource_ids: Sequence[str]) -> dict[str, ResourceDigest]:
    """The known digests of these resources."""
    found: dict[str, ResourceDigest] = {}
    for chunk in _chunks(resource_ids):
        found.update({d.resource_id: d for d in session.scalars(
            select(ResourceDigest).where(ResourceDigest.resource_id.in_(chunk)))})
    return found


# -- versions ------------------------------------------------------------------------------------


def list_versions(session: Session, dataset_id: str, offset: int, limit: int) -> tuple[list[DatasetVersion], int]:
    """One page of a dataset's versions, oldest first, and their total."""
    stmt = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(DatasetVersion.number).offset(offset).limit(limit)).all()
    return list(rows), total


def version_by_number(session: Session, dataset_id: str, number: int) -> DatasetVersion | None:
    """The version with this number."""
    return session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                                       DatasetVersion.number == number))


def version_by_name(session: Session, dataset_id: str, name: str) -> DatasetVersion | None:
    """The version with this name."""
    return session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                                       DatasetVersion.name == name))


def latest_version(session: Session, dataset_id: str) -> DatasetVersion | None:
    """The version with the highest number."""
    return session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
                          .order_by(DatasetVersion.number.desc()).limit(1))


def take_number(session: Session, dataset_id: str) -> int:
    """Reserve the next version number of a dataset (never reused, even after deletions)."""
    counter = session.get(DatasetVersionCounter, dataset_id, with_for_update=True)
    if counter is None:
        counter = DatasetVersionCounter(dataset_id=dataset_id, last_number=0)
        session.add(counter)
    counter.last_number += 1
    session.flush()
    return counter.last_number


def version_resources(session: Session, version_id: str) -> list[DatasetVersionResource]:
    """The resources of a version, in order."""
    return list(session.scalars(select(DatasetVersionResource).where(DatasetVersionResource.version_id == version_id)
                                .order_by(DatasetVersionResource.position)))


def version_annotations(session: Session, version_id: str) -> list[DatasetVersionAnnotation]:
    """The annotations of a version, in order."""
    return list(session.scalars(select(DatasetVersionAnnotation)
                                .where(DatasetVersionAnnotation.version_id == version_id)
                                .order_by(DatasetVersionAnnotation.position)))


def version_mask_hashes(session: Session, version_id: str) -> list[str]:
    """The distinct hashes of the masks a version holds."""
    return list(session.scalars(select(DatasetVersionAnnotation.mask_sha256).distinct().where(
        DatasetVersionAnnotation.version_id == version_id, DatasetVersionAnnotation.mask_sha256.is_not(None))))


def version_blob(session: Session, version: DatasetVersion, sha256: str) -> tuple[str, int, str] | None:
    """``(blob key, size, mimetype)`` of a blob the version holds (a resource's bytes or a mask)."""
    entry = session.scalar(select(DatasetVersionResource).where(DatasetVersionResource.version_id == version.id,
                                                                 DatasetVersionResource.sha256 == sha256).limit(1))
    if entry is not None:
        return entry.blob_key, entry.size, str(entry.data.get("mimetype") or "application/octet-stream")
    held = session.scalar(select(func.count()).where(DatasetVersionAnnotation.version_id == version.id,
                                                     DatasetVersionAnnotation.mask_sha256 == sha256))
    if not held:
        return None
    blob = session.get(ContentBlob, (version.customer_id, sha256))
    return (blob.blob_key, blob.size, blob.mimetype) if blob else None


# -- content blobs -------------------------------------------------------------------------------


def content_blobs(session: Session, customer_id: str, hashes: Sequence[str]) -> dict[str, ContentBlob]:
    """The stored content blobs among ``hashes``."""
    found: dict[str, ContentBlob] = {}
    for chunk in _chunks(list(dict.fromkeys(hashes))):
        found.update({b.sha256: b for b in session.scalars(
            select(ContentBlob).where(ContentBlob.customer_id == customer_id, ContentBlob.sha256.in_(chunk)))})
    return found


def blob_key_in_use(session: Session, blob_key: str) -> bool:
    """Whether a content blob row points at this stored key."""
    return session.scalar(select(ContentBlob.sha256).where(ContentBlob.blob_key == blob_key).limit(1)) is not None


def unreferenced_blobs(session: Session, customer_id: str, hashes: Sequence[str]) -> list[ContentBlob]:
    """Content blobs among ``hashes`` that no version references any more."""
    if not hashes:
        return []
    referenced = (select(DatasetVersionAnnotation.mask_sha256)
                  .where(DatasetVersionAnnotation.customer_id == customer_id,
                         DatasetVersionAnnotation.mask_sha256.in_(list(hashes))))
    return list(session.scalars(select(ContentBlob).where(ContentBlob.customer_id == customer_id,
                                                          ContentBlob.sha256.in_(list(hashes)),
                                                          ContentBlob.sha256.not_in(referenced))))


# -- download tokens -----------------------------------------------------------------------------


def redeem_token(session: Session, token_hash: str, now: datetime) -> bool:
    """Mark a token used, atomically; False when it was already used (or does not exist)."""
    result = session.execute(update(DownloadToken)
                             .where(DownloadToken.token_hash == token_hash, DownloadToken.used_at.is_(None))
                             .values(used_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def purge_tokens(session: Session, before: datetime) -> None:
    """Delete tokens that expired before ``before``."""
    session.execute(delete(DownloadToken).where(DownloadToken.expires_at < before))


# -- splits --------------------------------------------------------------------------------------


def _active_at(when: datetime | None):  # type: ignore[no-untyped-def]
    if when is None:
        return ProjectResourceSplit.deleted_at.is_(None)
    return and_(ProjectResourceSplit.created_at <= when,
                or_(ProjectResourceSplit.deleted_at.is_(None), ProjectResourceSplit.deleted_at > when))


def list_splits(session: Session, project_id: str, split_name: str | None, as_of: datetime | None
                ) -> list[ProjectResourceSplit]:
    """The split assignments of a project that were in force at ``as_of`` (now when ``None``)."""
    stmt = select(ProjectResourceSplit).where(ProjectResourceSplit.project_id == project_id, _active_at(as_of))
    if split_name is not None:
        stmt = stmt.where(ProjectResourceSplit.split_name == split_name)
    return list(session.scalars(stmt.order_by(ProjectResourceSplit.created_at, ProjectResourceSplit.id)))


def active_splits(session: Session, project_id: str, resource_ids: Sequence[str]) -> dict[str, ProjectResourceSplit]:
    """The current assignment of each of these resources in a project."""
    found: dict[str, ProjectResourceSplit] = {}
    for chunk in _chunks(resource_ids):
        found.update({s.resource_id: s for s in session.scalars(
            select(ProjectResourceSplit).where(ProjectResourceSplit.project_id == project_id,
                                               ProjectResourceSplit.resource_id.in_(chunk), _active_at(None)))})
    return found


def project_resource_ids(session: Session, project_id: str, resource_ids: Sequence[str]) -> set[str]:
    """Which of these resources belong to the project."""
    found: set[str] = set()
    for chunk in _chunks(resource_ids):
        found.update(session.scalars(select(ProjectResource.resource_id).where(
            ProjectResource.project_id == project_id, ProjectResource.resource_id.in_(chunk))))
    return found

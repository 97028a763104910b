"""What an export reads: the resources in scope and their annotations, resource by resource.

The annotations are streamed from the database in batches (``yield_per``), ordered by resource,
so a writer holds one resource's annotations at a time and memory stays flat however many
annotations the export has. The resources in scope are read first (ids, names, sizes and patient
ids only), since every format lists them and the optional split needs them all.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from datamint.server.annotations.models import Annotation
from datamint.server.datasets.models import (
    ContentBlob,
    DatasetVersion,
    DatasetVersionAnnotation,
    DatasetVersionResource,
    ProjectResourceSplit,
)
from datamint.server.db.session import Database
from datamint.server.errors import ValidationFailedError
from datamint.server.resources.models import Resource
from datamint.server.workflow.scope import Scope

_BATCH = 2000
MAX_SPLITS = 10


@dataclass
class Filters:
    """Which annotations an export takes (empty lists: no filter)."""

    annotators: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    include_model: bool = True

    @classmethod
    def of(cls, params: dict[str, Any]) -> Filters:
        """From a job's parameters."""
        return cls(**{k: params[k] for k in ("annotators", "statuses", "labels", "resource_ids", "splits",
                                            "include_model") if params.get(k) is not None})


@dataclass(frozen=True)
class ResourceInfo:
    """One resource of the export."""

    id: str
    filename: str
    mimetype: str
    location: str
    metadata: dict[str, Any]
    patient_id: str | None
    instance_uid: str | None
    modality: str | None = None
    series_uid: str | None = None

    @property
    def width(self) -> int:
        """Columns (0 when unknown)."""
        return int(self.metadata.get("width") or 0)

    @property
    def height(self) -> int:
        """Rows (0 when unknown)."""
        return int(self.metadata.get("height") or 0)

    @property
    def frames(self) -> int:
        """Frames (at least 1)."""
        return max(int(self.metadata.get("frame_count") or 1), 1)

    @property
    def stem(self) -> str:
        """A file-system-safe name for files derived from the resource (its id keeps it unique)."""
        base = self.filename.replace("\\", "/").rsplit("/", 1)[-1]
        for suffix in (".nii.gz", ".nii", ".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mp4"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in base)[:80].strip("._") or "resource"
        return f"{safe}_{self.id[:8]}"


def resources(session: Session, scope: Scope, filters: Filters) -> list[ResourceInfo]:
    """The live resources in scope, by id (filtered by ``resource_ids`` and ``splits``)."""
    ids = set(scope.resource_ids(session))
    if filters.resource_ids:
        ids &= set(filters.resource_ids)
    if filters.splits and scope.project is not None:
        in_splits = session.scalars(select(ProjectResourceSplit.resource_id).where(
            ProjectResourceSplit.project_id == scope.project.id, ProjectResourceSplit.deleted_at.is_(None),
            ProjectResourceSplit.split_name.in_(filters.splits)))
        ids &= set(in_splits)
    out: list[ResourceInfo] = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        rows = session.scalars(select(Resource).where(Resource.id.in_(ordered[start:start + 500])))
        out.extend(ResourceInfo(r.id, r.filename, r.mimetype, r.location, dict(r.file_metadata or {}),
                                r.patient_id, r.instance_uid, r.modality, r.series_uid) for r in rows)
    return sorted(out, key=lambda r: r.id)


def annotation_query(session: Session, scope: Scope, filters: Filters) -> Select[Any]:
    """The annotations to export, by resource then creation time."""
    conds = [scope.annotations(session), Annotation.deleted.is_(False)]
    if filters.annotators:
        conds.append(Annotation.created_by.in_(filters.annotators))
    if filters.statuses:
        conds.append(Annotation.status.in_(filters.statuses))
    if filters.labels:
        conds.append(Annotation.identifier.in_(filters.labels))
    if filters.resource_ids:
        conds.append(Annotation.resource_id.in_(filters.resource_ids))
    if not filters.include_model:
        conds.append(Annotation.is_model.is_(False))
    # Plain rows (attribute names are the columns'), not ORM objects: a third of the time per row.
    return select(*Annotation.__table__.c).where(and_(*conds)).order_by(Annotation.resource_id,
                                                                       Annotation.created_at, Annotation.id)


def labels(session: Session, scope: Scope, filters: Filters) -> list[str]:
    """Every label (identifier) the export holds, sorted: the categories, class ids from it."""
    query = annotation_query(session, scope, filters).with_only_columns(Annotation.identifier).distinct()
    return sorted(set(session.scalars(query.order_by(None))))


def by_resource(database: Database, query: Select[Any], wanted: Sequence[ResourceInfo]
                ) -> Iterator[tuple[ResourceInfo, list[Annotation]]]:
    """Each resource of ``wanted`` (sorted by id) with its annotations, read in batches.

    ``query`` selects live annotations (ORM rows), or is a :class:`VersionQuery` (a frozen version's).
    """
    with database.session() as session:
        if isinstance(query, VersionQuery):
            stream: Iterator[Annotation] = query.stream(session)
        else:
            stream = iter(session.execute(query.execution_options(yield_per=_BATCH)))
        groups = groupby(stream, key=lambda a: a.resource_id)
        pending = next(groups, None)
        for resource in wanted:
            while pending is not None and pending[0] < resource.id:
                pending = next(groups, None)
            if pending is not None and pending[0] == resource.id:
                rows = list(pending[1])
                pending = next(groups, None)
                yield resource, rows
            else:
                yield resource, []


def check_split(split: Any) -> dict[str, float] | None:
    """``{"train": 0.8, "val": 0.2}`` checked (422): names of letters, ratios > 0 summing to 1."""
    if split in (None, {}):
        return None
    ratios = split.get("ratios") if isinstance(split, dict) else None
    if not isinstance(ratios, dict) or not ratios or len(ratios) > MAX_SPLITS:
        raise ValidationFailedError('split must be {"ratios": {"train": 0.8, "val": 0.2}, "seed": 42}')
    out: dict[str, float] = {}
    for name, ratio in ratios.items():
        if not isinstance(name, str) or not name.isidentifier() or len(name) > 40:
            raise ValidationFailedError(f"split name {name!r} must be a short word such as train, val or test")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            raise ValidationFailedError(f"split ratio of {name!r} must be a number in (0, 1], got {ratio!r}")
        out[name] = float(ratio)
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise ValidationFailedError(f"split ratios must sum to 1, got {sum(out.values()):g}")
    return out


def assign_splits(items: Sequence[ResourceInfo], ratios: dict[str, float] | None, seed: int) -> dict[str, str]:
    """Resource id → split name, by patient: all resources of one patient land in one part.

    Patients (a resource without a patient id is a patient of its own) are shuffled with ``seed``
    and each goes to the part furthest below its share of resources so far, so the parts' sizes
    follow the ratios as closely as whole patients allow and the same seed gives the same split.
    """
    if not ratios:
        return {}
    patients: dict[str, list[str]] = {}
    for r in items:
        patients.setdefault(f"p:{r.patient_id}" if r.patient_id else f"r:{r.id}", []).append(r.id)
    keys = sorted(patients)
    random.Random(seed).shuffle(keys)
    total = len(items) or 1
    counts = dict.fromkeys(ratios, 0)
    out: dict[str, str] = {}
    for key in keys:
        name = min(ratios, key=lambda n: (counts[n] / total - ratios[n], list(ratios).index(n)))
        for rid in patients[key]:
            out[rid] = name
        counts[name] += len(patients[key])
    return out


# -- a frozen dataset version ---------------------------------------------------------------------

def version_resources(session: Session, version: DatasetVersion, filters: Filters) -> list[ResourceInfo]:
    """The resources of a version, as frozen (their bytes are at the version's blob keys)."""
    rows = session.scalars(select(DatasetVersionResource).where(DatasetVersionResource.version_id == version.id))
    out = []
    for r in rows:
        if filters.resource_ids and r.resource_id not in filters.resource_ids:
            continue
        data = dict(r.data or {})
        out.append(ResourceInfo(r.resource_id, str(data.get("filename") or r.resource_id),
                                str(data.get("mimetype") or "application/octet-stream"), r.blob_key,
                                dict(data.get("metadata") or {}), data.get("patient_id"), data.get("instance_uid"),
                                data.get("modality"), data.get("series_uid")))
    return sorted(out, key=lambda r: r.id)


def _from_wire(d: dict[str, Any], mask_key: str | None, mask_mimetype: str | None) -> Annotation:
    frame_range = d.get("frame_range")
    created = d.get("created_at")
    return Annotation(
        id=d["id"], resource_id=d["resource_id"], type=d["type"], identifier=d["identifier"], scope=d["scope"],
        frame_index=d.get("frame_index"), frame_end=frame_range[1] if frame_range else None,
        text_value=d.get("text_value"), numeric_value=d.get("numeric_value"), units=d.get("units"),
        geometry=d.get("geometry"), status=d.get("status") or "new", source=d.get("source"),
        imported_from=d.get("imported_from"), import_author=d.get("import_author"), is_model=bool(d.get("is_model")),
        model_id=d.get("model_id"), confiability=d.get("confiability", 1.0), class_map=d.get("class_map"),
        set_name=d.get("set_name"), file_key=mask_key, file_mimetype=mask_mimetype, created_by=d.get("created_by"),
        created_at=datetime.fromisoformat(created) if created else None, worklist_id=d.get("annotation_worklist_id"),
        project_id=d.get("project_id"), deleted=False)


@dataclass
class VersionQuery:
    """The annotations of a frozen version that pass the filters, by resource, streamed."""

    version_id: str
    customer_id: str
    filters: Filters

    def _keep(self, d: dict[str, Any]) -> bool:
        f = self.filters
        return not ((f.annotators and d.get("created_by") not in f.annotators)
                    or (f.statuses and d.get("status") not in f.statuses)
                    or (f.labels and d.get("identifier") not in f.labels)
                    or (f.resource_ids and d.get("resource_id") not in f.resource_ids)
                    or (not f.include_model and d.get("is_model")))

    def stream(self, session: Session) -> Iterator[Annotation]:
        """Transient annotations, as they were when the version was made (masks: the version's copies)."""
        va = DatasetVersionAnnotation
        query = (select(va.data, ContentBlob.blob_key, va.mask_mimetype)
                 .outerjoin(ContentBlob, and_(ContentBlob.customer_id == va.customer_id,
                                              ContentBlob.sha256 == va.mask_sha256))
                 .where(va.version_id == self.version_id).order_by(va.resource_id, va.position))
        for data, key, mimetype in session.execute(query.execution_options(yield_per=_BATCH)):
            if self._keep(data):
                yield _from_wire(data, key, mimetype)

    def labels(self, session: Session) -> list[str]:
        """Every label of the version that passes the filters, sorted."""
        va = DatasetVersionAnnotation
        found = {d.get("identifier") for d in session.scalars(
            select(va.data).where(va.version_id == self.version_id).execution_options(yield_per=_BATCH))
            if self._keep(d)}
        return sorted(str(label) for label in found if label)

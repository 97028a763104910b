"""Agreement between the readers of a worklist, and their consensus.

Who is a reader: the authors of the worklist's live annotations that are neither a model's
predictions nor in the ``consensus``/``ground-truth`` sets of a multi-reader worklist (in a
single-reader worklist, the authors of its ground-truth labels). Which items count: in a
multi-reader worklist, the *complete* items (all N readers done), unless ``include_incomplete``;
otherwise every resource with labels of at least two readers.

Per item and label (identifier), by the annotation type (definitions: :mod:`datamint.imaging.agreement`):

* ``segmentation``: each reader's mask is the union of their masks of the label (an image-scope
  NIfTI volume, or frame PNGs stacked by frame index); a reader of the item without the label
  has an empty mask. Dice, IoU, HD95, Hausdorff and mean surface distance per pair of readers,
  in millimetres with the resource's voxel spacing (NIfTI ``pixdim``; DICOM ``PixelSpacing`` and
  ``SpacingBetweenSlices`` or ``SliceThickness``; 1 for images).
* ``square``: boxes per frame, paired by maximum IoU (:func:`~datamint.imaging.agreement.matched_box_iou`).
* ``category``: the value; ``label``: present, or absent for a reader of the item without it.
  Cohen's kappa per pair over the items both rated; Fleiss' kappa over the items rated by all
  readers (when there are at least three readers, or two).

The consensus (``POST /annotationsets/{id}/consensus``) writes, into the ``consensus`` label set,
one mask per item and label (majority vote, or STAPLE) and the majority category of each
classification (items without a strict majority are reported, not labelled); a reviewer then
promotes it into ground truth with ``POST /projects/{id}/labelsets/consensus/promote``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.imaging import agreement as metrics
from datamint.server.annotations import label_sets
from datamint.server.annotations.masks import NIFTI, PNG, PendingBlobs
from datamint.server.annotations.models import Annotation
from datamint.server.auth.service import Principal
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.resources.models import Resource
from datamint.server.storage.base import BlobStore
from datamint.server.worklists import readers
from datamint.server.worklists import service as worklists_service
from datamint.server.worklists.models import ItemCompletion, Worklist

MASK_TYPES = ("segmentation",)
BOX_TYPES = ("square",)
CLASS_TYPES = ("category", "label")
CSV_COLUMNS = ("kind", "resource_id", "frame_index", "label", "reader_a", "reader_b", "metric", "value")


def _json_number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


@dataclass
class Item:
    """One resource's labels, by reader."""

    resource: Resource
    readers: set[str] = field(default_factory=set)
    annotations: list[Annotation] = field(default_factory=list)


def _reader_annotations(session: Session, worklist: Worklist, include_incomplete: bool,
                        resource_ids: Sequence[str] | None) -> dict[str, Item]:
    excluded = [label_sets.CONSENSUS] + ([label_sets.GROUND_TRUTH] if readers.is_multi(worklist) else [])
    stmt = (select(Annotation, Resource).join(Resource, Resource.id == Annotation.resource_id)
            .where(Annotation.worklist_id == worklist.id, Annotation.deleted.is_(False),
                   Annotation.is_model.is_(False), Annotation.label_set.not_in(excluded),
                   Resource.deleted.is_(False))
            .order_by(Annotation.resource_id, Annotation.created_at, Annotation.id))
    if readers.is_multi(worklist) and not include_incomplete:
        stmt = stmt.where(Annotation.resource_id.in_(
            select(ItemCompletion.resource_id).where(ItemCompletion.worklist_id == worklist.id)))
    if resource_ids:
        stmt = stmt.where(Annotation.resource_id.in_(list(resource_ids)))
    items: dict[str, Item] = {}
    for annotation, resource in session.execute(stmt):
        item = items.setdefault(resource.id, Item(resource))
        item.readers.add(annotation.created_by)
        item.annotations.append(annotation)
    return {rid: item for rid, item in items.items() if len(item.readers) >= 2}


def voxel_spacing(resource: Resource, frames_first: bool) -> tuple[float, float, float]:
    """The resource's voxel size in mm: (x, y, z) for NIfTI-shaped masks, (z, y, x) for stacked frames."""
    meta = resource.file_metadata or {}

    def number(value: Any, default: float = 1.0) -> float:
        try:
            out = float(value)
        except (TypeError, ValueError):
            return default
        return out if math.isfinite(out) and out > 0 else default

    pix = meta.get("pixDims")
    if isinstance(pix, list) and len(pix) >= 4:
        x, y, z = number(pix[1]), number(pix[2]), number(pix[3])
    else:
        spacing = meta.get("PixelSpacing")
        row, col = (number(spacing[0]), number(spacing[1])) if isinstance(spacing, list) and len(spacing) == 2 \
            else (1.0, 1.0)
        x, y = col, row
        z = number(meta.get("SpacingBetweenSlices"), number(meta.get("SliceThickness")))
    return (z, y, x) if frames_first else (x, y, z)


def _load_mask(store: BlobStore, annotation: Annotation) -> np.ndarray | None:
    if not annotation.file_key:
        return None
    data = store.get(annotation.file_key)
    if annotation.file_mimetype == PNG:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("L")) > 0
    import nibabel

    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    array = np.asanyarray(image.dataobj)
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array > 0


def _reader_masks(store: BlobStore, item: Item, annotations: list[Annotation]
                  ) -> tuple[dict[str, np.ndarray], bool] | None:
    """Each reader's mask of one label (union of their masks) and whether frames come first
    (PNG masks, stacked by frame) or not (NIfTI volumes)."""
    with_files = [a for a in annotations if a.file_key]
    frame_masks = [a for a in with_files if a.file_mimetype == PNG]
    if not with_files or (frame_masks and len(frame_masks) != len(with_files)):
        return None  # no masks, or frame PNGs and volumes for one label: not comparable voxel by voxel
    masks: dict[str, np.ndarray] = {}
    frames_first = bool(frame_masks)
    frame_count = max(int((item.resource.file_metadata or {}).get("frame_count") or 1), 1)
    for annotation in with_files:
        try:
            loaded = _load_mask(store, annotation)
        except Exception:  # noqa: BLE001 - a missing or unreadable blob: this label is skipped, not the report
            return None
        if loaded is None:
            continue
        if frames_first:
            frame = annotation.frame_index or 0
            stack = masks.get(annotation.created_by)
            if stack is None:
                stack = np.zeros((frame_count, *loaded.shape), bool)
            if 0 <= frame < frame_count and stack.shape[1:] == loaded.shape:
                stack[frame] |= loaded
            masks[annotation.created_by] = stack
        else:
            current = masks.get(annotation.created_by)
            masks[annotation.created_by] = loaded if current is None or current.shape != loaded.shape \
                else current | loaded
    if not masks:
        return None
    shape = next(iter(masks.values())).shape
    for reader in item.readers:
        masks.setdefault(reader, np.zeros(shape, bool))
    if len({m.shape for m in masks.values()}) > 1:
        return None
    return masks, frames_first


def _boxes(annotations: Iterable[Annotation]) -> dict[tuple[int | None, str], list[list[float]]]:
    out: dict[tuple[int | None, str], list[list[float]]] = defaultdict(list)
    for a in annotations:
        points = (a.geometry or {}).get("points") or []
        if len(points) >= 2:
            box = metrics.box_of(points)
            if box[2] > box[0] and box[3] > box[1]:
                out[(a.frame_index, a.created_by)].append(box)
    return out


@dataclass
class Report:
    """The agreement report of a worklist (see :func:`report`)."""

    worklist: Worklist
    readers: list[str]
    items: list[str]
    masks: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)
    cohen: list[dict[str, Any]] = field(default_factory=list)
    fleiss: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Means per label (over items and pairs) and per pair of readers (over items and labels)."""
        by_label: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in self.masks:
            by_label[("mask", row["label"])].append(row)
            by_pair[(row["reader_a"], row["reader_b"])].append(row)
        for row in self.boxes:
            by_label[("box", row["label"])].append(row)

        def mean(rows: list[dict[str, Any]], key: str) -> float | None:
            values = [r[key] for r in rows if r.get(key) is not None]
            return round(sum(values) / len(values), 6) if values else None

        labels = []
        for (kind, label), rows in sorted(by_label.items()):
            entry: dict[str, Any] = {"kind": kind, "label": label, "pairs": len(rows)}
            keys = ("dice", "iou", "hd95_mm", "msd_mm") if kind == "mask" else ("iou",)
            entry.update({f"mean_{k}": mean(rows, k) for k in keys})
            labels.append(entry)
        for row in self.cohen:
            labels.append({"kind": "classification", "label": row["label"], "pairs": 1,
                           "reader_a": row["reader_a"], "reader_b": row["reader_b"], "cohen_kappa": row["kappa"]})
        for row in self.fleiss:
            labels.append({"kind": "classification", "label": row["label"], "fleiss_kappa": row["kappa"],
                           "items": row["items"], "readers": row["readers"]})
        pairs = [{"reader_a": a, "reader_b": b, "mask_pairs": len(rows), "mean_dice": mean(rows, "dice"),
                  "mean_hd95_mm": mean(rows, "hd95_mm")} for (a, b), rows in sorted(by_pair.items())]
        return {"by_label": labels, "by_pair": pairs}

    def to_json(self) -> dict[str, Any]:
        """The report as JSON."""
        return {"worklist_id": self.worklist.id, "readers_per_item": self.worklist.readers_per_item or 1,
                "readers": self.readers, "items": len(self.items), "resource_ids": self.items, "masks": self.masks,
                "boxes": self.boxes, "classifications": {"cohen": self.cohen, "fleiss": self.fleiss},
                "skipped": self.skipped, "summary": self.summary()}

    def to_csv(self) -> bytes:
        """One row per measurement: kind, resource, frame, label, readers, metric, value."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in self.masks:
            for metric in ("dice", "iou", "hd95_mm", "hausdorff_mm", "msd_mm"):
                writer.writerow(["mask", row["resource_id"], "", row["label"], row["reader_a"], row["reader_b"],
                                 metric, "" if row[metric] is None else row[metric]])
        for row in self.boxes:
            writer.writerow(["box", row["resource_id"], "" if row["frame_index"] is None else row["frame_index"],
                             row["label"], row["reader_a"], row["reader_b"], "iou", row["iou"]])
        for row in self.cohen:
            writer.writerow(["classification", "", "", row["label"], row["reader_a"], row["reader_b"],
                             "cohen_kappa", "" if row["kappa"] is None else row["kappa"]])
        for row in self.fleiss:
            writer.writerow(["classification", "", "", row["label"], "*", "*", "fleiss_kappa",
                             "" if row["kappa"] is None else row["kappa"]])
        return buffer.getvalue().encode("utf-8")


def report(session: Session, store: BlobStore, worklist: Worklist, *, include_incomplete: bool = False,
           resource_ids: Sequence[str] | None = None,
           on_item: Callable[[int, int], None] | None = None) -> Report:
    """Compute the agreement report of a worklist (see the module docstring).

    Args:
        on_item: Called with (items done, items in all) after each item (a job's progress).
    """
    items = _reader_annotations(session, worklist, include_incomplete, resource_ids)
    all_readers = sorted({r for item in items.values() for r in item.readers})
    out = Report(worklist, all_readers, sorted(items))
    ratings: dict[str, dict[tuple[str, int | None], dict[str, str]]] = defaultdict(dict)
    for done, rid in enumerate(sorted(items), start=1):
        if on_item is not None:
            on_item(done - 1, len(items))
        item = items[rid]
        by_label: dict[tuple[str, str], list[Annotation]] = defaultdict(list)
        for a in item.annotations:
            by_label[(a.type, a.identifier)].append(a)
        for (kind, label), group in sorted(by_label.items()):
            if kind in MASK_TYPES:
                _mask_rows(store, out, item, label, group)
            elif kind in BOX_TYPES:
                _box_rows(out, item, label, group)
            elif kind in CLASS_TYPES:
                for a in group:
                    value = "present" if kind == "label" else (a.text_value or "")
                    ratings[label].setdefault((rid, a.frame_index), {})[a.created_by] = value
                if kind == "label":  # readers of the item who did not tag it said "absent"
                    for key in {(rid, a.frame_index) for a in group}:
                        for reader in item.readers:
                            ratings[label][key].setdefault(reader, "absent")
    _classification_rows(out, ratings, worklist)
    return out


def _mask_rows(store: BlobStore, out: Report, item: Item, label: str, annotations: list[Annotation]) -> None:
    loaded = _reader_masks(store, item, annotations)
    if loaded is None:
        out.skipped.append({"resource_id": item.resource.id, "label": label,
                            "reason": "masks of different shapes or kinds (frame PNGs and a volume)"})
        return
    masks, frames_first = loaded
    spacing: tuple[float, ...] = voxel_spacing(item.resource, frames_first)
    if frames_first and next(iter(masks.values())).shape[0] == 1:  # one frame: a 2-D comparison
        masks = {r: m[0] for r, m in masks.items()}
        spacing = spacing[1:]
    pairs = metrics.pairwise_masks(masks, spacing)
    for (a, b), pair in pairs.items():
        out.masks.append({"resource_id": item.resource.id, "label": label, "reader_a": a, "reader_b": b,
                          "dice": _json_number(pair.dice), "iou": _json_number(pair.iou),
                          "hd95_mm": _json_number(pair.hd95), "hausdorff_mm": _json_number(pair.hausdorff),
                          "msd_mm": _json_number(pair.msd), "voxels_a": pair.voxels_a, "voxels_b": pair.voxels_b})


def _box_rows(out: Report, item: Item, label: str, annotations: list[Annotation]) -> None:
    boxes = _boxes(annotations)
    frames = sorted({frame for frame, _ in boxes}, key=lambda f: -1 if f is None else f)
    names = sorted(item.readers)
    for frame in frames:
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                value, matched = metrics.matched_box_iou(boxes.get((frame, a), []), boxes.get((frame, b), []))
                out.boxes.append({"resource_id": item.resource.id, "frame_index": frame, "label": label,
                                  "reader_a": a, "reader_b": b, "iou": _json_number(value), "matched": matched,
                                  "boxes_a": len(boxes.get((frame, a), [])),
                                  "boxes_b": len(boxes.get((frame, b), []))})


def _classification_rows(out: Report, ratings: dict[str, dict[tuple[str, int | None], dict[str, str]]],
                         worklist: Worklist) -> None:
    for label in sorted(ratings):
        items = ratings[label]
        names = sorted({r for rated in items.values() for r in rated})
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = [key for key, rated in sorted(items.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1))
                        if a in rated and b in rated]
                if not both:
                    continue
                kappa = metrics.cohen_kappa([items[k][a] for k in both], [items[k][b] for k in both])
                agree = sum(1 for k in both if items[k][a] == items[k][b]) / len(both)
                out.cohen.append({"label": label, "reader_a": a, "reader_b": b, "items": len(both),
                                  "observed_agreement": _json_number(agree), "kappa": _json_number(kappa)})
        wanted = worklist.readers_per_item if readers.is_multi(worklist) else len(names)
        full = [sorted(rated.values()) for _, rated in sorted(items.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1))
                if len(rated) == wanted]
        if wanted >= 2 and full:
            out.fleiss.append({"label": label, "items": len(full), "readers": wanted,
                               "kappa": _json_number(metrics.fleiss_kappa(full))})


# -- consensus --------------------------------------------------------------------------------------

def build_consensus(session: Session, pending: PendingBlobs, me: Principal, worklist: Worklist, method: str,
                    resource_ids: Sequence[str] | None) -> dict[str, Any]:
    """Write the consensus of the worklist's complete items into the ``consensus`` label set,
    replacing the consensus made before for the same items.

    Returns:
        ``{"created": [ids], "replaced": n, "no_majority": [{resource_id, label, frame_index}]}``.
    """
    if method not in ("majority", "staple"):
        raise ValidationFailedError(f"Unknown consensus method {method!r}; use 'majority' or 'staple'")
    items = _reader_annotations(session, worklist, False, resource_ids)
    plans: list[tuple[Item, dict[str, Any], tuple[str, bytes, str] | None]] = []
    no_majority: list[dict[str, Any]] = []
    for rid in sorted(items):
        item = items[rid]
        by_label: dict[tuple[str, str], list[Annotation]] = defaultdict(list)
        for a in item.annotations:
            by_label[(a.type, a.identifier)].append(a)
        for (kind, label), group in sorted(by_label.items()):
            if kind in MASK_TYPES:
                plans.extend(_mask_consensus(pending.store, item, label, group, method))
            elif kind == "category":
                by_key: dict[int | None, dict[str, str]] = defaultdict(dict)
                for a in group:
                    by_key[a.frame_index][a.created_by] = a.text_value or ""
                for frame, votes in sorted(by_key.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
                    winner = metrics.majority_category(list(votes.values()) + [None] * (len(item.readers) - len(votes)))
                    if winner is None:
                        no_majority.append({"resource_id": rid, "label": label, "frame_index": frame})
                        continue
                    plans.append((item, {"type": "category", "identifier": label, "frame_index": frame,
                                         "scope": "frame" if frame is not None else "image",
                                         "text_value": str(winner)}, None))
    old = session.scalars(select(Annotation).where(
        Annotation.worklist_id == worklist.id, Annotation.label_set == label_sets.CONSENSUS,
        Annotation.deleted.is_(False), Annotation.resource_id.in_(list(items)))).all() if items else []
    blobs = [(key, data) for _, _, file in plans if file is not None for key, data, _ in [file]]
    if blobs:
        pending.put_all(blobs)
    now = utcnow()
    for annotation in old:
        annotation.deleted, annotation.deleted_at, annotation.deleted_by = True, now, me.email
    created = []
    for i, (item, values, file) in enumerate(plans):
        aid = values.pop("id", None) or new_id()
        row = Annotation(id=aid, customer_id=me.customer_id, resource_id=item.resource.id, worklist_id=worklist.id,
                         project_id=worklist.project_id, scope=values.pop("scope", "image"), status="new",
                         source="consensus", is_model=False, confiability=1.0, label_set=label_sets.CONSENSUS,
                         created_at=now + timedelta(microseconds=i), created_by=me.email, created_by_id=me.user_id,
                         imported_from=f"consensus:{method}", deleted=False, **values)
        if file is not None:
            row.file_key, row.file_size, row.file_mimetype = file[0], len(file[1]), file[2]
        session.add(row)
        created.append(aid)
    pending.settle()
    session.flush()
    return {"method": method, "created": created, "replaced": len(old), "items": len(items),
            "no_majority": no_majority}


def _mask_consensus(store: BlobStore, item: Item, label: str, annotations: list[Annotation], method: str
                    ) -> list[tuple[Item, dict[str, Any], tuple[str, bytes, str] | None]]:
    loaded = _reader_masks(store, item, annotations)
    if loaded is None:
        return []
    masks, frames_first = loaded
    stack = [masks[r] for r in sorted(masks)]
    combined = metrics.staple(stack) if method == "staple" else metrics.majority_vote(stack)
    customer = item.resource.customer_id
    if frames_first:
        from PIL import Image

        out = []
        for frame in range(combined.shape[0]):
            if not combined[frame].any():
                continue
            buffer = io.BytesIO()
            Image.fromarray(combined[frame].astype(np.uint8) * 255).save(buffer, format="PNG")
            aid = new_id()
            key = f"{customer}/annotations/{aid}/{new_id()}.png"
            out.append((item, {"id": aid, "type": "segmentation", "identifier": label, "frame_index": frame,
                               "scope": "frame"}, (key, buffer.getvalue(), PNG)))
        return out
    import nibabel

    source = next(a for a in annotations if a.file_key and a.file_mimetype != PNG)
    affine = nibabel.Nifti1Image.from_bytes(gzip.decompress(store.get(source.file_key))).affine
    image = nibabel.Nifti1Image(combined.astype(np.uint8), affine)
    image.header.set_data_dtype(np.uint8)
    data = gzip.compress(image.to_bytes(), compresslevel=6)
    aid = new_id()
    return [(item, {"id": aid, "type": "segmentation", "identifier": label, "class_map": {"1": label}},
             (f"{customer}/annotations/{aid}/{new_id()}.nii.gz", data, NIFTI))]


def allowed_worklist(session: Session, me: Principal, worklist_id: str) -> Worklist:
    """The worklist, for a caller who may review in it (agreement and consensus are reviewers' tools)."""
    return worklists_service.allowed_worklist(session, me, worklist_id, ProjectAction.REVIEW)

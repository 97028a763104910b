"""Import sessions as jobs (kind ``formats.import``): read each file, place its annotations on the
project's resources, check them, and write them one file at a time.

Each file of the session is one unit: its annotations (and their mask blobs) are written in one
transaction that also marks the file ``imported``, or none is written and the file is marked
``failed`` with the reason; a failed file does not stop the others. Each member of a zip added to
the session that a reader takes is a unit of its own (recorded as its own file row,
``<zip stem>/<member>``, when the job reaches it): a bad member fails alone. The job's log names
each problem as ``At <file>:<line>: <what>`` followed by a hint (seed 003's shape); its result
lists every file (and zip member) with what happened to it.
With ``dry_run`` nothing is written: the result is the preview (annotations per label and file,
labels the worklist lacks, the problems).

Run again after a crash, the job skips the files already marked ``imported``, so no file is
imported twice.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from datamint.imaging.limits import DecodedSizeError, check_decoded_bytes
from datamint.server.annotations import masks
from datamint.server.annotations import service as annotations_service
from datamint.server.annotations.models import Annotation
from datamint.server.annotations.repository import mark_deleted
from datamint.server.annotations.validation import ResourceShape
from datamint.server.annotations.wire import value_of
from datamint.server.auth.service import Principal
from datamint.server.db.base import new_id, utcnow
from datamint.server.errors import AppError, NotFoundError
from datamint.server.formats import dicom_seg, flat, zips  # noqa: F401 - register their readers
from datamint.server.formats.geometry import ResourceGeometry
from datamint.server.formats.geometry import load as load_geometry
from datamint.server.formats.models import ImportFile, ImportSession
from datamint.server.formats.readers import READERS, Candidate, FileSet, Problem, Ref, decode_mask, kind_of
from datamint.server.formats.rtstruct import rasterize
from datamint.server.formats.sessions import MAX_FILES
from datamint.server.jobs import registry
from datamint.server.jobs.context import JobCancelled, JobContext, JobLost
from datamint.server.projects.models import Project
from datamint.server.resources.ingest import discard
from datamint.server.resources.models import ProjectResource, Resource, UploadIntent
from datamint.server.worklists import service as worklists_service
from datamint.server.worklists.models import Worklist

KIND = "formats.import"
_VOLUMES = ("application/dicom", "application/nifti")
#: Names whose extension says what they are (others are sniffed: DICOM files often have none).
_KNOWN = re.compile(r"\.(jsonl?|nii(\.gz)?|dcm|png|jpe?g|txt|xml|csv|ya?ml|zip)$", re.IGNORECASE)


@dataclass
class Target:
    """A resource of the project, as the importer places annotations on it."""

    id: str
    filename: str
    mimetype: str
    location: str
    metadata: dict[str, Any]
    instance_uid: str | None
    shape: ResourceShape

    @property
    def series_word(self) -> str:
        """What a frame of it belongs to, for messages."""
        return "series" if self.mimetype in _VOLUMES else "video" if self.mimetype.startswith("video/") else "image"


def _stem(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/")).lower()
    for suffix in (".nii.gz", ".nii", ".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mp4"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


@dataclass
class Resources:
    """The project's live resources, by id, SOP Instance UID, file name and file stem."""

    by_id: dict[str, Target] = field(default_factory=dict)
    by_uid: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    by_stem: dict[str, list[str]] = field(default_factory=dict)
    by_series: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session, project_id: str) -> Resources:
        """Read the project's resources."""
        out = cls()
        rows = session.scalars(select(Resource).join(ProjectResource, ProjectResource.resource_id == Resource.id)
                               .where(ProjectResource.project_id == project_id, Resource.deleted.is_(False)))
        for r in rows:
            target = Target(r.id, r.filename, r.mimetype, r.location, dict(r.file_metadata or {}), r.instance_uid,
                            ResourceShape.of(r.mimetype, r.file_metadata))
            out.by_id[r.id] = target
            if r.instance_uid:
                out.by_uid[r.instance_uid] = r.id
            if r.series_uid:
                out.by_series.setdefault(r.series_uid, []).append(r.id)
            out.by_name.setdefault(posixpath.basename(r.filename.replace("\\", "/")).lower(), []).append(r.id)
            out.by_stem.setdefault(_stem(r.filename), []).append(r.id)
        return out

    def find(self, where: str, ref: Ref) -> Target:
        """The resource a candidate names (id, SOP Instance UID, file name, file stem, export stem).

        Raises:
            Problem: No resource of the project, or several, match.
        """
        if ref.resource_id and ref.resource_id in self.by_id:
            return self.by_id[ref.resource_id]
        if ref.sop_instance_uid and ref.sop_instance_uid in self.by_uid:
            return self.by_id[self.by_uid[ref.sop_instance_uid]]
        name = (ref.filename or "").replace("\\", "/")
        for ids in (self.by_name.get(posixpath.basename(name).lower()), self.by_stem.get(_stem(name)),
                    self._export_stem(_stem(name))):
            if ids and len(ids) == 1:
                return self.by_id[ids[0]]
            if ids:
                raise Problem(where, f"file name {name!r} matches {len(ids)} resources of the project",
                              "name the resource by its id (datamint_resource_id) or SOP Instance UID")
        described = ref.resource_id or ref.sop_instance_uid or name or "(unnamed)"
        raise Problem(where, f"no resource of the project matches {described!r}",
                      "add the resource to the project first, or name it by id, SOP Instance UID or file name")

    def _export_stem(self, stem: str) -> list[str] | None:
        # Our exports name files "<name>_<first 8 characters of the resource id>".
        prefix = stem.rsplit("_", 1)[-1] if "_" in stem else ""
        if len(prefix) != 8:
            return None
        return [rid for rid in self.by_id if rid.startswith(prefix)] or None


@dataclass
class Placed:
    """A candidate placed on its resource, ready to be created."""

    candidate: Candidate
    target: Target
    item: dict[str, Any]
    mask: masks.StoredMask | None = None


@dataclass
class Outcome:
    """What happened to one file."""

    name: str
    status: str
    formats: list[str] = field(default_factory=list)
    created: int = 0
    skipped: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        """For the job's result."""
        return {"name": self.name, "status": self.status, "formats": self.formats, "annotations": self.created,
                "skipped": self.skipped, "labels": dict(self.labels), "problems": self.problems}


class Importer:
    """Places and writes the candidates of one import job."""

    def __init__(self, ctx: JobContext, me: Principal, options: dict[str, Any], resources: Resources,
                 worklist: Worklist) -> None:
        self.ctx, self.me, self.options, self.resources, self.worklist = ctx, me, options, resources, worklist
        specs, definitions = worklists_service.labels_of(worklist)
        self.declared = {str(s.get("identifier")): s for s in specs if isinstance(s, dict) and s.get("identifier")}
        self.segments = {str(d.get("identifier")) for d in definitions if isinstance(d, dict) and d.get("identifier")}
        self.geometries: dict[str, ResourceGeometry] = {}
        self.unknown_labels: Counter[str] = Counter()

    # -- placing ---------------------------------------------------------------------------------

    def geometry(self, target: Target) -> ResourceGeometry:
        """The resource's geometry (read once)."""
        if target.id not in self.geometries:
            self.geometries[target.id] = load_geometry(self.ctx.store, target.mimetype, target.location,
                                                       target.metadata)
        return self.geometries[target.id]

    def _label(self, where: str, label: str, kind: str) -> str:
        mapped = str(self.options.get("label_map", {}).get(label, label))
        if not self.declared and not self.segments:
            return mapped
        allowed = mapped in self.declared or (kind == "segmentation" and mapped in self.segments)
        if not allowed:
            self.unknown_labels[mapped] += 1
            known = ", ".join(sorted(set(self.declared) | self.segments))
            raise Problem(where, f"category '{mapped}' not in the worklist's labels ({known})",
                          f"map it to one of them with label_map={{'{label}': '...'}}, or ask a manager to add it")
        return mapped

    def _frame(self, where: str, frame: int, target: Target) -> None:
        frames = target.shape.frame_count
        if not 0 <= frame < frames:
            raise Problem(where, f"frame {frame} outside a {frames}-frame {target.series_word}",
                          f"frames are numbered 0..{frames - 1}")

    def place(self, candidate: Candidate) -> Placed:
        """Find the resource, map and check the label, check frames and sizes, convert the geometry.

        Raises:
            Problem: What is wrong, where, and a hint.
        """
        where = candidate.where
        target = self.resources.find(where, candidate.ref)
        item = {k: v for k, v in candidate.item.items() if not k.startswith("_")}
        item["identifier"] = self._label(where, str(item.get("identifier") or ""), str(item.get("type")))
        shape = target.shape
        if candidate.ref.size and shape.width and shape.height and candidate.ref.size != (shape.width, shape.height):
            w, h = candidate.ref.size
            raise Problem(where, f"image size {w}x{h} in the file does not match the resource's "
                                 f"{shape.width}x{shape.height}", "annotate the image as it was uploaded")
        frame_range = item.get("frame_range")
        for frame in ([item["frame_index"]] if item.get("frame_index") is not None else []) + list(frame_range or []):
            self._frame(where, int(frame), target)
        if candidate.item.get("_free_scope") and shape.frame_count == 1 and item.get("type") != "segmentation":
            item["scope"] = "image"  # formats without scopes: a drawing on a 2-D image is the image's
        if candidate.pixels is not None and candidate.item.get("_normalized"):
            candidate.pixels = [(x * (shape.width or 1), y * (shape.height or 1)) for x, y in candidate.pixels]
            candidate.item.pop("_normalized")
        if candidate.pixels is not None:
            geometry = self.geometry(target)
            frame = int(item.get("frame_index") or 0)
            item["geometry"] = {"points": [geometry.to_stored(x, y, frame) for x, y in candidate.pixels]}
        item["annotation_worklist_id"] = self.worklist.id
        item["imported_from"] = self.options.get("_file")
        item["source"] = "imported"
        if self.options.get("author"):
            item["import_author"] = self.options["author"]
        if self.options.get("model_name"):
            item["model_id"], item["is_model"] = self.options["model_name"], True
        if item.get("is_model") or item.get("model_id"):
            item["source"] = "model_pipeline"
        placed = Placed(candidate, target, item)
        if "_frames" in candidate.item:
            self._frames_to_mask(where, candidate, target, item)
        if candidate.mask is not None or candidate.mask_bytes is not None:
            placed.mask = self._mask(where, candidate, target, item)
            # stored (encoded) now: the decoded array goes, so a file's masks are not all held at once
            candidate.mask = None
            candidate.item.pop("_frames", None)
        return placed

    def _frames_to_mask(self, where: str, candidate: Candidate, target: Target, item: dict[str, Any]) -> None:
        """A SEG's frames of one segment as the resource's mask: a frame mask on a single-frame
        resource (unless the file says it was a volume), else a volume."""
        frames: dict[int, np.ndarray] = candidate.item["_frames"]
        shape = target.shape
        for k, mask in frames.items():
            self._frame(where, k, target)
            if shape.width and shape.height and mask.shape != (shape.height, shape.width):
                raise Problem(where, f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the image "
                                     f"{shape.width}x{shape.height}", "the SEG's frames have its source's size")
        if shape.frame_count == 1 and candidate.item.get("_scope") != "image":
            item["scope"], item["frame_index"] = "frame", 0
            candidate.mask = frames[0]
            return
        volume = np.zeros((shape.width or 0, shape.height or 0, shape.frame_count), dtype=bool)
        for k, mask in frames.items():
            volume[:, :, k] = mask.T
        candidate.mask = volume

    def _mask(self, where: str, candidate: Candidate, target: Target, item: dict[str, Any]) -> masks.StoredMask:
        shape = target.shape
        if candidate.mask_bytes is not None:
            data = candidate.mask_bytes[0]
        else:
            mask = candidate.mask
            assert mask is not None
            if mask.ndim == 3 and shape.frame_count == 1 and mask.shape[2] == 1 and item.get("scope") == "image" \
                    and not shape.is_volume:
                mask, item["scope"], item["frame_index"] = mask[:, :, 0].T, "frame", 0
            if mask.ndim == 2:
                if shape.width and shape.height and mask.shape != (shape.height, shape.width):
                    raise Problem(where, f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the image "
                                         f"{shape.width}x{shape.height}", "masks have the image's width and height")
                data = _png(mask)
            else:
                want = (shape.width, shape.height, shape.frame_count)
                if None not in want and mask.shape != want:
                    raise Problem(where, f"mask size {'x'.join(map(str, mask.shape))} does not match the image "
                                         f"{'x'.join(map(str, want))}", "a label map has the image's voxel grid "
                                                                        "(columns x rows x frames)")
                self._check_affine(where, candidate, target)
                data = masks._binary_nifti(mask, self.geometry(target).affine())
        try:
            return masks.check_upload(data, shape, str(item.get("scope") or "image"))
        except AppError as exc:
            raise Problem(where, exc.message)

    def _check_affine(self, where: str, candidate: Candidate, target: Target) -> None:
        affine = candidate.item.get("_affine")
        if affine is None or target.mimetype not in _VOLUMES:
            return
        expected = self.geometry(target).affine()
        if not np.allclose(np.asarray(affine), expected, atol=1e-3):
            raise Problem(where, "the label map's affine does not match the resource's geometry",
                          "resample the label map onto the image's voxel grid (same affine and shape)")

    def expand(self, candidate: Candidate) -> list[Candidate]:
        """RT structure candidates become one per resource their contours lie on (rasterized);
        others stay as they are."""
        contours = candidate.item.get("_contours")
        if contours is None:
            return [candidate]
        series = candidate.item.get("_series") or []
        groups: dict[str, list[Any]] = {}
        for points, uid in contours:
            target_id = self.resources.by_uid.get(uid) if uid else None
            if target_id is None:
                in_series = [rid for s in series for rid in self.resources.by_series.get(s, [])]
                if len(in_series) != 1:
                    raise Problem(candidate.where, f"no resource of the project holds image {uid or '(none)'} "
                                                   f"or series {', '.join(series) or '(none)'}"
                                  + (f" ({len(in_series)} resources do)" if in_series else ""),
                                  "add the referenced series to the project first")
                target_id = in_series[0]
            groups.setdefault(target_id, []).append(points)
        out = []
        for target_id, group in groups.items():
            target = self.resources.by_id[target_id]
            geometry = self.geometry(target)
            if geometry.kind != "dicom":
                raise Problem(candidate.where, f"resource {target.filename!r} has no patient geometry to draw on")
            shape = target.shape
            frames = rasterize(group, geometry.to_pixel, shape.width or 0, shape.height or 0, shape.frame_count,
                               candidate.where)
            item = {k: v for k, v in candidate.item.items() if k not in ("_contours", "_series")}
            out.append(Candidate(candidate.where, Ref(resource_id=target_id), {**item, "_frames": frames}))
        return out

    # -- writing ---------------------------------------------------------------------------------

    def write(self, placed: Sequence[Placed], name: str, file_id: str) -> tuple[int, int]:
        """Write one file's annotations (and mask blobs) in one transaction that also marks the file
        imported; returns (created, skipped as identical)."""
        blobs: list[tuple[str, str, bytes]] = []  # (intent id, key, data)
        per_item: list[dict[str, Any]] = []
        for p in placed:
            annotation_id = new_id()
            extra: dict[str, Any] = {"id": annotation_id}
            if p.mask is not None:
                key = masks.mask_key(self.me.customer_id, annotation_id, p.mask)
                blobs.append((new_id(), key, p.mask.data))
                extra.update(file_key=key, file_mimetype=p.mask.mimetype, file_size=len(p.mask.data))
            per_item.append(extra)
        if blobs:
            with self.ctx.database.transaction() as session:
                session.execute(insert(UploadIntent), [{"id": i, "customer_id": self.me.customer_id, "blob_key": k}
                                                       for i, k, _ in blobs])
            for _, key, data in blobs:
                self.ctx.store.put(key, data)
        try:
            with self.ctx.transaction() as session:
                created, skipped = self._insert(session, placed, per_item)
                if blobs:
                    session.execute(delete(UploadIntent).where(UploadIntent.id.in_([i for i, _, _ in blobs])))
                session.execute(update(ImportFile).where(ImportFile.id == file_id)
                                .values(status="imported", created_count=created,
                                        message=f"{created} annotation(s) imported"
                                                + (f", {skipped} identical one(s) skipped" if skipped else "")))
        except BaseException:
            with self.ctx.database.session() as session:
                for intent_id, key, _ in blobs:
                    discard(session, self.ctx.store, intent_id, key)
            raise
        return created, skipped

    def _insert(self, session: Session, placed: Sequence[Placed], per_item: Sequence[dict[str, Any]]
                ) -> tuple[int, int]:
        conflict = self.options.get("on_conflict", "keep")
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(placed):
            groups.setdefault(p.target.id, []).append(i)
        created = skipped = 0
        for resource_id, indexes in groups.items():
            resource = session.get(Resource, resource_id)
            if resource is None or resource.deleted:
                raise Problem(placed[indexes[0]].candidate.where, f"resource {resource_id} was deleted meanwhile")
            existing = list(session.scalars(select(Annotation).where(
                Annotation.resource_id == resource_id, Annotation.worklist_id == self.worklist.id,
                Annotation.deleted.is_(False)))) if conflict != "keep" else []
            if conflict == "replace":
                labels = {placed[i].item["identifier"] for i in indexes}
                replaced = [a for a in existing if a.identifier in labels]
                mark_deleted(self._changeable(session, replaced), self.me.email, utcnow())
            elif conflict == "skip":
                seen = {self._fingerprint_row(a) for a in existing}
                kept = [i for i in indexes if self._fingerprint(placed[i]) not in seen]
                skipped += len(indexes) - len(kept)
                indexes = kept
            if not indexes:
                continue
            try:
                items = annotations_service.clean_items(session, self.me, resource,
                                                        [placed[i].item for i in indexes])
            except AppError as exc:
                raise Problem(placed[indexes[0]].candidate.where, exc.message)
            annotations_service.insert_items(session, self.me, resource, items, [per_item[i] for i in indexes])
            created += len(indexes)
        return created, skipped

    def _changeable(self, session: Session, found: Sequence[Annotation]) -> list[Annotation]:
        """``found``, once the importer may change each as ``DELETE /annotations`` would (its author,
        or a reviewer, manager or admin; an annotation hidden from them counts as not theirs).

        Raises:
            Problem: Some of them the importer may not change: the file is not written.
        """
        refused = 0
        for annotation in found:
            try:
                annotations_service.changeable_annotation(session, self.me, annotation.id)
            except AppError:
                refused += 1
        if refused:
            raise Problem(str(self.options.get("_file") or "the file"),
                          f"on_conflict='replace' would remove {refused} annotation(s) you may not change "
                          "(only their authors, reviewers and managers may)",
                          "import with on_conflict='keep' or 'skip', or ask a reviewer to replace them")
        return list(found)

    def _fingerprint(self, p: Placed) -> tuple[Any, ...]:
        item = p.item
        points = json.dumps([[round(c, 4) for c in pt] for pt in (item.get("geometry") or {}).get("points", [])])
        mask = _mask_digest(p.mask.data, p.mask.mimetype) if p.mask else None
        frame_range = item.get("frame_range")
        start = frame_range[0] if frame_range else item.get("frame_index")
        return (item.get("type"), item["identifier"], start, frame_range[1] if frame_range else None,
                json.dumps(item.get("value")), points, mask)

    def _fingerprint_row(self, a: Annotation) -> tuple[Any, ...]:

        points = json.dumps([[round(c, 4) for c in pt] for pt in (a.geometry or {}).get("points", [])])
        mask = _mask_digest(self.ctx.store.get(a.file_key), a.file_mimetype or "") if a.file_key else None
        return (a.type, a.identifier, a.frame_index, a.frame_end, json.dumps(value_of(a)), points, mask)


def _png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _mask_digest(data: bytes, mimetype: str) -> str:
    import hashlib


    array = np.ascontiguousarray(decode_mask(data, mimetype))
    return hashlib.sha256(repr(array.shape).encode() + np.packbits(array).tobytes()).hexdigest()


# -- the job --------------------------------------------------------------------------------------

def _fileset(ctx: JobContext, rows: Sequence[ImportFile]
             ) -> tuple[FileSet, dict[str, list[str]], dict[str, str]]:
    """Every readable name (zips contribute their members, as ``<zip stem>/<member>``), the
    names each session file holds, and why zips that are refused (too many members, members
    outside the zip or named twice: :mod:`~datamint.server.formats.zips`) are."""
    blobs: dict[str, tuple[str, str | None]] = {}
    owned: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    opened: dict[str, IO[bytes]] = {}  # the zip being read, copied to a temporary file (one at a time)

    def spooled(key: str) -> IO[bytes]:
        """The zip at ``key`` as a seekable temporary file: a zip may be as large as an upload, never
        held in memory whole."""
        if key not in opened:
            for handle in opened.values():
                handle.close()
            opened.clear()
            handle = tempfile.TemporaryFile()
            with ctx.store.open(key) as source:
                shutil.copyfileobj(source, handle, 1 << 20)
            opened[key] = handle
        opened[key].seek(0)
        return opened[key]

    for row in rows:
        if row.name.lower().endswith(".zip"):
            try:  # the session's rule, checked again for sessions made before it
                found = zips.members(spooled(row.blob_key), row.name, MAX_FILES)
            except zips.ZipRefused as exc:
                found, refused[row.name] = None, str(exc)
            base = row.name[:-4]
            owned[row.name] = []
            if found is None:
                blobs[row.name] = (row.blob_key, "")
                continue
            for member, clean in found:
                blobs[f"{base}/{clean}"] = (row.blob_key, member)
                owned[row.name].append(f"{base}/{clean}")
        else:
            blobs[row.name] = (row.blob_key, None)
            owned[row.name] = [row.name]
    def read(name: str) -> bytes:
        key, member = blobs[name]
        if member is None:
            return ctx.store.get(key)
        if member == "":
            raise Problem(name, "not a readable zip archive")
        with zipfile.ZipFile(spooled(key)) as archive:
            try:  # a zip bomb's member: refused from its declared size (zipfile never inflates past it)
                check_decoded_bytes(archive.getinfo(member).file_size, f"{name} decompressed")
            except DecodedSizeError as exc:
                raise Problem(name, str(exc))
            return archive.read(member)

    return FileSet(sorted(blobs), read), owned, refused


def _log_problem(ctx: JobContext, problem: Problem | str) -> str:
    line = str(problem)
    ctx.log(line, level="error")
    return line


def run_import(ctx: JobContext) -> dict[str, Any]:
    """The ``formats.import`` handler (see the module docstring)."""
    me = ctx.creator("import again")
    options = dict(ctx.params)
    dry_run = bool(options.get("dry_run"))
    with ctx.database.transaction() as session:
        found = session.get(ImportSession, options["session_id"])
        if found is None:
            raise NotFoundError("Import session")
        project = session.get(Project, found.project_id)
        if project is None:
            raise NotFoundError("Project")
        worklist = session.get(Worklist, found.worklist_id) if found.worklist_id else \
            worklists_service.default_worklist(session, project)
        session.expunge(worklist)
        rows = list(session.scalars(select(ImportFile).where(ImportFile.session_id == found.id)
                                    .order_by(ImportFile.name)))
        for row in rows:
            session.expunge(row)
        resources = Resources.of(session, project.id)
    members = {row.blob_key for row in rows if row.name.lower().endswith(".zip")}
    done_members = {row.name: row for row in rows if row.blob_key in members and not row.name.lower().endswith(".zip")}
    rows = [row for row in rows if row.name not in done_members]  # a zip's member rows: written below
    files, owned, refused = _fileset(ctx, rows)
    importer = Importer(ctx, me, options, resources, worklist)
    outcomes: list[Outcome] = []
    ctx.progress(0, len(rows), "previewing" if dry_run else "importing", force=True)
    for done, row in enumerate(rows, 1):
        if row.status == "imported" and not dry_run:
            outcomes.append(Outcome(row.name, "imported", created=row.created_count))
            continue
        if not row.name.lower().endswith(".zip"):
            outcomes.append(_import_unit(ctx, importer, files, row.name, [row.name], row.id, dry_run))
            ctx.progress(done, len(rows))
            continue
        # a zip: each member that a reader takes is its own unit (its own row, transaction and log line)
        units = [name for name in owned.get(row.name, []) if _readable(files, name)]
        if not owned.get(row.name):
            outcome = Outcome(row.name, "failed")
            outcome.problems.append(_log_problem(ctx, Problem(row.name, refused.get(row.name)
                                                              or "not a readable zip archive")))
            outcomes.append(outcome)
            if not dry_run:
                _mark(ctx, row.id, "failed", 0, "\n".join(outcome.problems)[:4000])
            ctx.progress(done, len(rows))
            continue
        mine: list[Outcome] = []
        for name in units:
            member = done_members.get(name)
            if member is not None and member.status == "imported" and not dry_run:
                mine.append(Outcome(name, "imported", created=member.created_count))
                continue
            member_id = None if dry_run else (member.id if member is not None else _member_row(ctx, row, name))
            if member_id == "":
                outcome = Outcome(name, "failed")
                outcome.problems.append(_log_problem(ctx, Problem(
                    name, "another file of the session has this member's name", "rename the file or the zip")))
                mine.append(outcome)
                continue
            mine.append(_import_unit(ctx, importer, files, name, [name], member_id, dry_run))
        outcomes.extend(mine)
        if not dry_run:
            failed = [o.name for o in mine if o.status == "failed"]
            created = sum(o.created for o in mine if o.status != "failed")
            message = (f"{len(mine) - len(failed)} of {len(mine)} member(s) imported ({created} annotation(s))"
                       + (f"; failed: {', '.join(failed)}" if failed else "") if mine
                       else "nothing to import here (no annotation file in the zip)")
            _mark(ctx, row.id, "failed" if failed else "imported", created, message[:4000])
        ctx.progress(done, len(rows))
    result = {"dry_run": dry_run, "session_id": options["session_id"],
              "created": sum(o.created for o in outcomes if o.status != "failed"),
              "failed_files": sum(1 for o in outcomes if o.status == "failed"),
              "files": [o.wire() for o in outcomes],
              "labels": dict(sum((o.labels for o in outcomes), Counter())),
              "unknown_labels": dict(importer.unknown_labels)}
    with ctx.transaction() as session:
        ctx.complete(session, result)
    return result


def _import_unit(ctx: JobContext, importer: Importer, files: FileSet, unit: str, names: Sequence[str],
                 file_id: str | None, dry_run: bool) -> Outcome:
    """Read, check and write one unit (a file, or one member of a zip) in one transaction that
    also marks its row ``imported``, or write nothing of it and mark it ``failed``."""
    outcome = Outcome(unit, "imported" if not dry_run else "previewed")
    try:
        placed: list[Placed] = []
        importer.options["_file"] = unit[:300]
        for name in names:
            kind = kind_of(name, b"" if _KNOWN.search(name) else files.read(name)[:132])
            if kind is None or kind not in READERS:
                continue
            outcome.formats.append(kind)
            for found in READERS[kind](name, files):
                placed.extend(importer.place(candidate) for candidate in importer.expand(found))
        for p in placed:
            outcome.labels[p.item["identifier"]] += 1
        if dry_run:
            outcome.created = _preview(ctx, importer, placed)
        elif placed and file_id is not None:
            outcome.created, outcome.skipped = importer.write(placed, unit, file_id)
            ctx.log(f"{unit}: {outcome.created} annotation(s) imported"
                    + (f", {outcome.skipped} identical one(s) skipped" if outcome.skipped else ""))
        elif file_id is not None:
            _mark(ctx, file_id, "imported", 0, "nothing to import here (a support file, or no annotations)")
    except Problem as problem:
        outcome.status = "failed"
        outcome.problems.append(_log_problem(ctx, problem))
    except AppError as exc:
        outcome.status = "failed"
        outcome.problems.append(_log_problem(ctx, Problem(unit, exc.message)))
    except (JobCancelled, JobLost):
        raise
    except Exception as exc:  # a file no reader expected: it fails alone, the others go on
        outcome.status = "failed"
        outcome.problems.append(_log_problem(ctx, Problem(unit, f"cannot read it ({type(exc).__name__}: {exc})")))
    if outcome.status == "failed" and not dry_run and file_id is not None:
        _mark(ctx, file_id, "failed", 0, "\n".join(outcome.problems)[:4000])
    return outcome


def _readable(files: FileSet, name: str) -> bool:
    """Whether a reader takes ``name`` (a member that cannot even be sniffed is a unit that fails)."""
    try:
        return kind_of(name, b"" if _KNOWN.search(name) else files.read(name)[:132]) in READERS
    except Problem:
        return True


def _member_row(ctx: JobContext, archive: ImportFile, name: str) -> str:
    """The row of one member of a zip (``<zip stem>/<member>``, the zip's blob), made once: a job run
    again after a crash finds it and skips the member if it was imported. ``""`` when another file
    of the session already has that name."""
    with ctx.database.transaction() as session:
        found = session.scalar(select(ImportFile).where(ImportFile.session_id == archive.session_id,
                                                        ImportFile.name == name))
        if found is not None:
            return found.id if found.blob_key == archive.blob_key else ""  # "": a session file has that name
        row = ImportFile(id=new_id(), session_id=archive.session_id, name=name, blob_key=archive.blob_key, size=0,
                         status="pending")
        session.add(row)
    return row.id


def _preview(ctx: JobContext, importer: Importer, placed: Sequence[Placed]) -> int:
    """Check what a file would create, in a transaction rolled back; how many it would create."""
    session = ctx.database.session()
    try:
        by_resource: dict[str, list[Placed]] = {}
        for p in placed:
            by_resource.setdefault(p.target.id, []).append(p)
        for resource_id, group in by_resource.items():
            resource = session.get(Resource, resource_id)
            try:
                annotations_service.clean_items(session, importer.me, resource, [p.item for p in group])
            except AppError as exc:
                raise Problem(group[0].candidate.where, exc.message)
        return len(placed)
    finally:
        session.rollback()
        session.close()


def _mark(ctx: JobContext, file_id: str, status: str, created: int, message: str) -> None:
    with ctx.database.transaction() as session:
        session.execute(update(ImportFile).where(ImportFile.id == file_id)
                        .values(status=status, created_count=created, message=message))


registry.register(KIND, run_import, max_attempts=3,
                  description="import the files of an import session (COCO, NIfTI, DICOM SEG, ...) as annotations")

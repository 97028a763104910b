"""Export writers: each turns one resource's annotations at a time into files of the archive.

A writer is built with the archive and the plan, receives every resource in scope (with its
annotations, possibly none) through :meth:`Writer.add`, and completes its aggregate files in
:meth:`Writer.finish`. Annotations a format cannot hold are counted in ``plan.skip`` and named in
the job's log, never dropped silently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from datamint.server.annotations.models import Annotation
from datamint.server.annotations.wire import value_of
from datamint.server.datasets.archive import dicom_to_nifti
from datamint.server.db.base import iso
from datamint.server.formats.archive import PNG, Archive, Plan, dumps, read_frame_mask, read_volume_mask
from datamint.server.formats.geometry import ResourceGeometry
from datamint.server.formats.source import ResourceInfo


class Writer:
    """Base of the export writers."""

    #: The format's name in ``POST .../exports``.
    name = ""

    def __init__(self, archive: Archive, plan: Plan) -> None:
        self.archive = archive
        self.plan = plan

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        """Write what the format holds of one resource's annotations."""
        raise NotImplementedError

    def finish(self) -> None:
        """Write the aggregate files (categories, manifests...)."""

    def prefix(self, resource: ResourceInfo) -> str:
        """``<split>/`` when the export is split, else ``""``."""
        split = self.plan.split_of(resource)
        return f"{split}/" if split else ""


def frame_of(a: Annotation, geometry: ResourceGeometry) -> int | None:
    """The frame a 2-D annotation lies on: its ``frame_index``, else that of its first point."""
    if a.frame_index is not None:
        return a.frame_index
    points = (a.geometry or {}).get("points") or []
    if points:
        return int(round(geometry.to_pixel(points[0])[2]))
    return None


def pixel_points(a: Annotation, geometry: ResourceGeometry) -> list[tuple[float, float]]:
    """The annotation's points as ``(column, row)`` pixels of its frame."""
    return [geometry.to_pixel(p)[:2] for p in (a.geometry or {}).get("points") or []]


def is_volume_mask(a: Annotation) -> bool:
    """A segmentation whose mask is a NIfTI volume (image scope on DICOM/NIfTI)."""
    return a.type == "segmentation" and a.file_key is not None and a.file_mimetype != PNG


# -- our own JSON ---------------------------------------------------------------------------------

class NativeWriter(Writer):
    """``datamint``: ``annotations.jsonl`` (one annotation per line, every field, points as stored
    and in pixels) and ``masks/<annotation id>.png|.nii.gz`` as stored; lossless."""

    name = "datamint"

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        out = self.archive.spool("annotations.jsonl")
        geometry = self.plan.geometry(resource) if any(a.geometry for a in annotations) else None
        for a in annotations:
            record: dict[str, Any] = {
                "id": a.id, "resource_id": a.resource_id, "resource_filename": resource.filename,
                "sop_instance_uid": resource.instance_uid, "split": self.plan.split_of(resource),
                "type": a.type, "identifier": a.identifier, "scope": a.scope, "frame_index": a.frame_index,
                "frame_range": [a.frame_index, a.frame_end] if a.frame_end is not None else None,
                "value": value_of(a), "units": a.units, "geometry": a.geometry, "status": a.status,
                "source": a.source, "imported_from": a.imported_from, "import_author": a.import_author,
                "is_model": a.is_model, "model_id": a.model_id, "confiability": a.confiability,
                "class_map": a.class_map, "set_name": a.set_name, "created_by": a.created_by,
                "created_at": iso(a.created_at), "worklist_id": a.worklist_id,
            }
            if geometry is not None and a.geometry:
                record["pixel_points"] = [list(geometry.to_pixel(p)) for p in a.geometry.get("points") or []]
            if a.file_key:
                path = f"masks/{a.id}{'.png' if a.file_mimetype == PNG else '.nii.gz'}"
                self.archive.write(path, self.plan.store.get(a.file_key))
                record["mask"] = path
            out.write(dumps(record) + "\n")
            self.plan.written += 1

    def finish(self) -> None:
        self.archive.spool("annotations.jsonl")
        self.archive.write("datamint.json", dumps({"format": "datamint", "version": 1, "labels": self.plan.labels}))


# -- COCO -----------------------------------------------------------------------------------------

def polygon_area(xy: Sequence[tuple[float, float]]) -> float:
    """Shoelace area of a polygon."""
    x = np.array([p[0] for p in xy])
    y = np.array([p[1] for p in xy])
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


class CocoWriter(Writer):
    """``coco``: COCO instances JSON (``annotations.json``, or ``<split>/annotations.json``).

    One image per single-frame resource, and per annotated frame of a multi-frame one (each
    image carries ``datamint_resource_id`` and ``frame_index``); boxes (``square``) as ``bbox``
    with an empty ``segmentation``; polygons (``region``/``area``) as polygons; 2-D masks as
    compressed RLE (pycocotools), exact. Each annotation also carries ``datamint_scope`` (``frame``
    or ``image``), which COCO readers ignore and our import keeps. Volume masks, points, lines and labels are not COCO
    instances: they are counted as skipped.
    """

    name = "coco"
    _KINDS = ("square", "region", "area", "segmentation")

    def __init__(self, archive: Archive, plan: Plan) -> None:
        super().__init__(archive, plan)
        self.next_image = 1
        self.next_annotation = 1
        self.counts: dict[str, list[int]] = {}  # file → [images, annotations] written

    def _file(self, resource: ResourceInfo) -> str:
        return f"{self.prefix(resource)}annotations.json"

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        name = self._file(resource)
        images = self.archive.spool(f"{name}#images")
        items = self.archive.spool(f"{name}#annotations")
        counts = self.counts.setdefault(name, [0, 0])
        flat = [a for a in annotations if a.type in self._KINDS]
        for a in annotations:
            if a.type not in self._KINDS:
                self.plan.skip(f"{a.type} (not a COCO instance)")
        geometry = self.plan.geometry(resource) if any(a.geometry for a in flat) else None
        by_frame: dict[int, list[Annotation]] = {}
        for a in flat:
            if is_volume_mask(a) and resource.frames > 1:
                self.plan.skip("volume segmentation (COCO is 2-D: use nifti or dicom-seg)")
                continue
            frame = 0 if resource.frames == 1 else (a.frame_index if a.frame_index is not None
                                                    else frame_of(a, geometry) if geometry else 0)
            by_frame.setdefault(int(frame or 0), []).append(a)
        frames = [0] if resource.frames == 1 else sorted(by_frame)
        for frame in frames:
            image_id = self.next_image
            self.next_image += 1
            file_name = resource.filename if resource.frames == 1 else f"{resource.stem}_frame{frame:04d}.png"
            if counts[0]:
                images.write(",")
            counts[0] += 1
            images.write(dumps({"id": image_id, "file_name": file_name, "width": resource.width,
                                "height": resource.height, "datamint_resource_id": resource.id,
                                "frame_index": frame}))
            for a in by_frame.get(frame, []):
                record = self._annotation(a, resource, geometry)
                if record is None:
                    continue
                record.update({"id": self.next_annotation, "image_id": image_id,
                               "category_id": self.plan.class_id(a.identifier), "iscrowd": 0,
                               "datamint_scope": a.scope})
                if counts[1]:
                    items.write(",")
                counts[1] += 1
                items.write(dumps(record))
                self.next_annotation += 1
                self.plan.written += 1

    def _annotation(self, a: Annotation, resource: ResourceInfo, geometry: ResourceGeometry | None
                    ) -> dict[str, Any] | None:
        from pycocotools import mask as coco_mask

        if a.type == "segmentation":
            if not a.file_key:
                self.plan.skip("segmentation without a mask")
                return None
            data = self.plan.store.get(a.file_key)
            mask = read_frame_mask(data) if a.file_mimetype == PNG else read_volume_mask(data)[..., 0].T
            rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
            return {"segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
                    "area": float(coco_mask.area(rle)), "bbox": [float(v) for v in coco_mask.toBbox(rle)]}
        assert geometry is not None
        xy = pixel_points(a, geometry)
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        if a.type == "square":
            return {"segmentation": [], "area": bbox[2] * bbox[3], "bbox": bbox}
        return {"segmentation": [[c for p in xy for c in p]], "area": polygon_area(xy), "bbox": bbox}

    def finish(self) -> None:
        categories = [{"id": i + 1, "name": label, "supercategory": "none"} for i, label in enumerate(self.plan.labels)]
        for name in sorted(self.counts):
            images = self.archive.spool(f"{name}#images")
            items = self.archive.spool(f"{name}#annotations")
            out = self.archive.spool(name)
            out.write('{"info":{"description":"Datamint export","version":"1.0"},"licenses":[],"images":[')
            for part, spool in ((images, images), (items, items)):
                spool.seek(0)
                while chunk := spool.read(1 << 20):
                    out.write(chunk)
                if part is images:
                    out.write('],"annotations":[')
            out.write('],"categories":' + dumps(categories) + "}")
            self.archive.drop_spool(f"{name}#images")
            self.archive.drop_spool(f"{name}#annotations")


# -- NIfTI label maps -----------------------------------------------------------------------------

class NiftiWriter(Writer):
    """``nifti``: one class-index volume per resource with masks, ``labels/<name>.nii.gz``, in the
    resource's geometry (``(columns, rows, frames)`` voxels, the resource's affine), plus
    ``labels.json`` (label → class) and ``resources.jsonl`` (file → resource, and the labels that
    were frame masks, so an import gives them back as frame masks). Frame masks fill their slice;
    where masks overlap, the later annotation's class wins (counted in the log).

    ``options.nnunet``: nnU-Net v2's raw-dataset layout instead: ``imagesTr/<case>_0000.nii.gz``
    (the image as NIfTI on the same voxel grid: DICOM converted, NIfTI as uploaded, 2-D images as
    one slice), ``labelsTr/<case>.nii.gz`` (every resource, empty label maps included), resources
    of a split named ``test`` in ``imagesTs/`` without labels, and ``dataset.json``.
    """

    name = "nifti"

    def __init__(self, archive: Any, plan: Plan) -> None:
        super().__init__(archive, plan)
        self.nnunet = bool(plan.options.get("nnunet"))
        self.training = 0
        self.modalities: set[str] = set()

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        masks = [a for a in annotations if a.type == "segmentation" and a.file_key]
        for a in annotations:
            if a not in masks:
                self.plan.skip(f"{a.type} (a label map holds masks only)")
        if not masks and not self.nnunet:
            return
        if self.nnunet and resource.mimetype.startswith("video/"):
            self.plan.skip("mask on a video (nnU-Net takes images and volumes)", len(masks))
            return
        import nibabel

        count = len(self.plan.labels) + 1
        dtype = np.uint8 if count < 256 else np.uint16
        volume = np.zeros((resource.width, resource.height, resource.frames), dtype=dtype)
        overlaps = 0
        frame_labels = sorted({a.identifier for a in masks if a.file_mimetype == PNG})
        for a in masks:
            data = self.plan.store.get(a.file_key)
            value = self.plan.class_id(a.identifier)
            if a.file_mimetype == PNG:
                frame = a.frame_index or 0
                mask = read_frame_mask(data).T
                target = volume[:, :, frame]
            else:
                mask = read_volume_mask(data)
                target = volume
            if mask.shape != target.shape:
                self.plan.skip("mask whose size differs from its resource")
                continue
            overlaps += int(np.count_nonzero(target[mask]))
            target[mask] = value
            self.plan.written += 1
        if overlaps:
            self.plan.log(f"{resource.filename}: {overlaps} voxel(s) in more than one mask; the later label kept")
        affine = self.plan.geometry(resource).affine()
        image = nibabel.Nifti1Image(volume, affine)
        image.header.set_data_dtype(dtype)
        if self.nnunet:
            test = self.plan.split_of(resource) == "test"
            self.archive.write(f"{'imagesTs' if test else 'imagesTr'}/{resource.stem}_0000.nii.gz",
                               self._image(resource, affine))
            self.modalities.add(resource.modality or "image")
            if test:
                return
            self.training += 1
            path = f"labelsTr/{resource.stem}.nii.gz"
        else:
            path = f"{self.prefix(resource)}labels/{resource.stem}.nii.gz"
        self.archive.write(path, gzip.compress(image.to_bytes(), compresslevel=6))
        self.archive.spool("resources.jsonl").write(dumps({"file": path, "resource_id": resource.id,
                                                          "filename": resource.filename,
                                                          "sop_instance_uid": resource.instance_uid,
                                                          "frame_labels": frame_labels}) + "\n")

    def _image(self, resource: ResourceInfo, affine: np.ndarray) -> bytes:
        """The resource as NIfTI on the label maps' voxel grid."""
        import nibabel

        data = self.plan.store.get(resource.location)
        if resource.mimetype == "application/dicom":
            return dicom_to_nifti(data)
        if resource.mimetype == "application/nifti":
            return data if data[:2] == b"\x1f\x8b" else gzip.compress(data, compresslevel=6)
        from datamint.imaging.render import open_image

        with open_image(data) as picture:  # its size checked against the decoded-size limits first
            pixels = np.asarray(picture.convert("L"))
        return gzip.compress(nibabel.Nifti1Image(np.ascontiguousarray(pixels.T[:, :, np.newaxis]),
                                                 affine).to_bytes(), compresslevel=6)

    def finish(self) -> None:
        labels = {"background": 0, **{label: i + 1 for i, label in enumerate(self.plan.labels)}}
        self.archive.write("labels.json", json.dumps({"labels": labels}, indent=1))
        self.archive.spool("resources.jsonl")
        if self.nnunet:
            channels = sorted(self.modalities) or ["image"]
            if len(channels) > 1:
                self.plan.log(f"resources of several modalities ({', '.join(channels)}) share channel 0", )
            self.archive.write("dataset.json", json.dumps({
                "channel_names": {"0": channels[0]}, "labels": labels, "numTraining": self.training,
                "file_ending": ".nii.gz", "name": "Datamint export"}, indent=1))


WRITERS: dict[str, type[Writer]] = {w.name: w for w in (NativeWriter, CocoWriter, NiftiWriter)}

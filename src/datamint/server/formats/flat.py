"""The 2-D formats: YOLO, Pascal VOC, CSV box tables (Datature's four-corner and width-height
layouts) and PNG masks (semantic and instance), out and in.

Each image of these formats is a single-frame resource, or one frame of a multi-frame one, named
``<resource stem>`` or ``<resource stem>_frame<NNNN>`` (the stem ends with the first 8 characters
of the resource id, so an import finds the resource again). Coordinates are pixels of the frame
(x the column, y the row); YOLO's are normalised to the image size, VOC's are 1-based as VOC
counts pixels. Annotations a format cannot hold are counted in the export's log.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import xml.etree.ElementTree as ET  # noqa: N817 - the usual name
from collections.abc import Sequence
from typing import Any

import numpy as np

from datamint.server.annotations.models import Annotation
from datamint.server.common.limits import YamlAliasError, load_yaml
from datamint.server.common.spreadsheets import csv_cell, csv_text
from datamint.server.formats.archive import PNG, dumps, read_frame_mask, read_volume_mask
from datamint.server.formats.readers import (
    READERS,
    Candidate,
    FileSet,
    Problem,
    Ref,
    _json_lines,
    _labels_of,
    _manifest_entry,
    check_mask_size,
)
from datamint.server.formats.source import ResourceInfo
from datamint.server.formats.writers import WRITERS, Writer, frame_of, pixel_points

_FRAME = re.compile(r"^(?P<stem>.+)_frame(?P<frame>\d{4})$")


def image_stem(resource: ResourceInfo, frame: int) -> str:
    """The image name (without extension) of one frame of a resource."""
    return resource.stem if resource.frames == 1 else f"{resource.stem}_frame{frame:04d}"


def parse_stem(stem: str) -> tuple[str, int]:
    """``(resource name, frame)`` of an image name written by :func:`image_stem` (frame 0 otherwise)."""
    found = _FRAME.match(stem)
    return (found["stem"], int(found["frame"])) if found else (stem, 0)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 6)


class _FrameWriter(Writer):
    """Groups a resource's annotations by frame, with pixel coordinates."""

    kinds: tuple[str, ...] = ("square",)

    def frames(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> dict[int, list[Annotation]]:
        """Annotations this format holds, by frame (the others are counted as skipped)."""
        out: dict[int, list[Annotation]] = {}
        geometry = self.plan.geometry(resource) if any(a.geometry for a in annotations) else None
        for a in annotations:
            if a.type not in self.kinds or (a.type == "segmentation" and not a.file_key):
                self.plan.skip(f"{a.type} (not in {self.name})")
                continue
            if a.type == "segmentation" and a.file_mimetype != PNG and resource.frames > 1:
                self.plan.skip(f"volume segmentation (not in {self.name}: use nifti or dicom_seg)")
                continue
            frame = a.frame_index if a.frame_index is not None else (frame_of(a, geometry) if geometry else 0)
            out.setdefault(int(frame or 0), []).append(a)
        return out

    def box(self, a: Annotation, resource: ResourceInfo) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in pixels."""
        xy = pixel_points(a, self.plan.geometry(resource))
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        return min(xs), min(ys), max(xs), max(ys)


# -- YOLO -----------------------------------------------------------------------------------------

def mask_polygons(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """The outlines of a 2-D mask as YOLO-seg polygons, in pixel indices ``(column, row)``.

    Each connected component is one polygon (OpenCV's ``findContours`` with ``RETR_CCOMP``: outer
    borders and the borders of their holes). A hole is joined to its component's outline by a
    zero-width cut between their nearest points, as Ultralytics joins the parts of a COCO polygon,
    so the polygon filled with the even-odd rule leaves the hole out and YOLO's one polygon per
    object still holds it. Polygons have at least 3 points (a lone pixel repeats its point).
    """
    import cv2

    contours, hierarchy = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    out = []
    for index, contour in enumerate(contours):
        if hierarchy[0][index][3] != -1:
            continue
        ring = [tuple(int(v) for v in p[0]) for p in contour]
        child = hierarchy[0][index][2]
        while child != -1:
            hole = [tuple(int(v) for v in p[0]) for p in contours[child]]
            outer = np.array(ring, dtype=np.int64)
            inner = np.array(hole, dtype=np.int64)
            distances = ((outer[:, None, :] - inner[None, :, :]) ** 2).sum(axis=2)
            i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
            ring = ring[:i + 1] + hole[j:] + hole[:j + 1] + ring[i:]
            child = hierarchy[0][child][0]
        while len(ring) < 3:
            ring.append(ring[-1])
        out.append(ring)
    return out


def fill_polygons(polygons: list[list[tuple[float, float]]], width: int, height: int) -> np.ndarray:
    """The ``(height, width)`` mask of YOLO-seg polygons in pixel indices (the inverse of
    :func:`mask_polygons`): each polygon filled with its outline, holes by the even-odd rule."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        points = np.round(np.array(polygon, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        layer = np.zeros_like(mask)
        cv2.fillPoly(layer, [points], 1)
        cv2.polylines(layer, [points], True, 1)
        mask |= layer
    return mask.astype(bool)


class YoloWriter(_FrameWriter):
    """``yolo``: ``labels/[<split>/]<image>.txt`` with ``class cx cy w h`` (detection, the default)
    or ``class x1 y1 x2 y2 ...`` polygons (``options.task = 'segment'``), normalised, class ids from
    0; ``data.yaml`` names the classes (Ultralytics' layout)."""

    name = "yolo"

    def __init__(self, archive: Any, plan: Any) -> None:
        super().__init__(archive, plan)
        self.segment = plan.options.get("task") == "segment"
        self.kinds = ("region", "area", "segmentation") if self.segment else ("square",)
        self.splits: set[str] = set()

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        split = self.plan.split_of(resource)
        if split:
            self.splits.add(split)
        width, height = resource.width or 1, resource.height or 1
        for frame, group in self.frames(resource, annotations).items():
            lines: list[str] = []
            masks: list[dict[str, Any]] = []
            for a in group:
                cls = self.plan.class_id(a.identifier, start=0)
                if a.type == "segmentation":
                    data = self.plan.store.get(a.file_key)
                    mask = read_frame_mask(data) if a.file_mimetype == PNG else read_volume_mask(data)[:, :, 0].T
                    polygons = mask_polygons(mask)
                    if not polygons:
                        self.plan.skip("empty segmentation (nothing to trace)")
                        continue
                    first = len(lines) + 1
                    for polygon in polygons:
                        coords = " ".join(f"{(x + 0.5) / width:.6f} {(y + 0.5) / height:.6f}" for x, y in polygon)
                        lines.append(f"{cls} {coords}")
                    masks.append({"label": a.identifier, "scope": a.scope, "lines": [first, len(lines)]})
                elif self.segment:
                    xy = pixel_points(a, self.plan.geometry(resource))
                    coords = " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in xy)
                    lines.append(f"{cls} {coords}")
                else:
                    x0, y0, x1, y1 = self.box(a, resource)
                    lines.append(f"{cls} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                                 f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
                self.plan.written += 1
            if not lines:
                continue
            folder = f"labels/{split}/" if split else "labels/"
            path = f"{folder}{image_stem(resource, frame)}.txt"
            self.archive.write(path, "\n".join(lines) + "\n")
            if masks:
                self.archive.spool("yolo_masks.jsonl").write(dumps(
                    {"file": path, "resource_id": resource.id, "frame_index": frame, "width": width,
                     "height": height, "masks": masks}) + "\n")

    def finish(self) -> None:
        names = "\n".join(f"  {i}: {json.dumps(label)}" for i, label in enumerate(self.plan.labels))
        parts = sorted(self.splits) or ["train"]
        paths = "\n".join(f"{p}: images/{p}" for p in parts) if self.splits else "train: images\nval: images"
        self.archive.write("data.yaml", f"path: .\n{paths}\nnc: {len(self.plan.labels)}\nnames:\n{names}\n")


def _yolo_names(name: str, files: FileSet) -> dict[int, str]:
    found = files.sibling(name, "data.yaml") or files.sibling(posixpath.dirname(name), "data.yaml")
    if not found:
        return {}

    try:
        doc = load_yaml(files.read(found)) or {}
    except YamlAliasError as exc:
        raise Problem(found, str(exc))
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()}
    return {}


def read_yolo(name: str, files: FileSet) -> list[Candidate]:
    """A YOLO label file: 5 numbers a line are a box, more are a polygon (normalised coordinates).

    Lines that ``yolo_masks.jsonl`` (our segmentation export) lists as a traced mask are filled back
    into that mask (:func:`fill_polygons`) on the image size it records.
    """
    names = _yolo_names(name, files)
    stem, frame = parse_stem(posixpath.basename(name)[:-4])
    entry = _manifest_entry(name, files, "yolo_masks.jsonl")
    mask_of_line: dict[int, int] = {}
    for n, group in enumerate(entry.get("masks") or []):
        first, last = (int(v) for v in group["lines"])
        mask_of_line.update({line: n for line in range(first, last + 1)})
    polygons: dict[int, list[list[tuple[float, float]]]] = {}
    out = []
    for number, line in enumerate(files.read(name).decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            raise Problem(where, f"not numbers: {line.strip()[:60]!r}",
                          "a line is 'class cx cy w h' or 'class x1 y1 ...'")
        if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0):
            raise Problem(where, f"{len(values)} numbers: a box has 5, a polygon 1 + an even number >= 6")
        cls = int(values[0])
        if names and cls not in names:
            raise Problem(where, f"class {cls} is not in data.yaml's names (0..{len(names) - 1})")
        label = names.get(cls, f"class_{cls}")
        base = {"identifier": label, "scope": "frame", "frame_index": frame}
        if len(values) == 5:
            cx, cy, w, h = values[1:]
            pixels = [(cx - w / 2, cy - h / 2), (cx + w / 2, cy - h / 2), (cx - w / 2, cy + h / 2),
                      (cx + w / 2, cy + h / 2)]
            out.append(Candidate(where, Ref(filename=stem), {**base, "type": "square", "_normalized": True,
                                                             "_free_scope": True},
                                 pixels=pixels))
        elif number in mask_of_line:  # a traced mask's outline (our export's yolo_masks.jsonl says so)
            width, height = int(entry["width"]), int(entry["height"])
            polygons.setdefault(mask_of_line[number], []).append(
                [(values[i] * width - 0.5, values[i + 1] * height - 0.5) for i in range(1, len(values), 2)])
        else:
            xy = [(values[i], values[i + 1]) for i in range(1, len(values), 2)]
            out.append(Candidate(where, Ref(filename=stem), {**base, "type": "region", "_normalized": True,
                                                             "_free_scope": True},
                                 pixels=xy))
    for n, rings in sorted(polygons.items()):
        group = entry["masks"][n]
        check_mask_size(f"{name}:{group['lines'][0]}-{group['lines'][1]}", int(entry["width"]), int(entry["height"]))
        out.append(Candidate(f"{name}:{group['lines'][0]}-{group['lines'][1]}",
                             Ref(entry.get("resource_id"), stem),
                             {"type": "segmentation", "identifier": str(group.get("label")),
                              "scope": group.get("scope") or "frame",
                              "frame_index": int(entry.get("frame_index", frame))},
                             mask=fill_polygons(rings, int(entry["width"]), int(entry["height"]))))
    return out


# -- Pascal VOC -----------------------------------------------------------------------------------

class VocWriter(_FrameWriter):
    """``voc``: ``Annotations/<image>.xml`` per annotated image (boxes, 1-based pixel coordinates)
    and ``ImageSets/Main/<split>.txt`` listing the images of each split."""

    name = "voc"

    def __init__(self, archive: Any, plan: Any) -> None:
        super().__init__(archive, plan)
        self.sets: dict[str, list[str]] = {}

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        for frame, group in self.frames(resource, annotations).items():
            stem = image_stem(resource, frame)
            root = ET.Element("annotation")
            ET.SubElement(root, "folder").text = "JPEGImages"
            ET.SubElement(root, "filename").text = f"{stem}.png" if resource.frames > 1 else resource.filename
            ET.SubElement(root, "datamint_resource_id").text = resource.id
            ET.SubElement(root, "frame_index").text = str(frame)
            size = ET.SubElement(root, "size")
            for tag, value in (("width", resource.width), ("height", resource.height), ("depth", 1)):
                ET.SubElement(size, tag).text = str(value)
            ET.SubElement(root, "segmented").text = "0"
            for a in group:
                x0, y0, x1, y1 = self.box(a, resource)
                obj = ET.SubElement(root, "object")
                ET.SubElement(obj, "name").text = a.identifier
                ET.SubElement(obj, "pose").text = "Unspecified"
                ET.SubElement(obj, "truncated").text = "0"
                ET.SubElement(obj, "difficult").text = "0"
                box = ET.SubElement(obj, "bndbox")
                for tag, value in (("xmin", x0), ("ymin", y0), ("xmax", x1), ("ymax", y1)):
                    ET.SubElement(box, tag).text = str(_number(value + 1))
                self.plan.written += 1
            ET.indent(root)
            self.archive.write(f"Annotations/{stem}.xml", ET.tostring(root, encoding="unicode") + "\n")
            self.sets.setdefault(self.plan.split_of(resource) or "trainval", []).append(stem)

    def finish(self) -> None:
        for split, stems in sorted(self.sets.items()):
            self.archive.write(f"ImageSets/Main/{split}.txt", "\n".join(stems) + "\n")


def read_voc(name: str, files: FileSet) -> list[Candidate]:
    """A Pascal VOC annotation: each object's ``bndbox`` becomes a box (``square``)."""
    try:
        root = ET.fromstring(files.read(name))
    except ET.ParseError as exc:
        raise Problem(name, f"not valid XML ({exc})")
    if root.tag != "annotation":
        raise Problem(name, f"not a Pascal VOC file (root element <{root.tag}>, expected <annotation>)")
    filename = root.findtext("filename") or posixpath.basename(name)[:-4]
    stem, frame = parse_stem(posixpath.splitext(filename)[0])
    frame = int(root.findtext("frame_index") or frame)
    width, height = root.findtext("size/width"), root.findtext("size/height")
    size = (int(float(width)), int(float(height))) if width and height else None
    ref = Ref(root.findtext("datamint_resource_id"), stem if root.findtext("frame_index") else filename, None, size)
    out = []
    for i, obj in enumerate(root.iter("object"), 1):
        where = f"{name}: object {i}"
        label = (obj.findtext("name") or "").strip()
        try:
            x0, y0, x1, y1 = (float(obj.findtext(f"bndbox/{t}") or "") - 1 for t in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            raise Problem(where, "bndbox needs numeric xmin, ymin, xmax and ymax")
        out.append(Candidate(where, ref, {"type": "square", "identifier": label, "scope": "frame",
                                          "frame_index": frame, "_free_scope": True},
                             pixels=[(x0, y0), (x1, y0), (x0, y1), (x1, y1)]))
    return out


# -- CSV boxes ------------------------------------------------------------------------------------

class CsvWriter(_FrameWriter):
    """``csv_fourcorner`` (``filename,xmin,ymin,xmax,ymax,label``) and ``csv_widthheight``
    (``filename,xmin,ymin,width,height,label``), seed 003's layouts, plus ``resource_id`` and
    ``frame_index``; one CSV per split (``<split>.csv``) or ``annotations.csv``."""

    name = "csv_fourcorner"
    _HEADER = {"csv_fourcorner": ("filename", "xmin", "ymin", "xmax", "ymax", "label", "resource_id", "frame_index"),
               "csv_widthheight": ("filename", "xmin", "ymin", "width", "height", "label", "resource_id",
                                   "frame_index")}

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        name = f"{self.plan.split_of(resource) or 'annotations'}.csv"
        new = not self.archive.has_spool(name)
        out = self.archive.spool(name)
        writer = csv.writer(out)
        if new:
            writer.writerow(self._HEADER[self.name])
        for frame, group in self.frames(resource, annotations).items():
            filename = resource.filename if resource.frames == 1 else f"{image_stem(resource, frame)}.png"
            for a in group:
                x0, y0, x1, y1 = self.box(a, resource)
                third, fourth = (x1, y1) if self.name == "csv_fourcorner" else (x1 - x0, y1 - y0)
                writer.writerow([csv_cell(filename), _number(x0), _number(y0), _number(third), _number(fourth),
                                 csv_cell(a.identifier), resource.id, frame])
                self.plan.written += 1


class CsvWidthHeightWriter(CsvWriter):
    """``csv_widthheight``: see :class:`CsvWriter`."""

    name = "csv_widthheight"


def read_csv(name: str, files: FileSet) -> list[Candidate]:
    """A CSV of boxes, four-corner (``xmax, ymax``) or width-height (``width, height``) columns."""
    text = files.read(name).decode("utf-8-sig", errors="replace")
    rows = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in rows.fieldnames or []}
    corner = {"xmax", "ymax"} <= fields
    if not ({"filename", "xmin", "ymin", "label"} <= fields and (corner or {"width", "height"} <= fields)):
        raise Problem(f"{name}:1", f"columns {sorted(fields)} are neither the four-corner (filename, xmin, ymin, "
                                   "xmax, ymax, label) nor the width-height layout (..., width, height, label)")
    out = []
    for number, row in enumerate(rows, 2):
        row = {k.strip().lower(): csv_text((v or "").strip()) for k, v in row.items() if k}
        where = f"{name}:{number}"
        try:
            x0, y0 = float(row["xmin"]), float(row["ymin"])
            x1, y1 = (float(row["xmax"]), float(row["ymax"])) if corner else \
                (x0 + float(row["width"]), y0 + float(row["height"]))
        except ValueError:
            raise Problem(where, "box coordinates must be numbers")
        filename = row["filename"]
        stem, frame = parse_stem(posixpath.splitext(posixpath.basename(filename))[0])
        frame = int(row["frame_index"]) if row.get("frame_index") else frame
        ref = Ref(row.get("resource_id") or None, filename if frame == 0 and not _FRAME.match(stem) else stem)
        out.append(Candidate(where, ref, {"type": "square", "identifier": row["label"], "scope": "frame",
                                          "frame_index": frame, "_free_scope": True},
                             pixels=[(x0, y0), (x1, y0), (x0, y1), (x1, y1)]))
    return out


# -- PNG masks ------------------------------------------------------------------------------------

class PngMaskWriter(_FrameWriter):
    """``png_masks``: ``semantic/[<split>/]<image>.png``, one class-index PNG per annotated image
    (class ids of ``labels.json``; the later mask wins where two overlap), and with
    ``options.instances`` also ``instances/<image>_<n>.png`` (one 0/255 PNG per mask) listed in
    ``instances.jsonl``."""

    name = "png_masks"
    kinds = ("segmentation",)

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        from PIL import Image

        split = self.plan.split_of(resource)
        for frame, group in self.frames(resource, annotations).items():
            count = len(self.plan.labels) + 1
            classes = np.zeros((resource.height, resource.width), dtype=np.uint8 if count < 256 else np.uint16)
            stem = image_stem(resource, frame)
            for n, a in enumerate(group, 1):
                data = self.plan.store.get(a.file_key)
                mask = read_frame_mask(data) if a.file_mimetype == PNG else read_volume_mask(data)[:, :, 0].T
                classes[mask] = self.plan.class_id(a.identifier)
                self.plan.written += 1
                if self.plan.options.get("instances"):
                    path = f"instances/{stem}_{n}.png"
                    buffer = io.BytesIO()
                    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
                    self.archive.write(path, buffer.getvalue())
                    self.archive.spool("instances.jsonl").write(dumps(
                        {"file": path, "label": a.identifier, "resource_id": resource.id, "frame_index": frame,
                         "scope": a.scope}) + "\n")
            buffer = io.BytesIO()
            Image.fromarray(classes).save(buffer, format="PNG")
            folder = f"semantic/{split}/" if split else "semantic/"
            self.archive.write(f"{folder}{stem}.png", buffer.getvalue())
            self.archive.spool("semantic.jsonl").write(dumps(
                {"file": f"{folder}{stem}.png", "resource_id": resource.id, "frame_index": frame,
                 "scopes": {a.identifier: a.scope for a in group}}) + "\n")

    def finish(self) -> None:
        labels = {"background": 0, **{label: i + 1 for i, label in enumerate(self.plan.labels)}}
        self.archive.write("labels.json", json.dumps({"labels": labels}, indent=1))


def _png_array(where: str, data: bytes) -> np.ndarray:
    from datamint.imaging.limits import DecodedSizeError
    from datamint.imaging.render import open_image

    try:
        with open_image(data) as image:  # its size checked against the decoded-size limits first
            return np.asarray(image)
    except DecodedSizeError as exc:
        raise Problem(where, str(exc))
    except Exception as exc:
        raise Problem(where, f"not a readable PNG ({exc})")


def read_semantic(name: str, files: FileSet) -> list[Candidate]:
    """A class-index PNG: one frame mask per class present (names from ``labels.json``)."""

    array = _png_array(name, files.read(name))
    if array.ndim != 2:
        raise Problem(name, f"a semantic mask is a single-channel class-index image, this one has shape {array.shape}")
    names = _labels_of(name, files)
    entry = _manifest_entry(name, files, "semantic.jsonl")
    stem, frame = parse_stem(posixpath.splitext(posixpath.basename(name))[0])
    frame = int(entry.get("frame_index", frame))
    ref = Ref(entry.get("resource_id"), stem)
    scopes = entry.get("scopes") or {}
    out = []
    for value in (int(v) for v in np.unique(array) if v > 0):
        label = names.get(value, f"label_{value}")
        out.append(Candidate(f"{name}: class {value} ({label})", ref,
                             {"type": "segmentation", "identifier": label, "scope": scopes.get(label, "frame"),
                              "frame_index": frame}, mask=array == value))
    return out


def read_instances(name: str, files: FileSet) -> list[Candidate]:
    """``instances.jsonl``: one frame mask per listed PNG."""

    out = []
    for number, record in _json_lines(name, files.read(name)):
        where = f"{name}:{number}"
        path = posixpath.normpath(posixpath.join(posixpath.dirname(name), str(record.get("file"))))
        if path not in files.names:
            raise Problem(where, f"mask file {record.get('file')!r} is not in the import session")
        mask = _png_array(where, files.read(path)) != 0
        if mask.ndim == 3:
            mask = mask.any(axis=-1)
        out.append(Candidate(where, Ref(record.get("resource_id"), None),
                             {"type": "segmentation", "identifier": str(record.get("label")),
                              "scope": record.get("scope") or "frame",
                              "frame_index": int(record.get("frame_index") or 0)},
                             mask=mask))
    return out


for _writer in (YoloWriter, VocWriter, CsvWriter, CsvWidthHeightWriter, PngMaskWriter):
    WRITERS[_writer.name] = _writer
READERS.update({"yolo": read_yolo, "voc": read_voc, "csv": read_csv, "png_semantic": read_semantic,
                "png_instances": read_instances})

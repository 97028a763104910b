"""Import readers: each turns one file of an import session into candidate annotations.

A reader raises :class:`Problem` (the file's name and line or item, what is wrong, and a hint)
for anything it cannot read; the importer then imports nothing of that file. Geometry read in
pixels (COCO, YOLO, VOC, CSV) stays in pixels here; the importer converts it to the resource's
stored coordinates once it knows the resource.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datamint.imaging.limits import DecodedSizeError, check_frames
from datamint.server.common.values import parse_json, small_number
from datamint.server.errors import ValidationFailedError
from datamint.server.formats.archive import read_frame_mask, read_volume_mask

#: Files that only support others (labels, manifests, masks referenced by an annotation file).
SUPPORT_NAMES = ("labels.json", "resources.jsonl", "datamint.json", "dataset.json", "data.yaml", "classes.txt",
                 "semantic.jsonl", "yolo_masks.jsonl")


class Problem(Exception):
    """Something in a file that stops it from being imported."""

    def __init__(self, where: str, message: str, hint: str | None = None) -> None:
        self.where, self.message, self.hint = where, message, hint
        super().__init__(f"At {where}: {message}" + (f"\n\nHint: {hint}" if hint else ""))


@dataclass
class Ref:
    """How a candidate names its resource (any of these; the importer tries them in order)."""

    resource_id: str | None = None
    filename: str | None = None
    sop_instance_uid: str | None = None
    size: tuple[int, int] | None = None  # (width, height) the file says the image has


@dataclass
class Candidate:
    """One annotation read from a file.

    Attributes:
        where: ``file:line`` or ``file: item``, for messages.
        item: A create item of wire §7.2 (type, identifier, scope, frame_index, value...).
        pixels: Geometry points in pixels of ``item['frame_index']`` (converted by the importer).
        mask: A frame mask ``(rows, columns)`` or a volume ``(columns, rows, frames)``, boolean.
        frame_labels: For label maps: labels to import as one frame mask per frame.
    """

    where: str
    ref: Ref
    item: dict[str, Any]
    pixels: list[tuple[float, float]] | None = None
    mask: np.ndarray | None = None
    mask_bytes: tuple[bytes, str] | None = None


@dataclass
class FileSet:
    """The files of an import session, by name (a zip added to a session counts as its members)."""

    names: list[str]
    read: Callable[[str], bytes]
    cache: dict[str, Any] = field(default_factory=dict)

    def sibling(self, name: str, other: str) -> str | None:
        """``other`` in ``name``'s folder or the nearest folder above it, if the session has it."""
        folder = posixpath.dirname(name)
        while True:
            candidate = posixpath.join(folder, other) if folder else other
            if candidate in self.names:
                return candidate
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def json(self, name: str) -> Any:
        """A JSON file of the set (parsed once)."""
        if name not in self.cache:
            try:
                self.cache[name] = parse_json(self.read(name), name)
            except ValidationFailedError as exc:
                raise Problem(name, exc.message) from exc
        return self.cache[name]


def kind_of(name: str, head: bytes) -> str | None:
    """The reader for a file (``None``: a support file or one no reader takes)."""
    lower = name.lower()
    base = posixpath.basename(lower)
    folders = f"/{posixpath.dirname(lower)}/"
    if base in SUPPORT_NAMES or ("/masks/" in folders or "/instances/" in folders) and (
            lower.endswith(".png") or lower.endswith(".nii.gz")):
        return None
    if "/imagestr/" in folders or "/imagests/" in folders:  # nnU-Net's images, beside its labelsTr/
        return None
    if base == "instances.jsonl":
        return "png_instances"
    if lower.endswith(".jsonl"):
        return "datamint"
    if lower.endswith(".png") and "/semantic/" in folders:
        return "png_semantic"
    if lower.endswith(".txt"):
        return None if "/imagesets/" in folders else "yolo"  # VOC's image lists are not labels
    if lower.endswith(".xml"):
        return "voc"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".json"):
        return "coco"
    if lower.endswith(".nii") or lower.endswith(".nii.gz"):
        return "nifti"
    if lower.endswith(".dcm") or head[128:132] == b"DICM":
        return "dicom"
    return None


def _json_lines(name: str, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = parse_json(line, f"{name}:{number}")
        except ValidationFailedError as exc:
            raise Problem(f"{name}:{number}", exc.message, "each line holds one JSON object")
        if not isinstance(record, dict):
            raise Problem(f"{name}:{number}", "a line must hold a JSON object")
        yield number, record


_KEEP = ("type", "identifier", "scope", "frame_index", "frame_range", "value", "units", "geometry", "source",
         "imported_from", "import_author", "is_model", "model_id", "confiability", "class_map", "set_name")


def read_datamint(name: str, files: FileSet) -> list[Candidate]:
    """Our own JSONL (the ``datamint`` export): every field, geometry as stored, masks by path."""
    out = []
    for number, record in _json_lines(name, files.read(name)):
        where = f"{name}:{number}"
        item = {k: record[k] for k in _KEEP if record.get(k) is not None}
        if item.get("frame_range") is not None:
            item.pop("frame_index", None)
        candidate = Candidate(where, Ref(record.get("resource_id"), record.get("resource_filename"),
                                         record.get("sop_instance_uid")), item)
        mask = record.get("mask")
        if mask:
            path = posixpath.normpath(posixpath.join(posixpath.dirname(name), mask))
            if path not in files.names:
                raise Problem(where, f"mask file {mask!r} is not in the import session",
                              "add the export's whole folder (or its zip) so its masks/ come along")
            data = files.read(path)
            candidate.mask_bytes = (data, "image/png" if path.lower().endswith(".png") else "application/nifti")
        out.append(candidate)
    return out


def check_mask_size(where: str, width: int, height: int) -> None:
    """Refuse a mask whose size, as a file declares it, is over the decoded-size limits, before it is
    drawn or decoded (the importer compares it with the resource's size only afterwards).

    Raises:
        Problem: The size is over ``max_frame_pixels`` or ``max_decoded_mb``.
    """
    try:
        check_frames(rows=height, columns=width, what="the mask")
    except DecodedSizeError as exc:
        raise Problem(where, str(exc), "a mask has the width and height of its image") from None


def _rle_mask(where: str, segmentation: dict[str, Any], height: int, width: int) -> np.ndarray:
    from pycocotools import mask as coco_mask

    size = segmentation.get("size")
    counts = segmentation.get("counts")
    if not isinstance(size, list) or len(size) != 2 or counts is None:
        raise Problem(where, "an RLE segmentation needs 'size' [height, width] and 'counts'")
    if [int(size[0]), int(size[1])] != [height, width]:
        raise Problem(where, f"mask size {size[1]}x{size[0]} does not match the image {width}x{height}",
                      "the RLE's size is [height, width] of its image")
    check_mask_size(where, width, height)
    try:
        rle = coco_mask.frPyObjects(segmentation, height, width) if isinstance(counts, list) else \
            {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        return coco_mask.decode(rle).astype(bool)
    except Exception as exc:
        raise Problem(where, f"cannot decode the RLE mask ({exc})")


def read_coco(name: str, files: FileSet) -> list[Candidate]:
    """COCO instances: boxes (empty segmentation) → ``square``, polygons → ``region``, RLE → masks."""
    try:
        doc = files.json(name)
    except ValueError as exc:
        raise Problem(name, f"not valid JSON ({exc})")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations",
                                                                                   "categories")):
        raise Problem(name, "not a COCO file: it needs 'images', 'annotations' and 'categories' lists")
    categories = {c.get("id"): str(c.get("name")) for c in doc["categories"] if isinstance(c, dict)}
    images = {i.get("id"): i for i in doc["images"] if isinstance(i, dict)}
    out: list[Candidate] = []
    for position, ann in enumerate(doc["annotations"]):
        where = f"{name}: annotation {ann.get('id', position) if isinstance(ann, dict) else position}"
        if not isinstance(ann, dict):
            raise Problem(where, "an annotation must be a JSON object")
        image = images.get(ann.get("image_id"))
        if image is None:
            raise Problem(where, f"image_id {ann.get('image_id')!r} is not in 'images'")
        if ann.get("category_id") not in categories:
            raise Problem(where, f"category_id {ann.get('category_id')!r} is not in 'categories'")
        width, height = int(image.get("width") or 0), int(image.get("height") or 0)
        ref = Ref(image.get("datamint_resource_id"), image.get("file_name"), None, (width, height))
        frame = int(image.get("frame_index") or 0)
        scope = ann.get("datamint_scope") if ann.get("datamint_scope") in ("frame", "image") else \
            "frame" if "frame_index" in image else "image"
        base = {"identifier": categories[ann["category_id"]], "scope": scope, "frame_index": frame}
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, dict):
            mask = _rle_mask(where, segmentation, height, width)
            out.append(Candidate(where, ref, {**base, "type": "segmentation"}, mask=mask))
        elif isinstance(segmentation, list) and segmentation:
            for polygon in segmentation:
                if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
                    raise Problem(where, "a polygon is a flat list [x1, y1, x2, y2, ...] of at least 3 points")
                xy = [(float(polygon[i]), float(polygon[i + 1])) for i in range(0, len(polygon), 2)]
                out.append(Candidate(where, ref, {**base, "type": "region"}, pixels=xy))
        else:
            bbox = ann.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise Problem(where, "an annotation without segmentation needs 'bbox' [x, y, width, height]")
            x, y, w, h = (float(v) for v in bbox)
            out.append(Candidate(where, ref, {**base, "type": "square"},
                                 pixels=[(x, y), (x + w, y), (x, y + h), (x + w, y + h)]))
    return out


def _labels_of(name: str, files: FileSet) -> dict[int, str]:
    for support in ("labels.json", "dataset.json"):
        found = files.sibling(name, support)
        if found:
            doc = files.json(found)
            labels = doc.get("labels") if isinstance(doc, dict) else None
            if isinstance(labels, dict):
                out = {}
                for label, value in labels.items():
                    if isinstance(value, int) and value > 0:  # {"liver": 1} (ours and nnU-Net's)
                        out[value] = str(label)
                    elif (number := small_number(str(label))) is not None and number > 0:  # {"1": "liver"}
                        out[number] = str(value)
                return out
    return {}


def _manifest_entry(name: str, files: FileSet, manifest: str = "resources.jsonl") -> dict[str, Any]:
    found = files.sibling(name, manifest)
    if not found:
        return {}
    if found not in files.cache:
        entries = {}
        for _, record in _json_lines(found, files.read(found)):
            entries[posixpath.normpath(posixpath.join(posixpath.dirname(found), str(record.get("file"))))] = record
        files.cache[found] = entries
    return files.cache[found].get(name, {})


def read_nifti(name: str, files: FileSet) -> Iterator[Candidate]:
    """A NIfTI label map (class index per voxel): one segmentation per label present, yielded one
    at a time (each is a boolean volume of the map's size: the importer stores it before it takes
    the next, so a map with thousands of labels never holds thousands of volumes at once).

    Labels are named by ``labels.json`` or nnU-Net's ``dataset.json`` beside the file (or above
    it), else ``label_<value>``. The resource is the one ``resources.jsonl`` names, else the one
    whose file name matches. Labels listed as ``frame_labels`` there come back as frame masks.
    """
    from datamint.imaging.nifti_io import load_nifti

    try:
        image = load_nifti(files.read(name))
        array = np.asanyarray(image.dataobj)
    except Exception as exc:
        raise Problem(name, f"not a readable NIfTI file ({type(exc).__name__}: {exc})")
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3:
        raise Problem(name, f"a label map is 3-D, this one has shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(array == np.round(array)):
            raise Problem(name, "a label map holds integer class indexes; this one has fractions",
                          "probabilities must be thresholded into classes first")
        array = array.astype(np.int64)
    names = _labels_of(name, files)
    entry = _manifest_entry(name, files)
    stem = posixpath.basename(name)
    for suffix in (".nii.gz", ".nii"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    ref = Ref(entry.get("resource_id"), entry.get("filename") or stem, entry.get("sop_instance_uid"))
    frame_labels = set(entry.get("frame_labels") or [])
    for value in (int(v) for v in np.unique(array) if v > 0):
        label = names.get(value, f"label_{value}")
        where = f"{name}: label {value} ({label})"
        volume = array == value
        candidate = Candidate(where, ref, {"type": "segmentation", "identifier": label, "scope": "image"}, mask=volume)
        candidate.item["_affine"] = image.affine.tolist()
        if label in frame_labels:
            for k in np.flatnonzero(volume.any(axis=(0, 1))):
                yield Candidate(f"{where} frame {int(k)}", ref, {"type": "segmentation", "identifier": label,
                                                                 "scope": "frame", "frame_index": int(k),
                                                                 "_affine": image.affine.tolist()},
                                mask=volume[:, :, int(k)].T)
        else:
            yield candidate


READERS: dict[str, Callable[[str, FileSet], Iterable[Candidate]]] = {
    "datamint": read_datamint, "coco": read_coco, "nifti": read_nifti,
}


def decode_mask(data: bytes, mimetype: str) -> np.ndarray:
    """A stored-format mask (PNG or NIfTI) as a boolean array."""
    return read_frame_mask(data) if mimetype == "image/png" else read_volume_mask(data)


"""Checks of annotation create items (wire protocol §7.2) against their type and their resource.

Pure functions over plain dicts: each returns the cleaned values or raises
:class:`~datamint.server.errors.ValidationFailedError` with a message naming the item and what to send.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamint.server.common.values import text_problem
from datamint.server.common.vocabulary import ANNOTATION_TYPES, MAX_IDENTIFIER, SCOPES
from datamint.server.errors import ValidationFailedError

__all__ = ["ANNOTATION_TYPES", "MAX_IDENTIFIER", "SCOPES"]

#: Number of geometry points each geometric type needs: exact count, or (minimum, None).
POINT_COUNTS: dict[str, tuple[int, int | None]] = {
    "point": (1, 1), "line": (2, 2), "distance": (2, 2), "square": (4, 4), "circle": (2, 2),
    "angle": (3, 3), "region": (3, None), "area": (3, None), "spline": (2, None),
}
#: Types whose value is a label of the frame/image rather than a drawing: they take no geometry.
VALUE_TYPES = ("category", "label", "integer", "float", "text")


@dataclass(frozen=True)
class ResourceShape:
    """What a resource looks like, for validating annotations and masks."""

    width: int | None
    height: int | None
    frame_count: int
    mimetype: str
    affine: list[list[float]] | None = None

    @property
    def is_volume(self) -> bool:
        """DICOM and NIfTI resources (frames are slices of a volume)."""
        return self.mimetype in ("application/dicom", "application/nifti")

    @classmethod
    def of(cls, mimetype: str, metadata: Mapping[str, Any] | None) -> ResourceShape:
        """Build from a resource's mimetype and ``metadata`` (wire §5.2 keys)."""
        meta = metadata or {}

        def _int(key: str) -> int | None:
            value = meta.get(key)
            try:
                return int(value) if value is not None else None
            except (TypeError, ValueError):
                return None

        frames = _int("frame_count") or 1
        affine = meta.get("affine") if isinstance(meta.get("affine"), list) else None
        return cls(_int("width"), _int("height"), max(frames, 1), mimetype, affine)


@dataclass
class CleanItem:
    """A create item after validation: the column values of the new annotation."""

    type: str
    identifier: str
    scope: str
    frame_index: int | None = None
    frame_end: int | None = None
    text_value: str | None = None
    numeric_value: float | None = None
    units: str | None = None
    geometry: dict[str, Any] | None = None
    worklist_id: str | None = None
    source: str | None = None
    imported_from: str | None = None
    import_author: str | None = None
    is_model: bool = False
    model_id: str | None = None
    confiability: float = 1.0
    class_map: dict[str, Any] | None = None
    set_name: str | None = None
    label_set: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(where: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(f"{where}: {message}")


def _text(item: Mapping[str, Any], key: str, where: str, limit: int) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(where, f"'{key}' must be a string")
    value = value.strip()
    if len(value) > limit:
        raise _fail(where, f"'{key}' is longer than {limit} characters")
    problem = text_problem(value)  # one line: identifiers end up in file names and headers
    if problem:
        raise _fail(where, f"'{key}' {problem}")
    return value or None


def _int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail(where, f"'{key}' must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise _fail(where, f"'{key}' must be an integer, got {value!r}")
    if not math.isfinite(number) or number != int(number):
        raise _fail(where, f"'{key}' must be an integer, got {value!r}")
    return int(number)


def check_frame(frame: int, shape: ResourceShape, where: str, key: str = "frame_index") -> int:
    """``frame`` if it is a valid 0-based frame of the resource; 422 naming the valid range otherwise."""
    if not 0 <= frame < shape.frame_count:
        raise _fail(where, f"{key} {frame} is out of range: the resource has {shape.frame_count} frame(s), "
                           f"valid indexes are 0..{shape.frame_count - 1}")
    return frame


def _point(value: Any, where: str, index: int) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise _fail(where, f"geometry point {index} must be [x, y] or [x, y, z], got {value!r}")
    coords = []
    for c in value:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise _fail(where, f"geometry point {index} has a non-numeric coordinate {c!r}")
        coords.append(float(c) if isinstance(c, float) else c)
    return coords


def _vector(geometry: Mapping[str, Any], key: str, where: str) -> list[float] | None:
    value = geometry.get(key)
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in value)):
        raise _fail(where, f"geometry '{key}' must be three numbers")
    return list(value)


def check_geometry(kind: str, geometry: Any, where: str) -> dict[str, Any] | None:
    """Check the geometry of an annotation of type ``kind``.

    Geometric types need ``{"points": [[x, y, z], ...]}`` with the number of points of
    :data:`POINT_COUNTS`; value types and segmentations take none.

    Returns:
        The cleaned geometry (``None`` when the type takes none).
    """
    if kind not in POINT_COUNTS:
        if geometry not in (None, {}, []):
            raise _fail(where, f"a '{kind}' annotation takes no geometry; send geometry only for "
                               f"{', '.join(sorted(POINT_COUNTS))}")
        return None
    if not isinstance(geometry, Mapping) or not isinstance(geometry.get("points"), (list, tuple)):
        raise _fail(where, f"a '{kind}' annotation needs geometry {{\"points\": [[x, y, z], ...]}}")
    points = [_point(p, where, i) for i, p in enumerate(geometry["points"])]
    low, high = POINT_COUNTS[kind]
    if len(points) < low or (high is not None and len(points) > high):
        wanted = f"exactly {low}" if low == high else f"at least {low}"
        raise _fail(where, f"a '{kind}' annotation needs {wanted} point(s), got {len(points)}")
    cleaned: dict[str, Any] = {"points": points}
    for key in ("viewPlaneNormal", "viewUp"):
        vector = _vector(geometry, key, where)
        if vector is not None:
            cleaned[key] = vector
    if "closed" in geometry and geometry["closed"] is not None:
        if not isinstance(geometry["closed"], bool):
            raise _fail(where, "geometry 'closed' must be true or false")
        cleaned["closed"] = geometry["closed"]
    return cleaned


def _value(kind: str, item: Mapping[str, Any], where: str) -> tuple[str | None, float | None]:
    value = item.get("value")
    if kind == "integer":
        if value is None:
            raise _fail(where, "an 'integer' annotation needs a 'value'")
        return None, float(_int(value, where, "value"))
    if kind == "float":
        try:
            number = float(value) if not isinstance(value, bool) and value is not None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise _fail(where, f"a 'float' annotation needs a finite numeric 'value', got {value!r}")
        return None, number
    if kind == "category":
        if not isinstance(value, str) or not value.strip():
            raise _fail(where, "a 'category' annotation needs a non-empty string 'value'")
        return value, None
    if kind == "label" or value is None:
        return None, None
    if kind == "text":
        if not isinstance(value, str):
            raise _fail(where, "a 'text' annotation needs a string 'value'")
        return value, None
    return (value if isinstance(value, str) else json.dumps(value)), None


def check_item(raw: Any, position: int, shape: ResourceShape) -> CleanItem:
    """Validate one create item of ``POST /annotations/{rid}/annotations``.

    Args:
        raw: The item as received.
        position: Its 0-based position in the request, for messages.
        shape: The annotated resource.

    Raises:
        ValidationFailedError: Anything wrong with the item (422).
    """
    where = f"annotation {position}"
    if not isinstance(raw, Mapping):
        raise _fail(where, "each item must be a JSON object")
    kind = raw.get("type", raw.get("annotation_type"))
    if kind not in ANNOTATION_TYPES:
        raise _fail(where, f"unknown type {kind!r}; use one of {', '.join(ANNOTATION_TYPES)}")
    identifier = _text(raw, "identifier", where, MAX_IDENTIFIER) or _text(raw, "name", where, MAX_IDENTIFIER)
    if not identifier:
        raise _fail(where, "'identifier' (the label) is required")
    item = CleanItem(type=kind, identifier=identifier, scope="image")
    frame_range = raw.get("frame_range")
    frame_index = raw.get("frame_index", raw.get("index"))
    if frame_range is not None:
        if not isinstance(frame_range, (list, tuple)) or len(frame_range) != 2:
            raise _fail(where, "'frame_range' must be [start, end] (inclusive)")
        start, end = (_int(v, where, "frame_range") for v in frame_range)
        if end < start:
            raise _fail(where, f"frame_range [{start}, {end}] ends before it starts")
        item.frame_index = check_frame(start, shape, where, "frame_range start")
        item.frame_end = check_frame(end, shape, where, "frame_range end")
    elif frame_index is not None:
        item.frame_index = check_frame(_int(frame_index, where, "frame_index"), shape, where)
    scope = raw.get("scope") or ("frame" if item.frame_index is not None else "image")
    if scope not in SCOPES:
        raise _fail(where, f"unknown scope {scope!r}; use 'image' or 'frame'")
    if scope == "frame" and item.frame_index is None:
        if shape.frame_count != 1:
            raise _fail(where, f"a frame-scope annotation needs 'frame_index' (or 'frame_range'): the resource "
                               f"has {shape.frame_count} frames")
        item.frame_index = 0  # a single-frame resource has one obvious frame
    if scope == "image":
        item.frame_index = item.frame_end = None
    item.scope = scope
    item.text_value, item.numeric_value = _value(kind, raw, where)
    item.geometry = check_geometry(kind, raw.get("geometry"), where)
    item.units = _text(raw, "units", where, 50)
    item.source = _text(raw, "source", where, 40)
    item.imported_from = _text(raw, "imported_from", where, 300)
    item.import_author = _text(raw, "import_author", where, 320)
    item.model_id = _text(raw, "model_id", where, 300)
    item.set_name = _text(raw, "set_name", where, 300)
    item.worklist_id = _text(raw, "annotation_worklist_id", where, 36)
    item.label_set = _text(raw, "label_set", where, 100) or _text(raw, "labelset", where, 100)
    item.is_model = bool(raw.get("is_model")) or item.model_id is not None
    confiability = raw.get("confiability", 1.0)
    if isinstance(confiability, bool) or not isinstance(confiability, (int, float)) or not 0 <= confiability <= 1:
        raise _fail(where, f"'confiability' must be a number between 0 and 1, got {confiability!r}")
    item.confiability = float(confiability)
    class_map = raw.get("class_map")
    if class_map is not None:
        if kind != "segmentation" or not isinstance(class_map, Mapping):
            raise _fail(where, "'class_map' is a {label value: name} object of segmentations only")
        item.class_map = {str(k): str(v) for k, v in class_map.items()}
    return item


def check_against_specs(item: CleanItem, specs: Sequence[Mapping[str, Any]],
                        definitions: Sequence[Mapping[str, Any]], where: str) -> None:
    """Check that a worklist's label schema allows ``item`` (a schema with no labels allows all).

    Raises:
        ValidationFailedError: The identifier is not declared, has another type, or a category
            value is not one of the declared values.
    """
    declared: dict[str, Mapping[str, Any]] = {}
    for spec in specs:
        if isinstance(spec, Mapping) and spec.get("identifier"):
            declared.setdefault(str(spec["identifier"]), spec)
    segments = {str(d.get("identifier")) for d in definitions if isinstance(d, Mapping) and d.get("identifier")}
    if not declared and not segments:
        return
    if item.type == "segmentation" and item.identifier in segments:
        return
    spec = declared.get(item.identifier)
    if spec is None:
        known = sorted(set(declared) | segments)
        raise _fail(where, f"identifier {item.identifier!r} is not in the worklist's labels "
                           f"({', '.join(known)}); ask a manager to add it or use one of these")
    if spec.get("type") and spec.get("type") != item.type:
        raise _fail(where, f"identifier {item.identifier!r} is a '{spec.get('type')}' in the worklist, "
                           f"not a '{item.type}'")
    values = spec.get("values")
    if item.type == "category" and isinstance(values, list) and values and item.text_value not in values:
        raise _fail(where, f"value {item.text_value!r} is not one of {values} for {item.identifier!r}")

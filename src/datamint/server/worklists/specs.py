"""A worklist's label schema: annotation specs (wire §5.4 AnnotationSpec) and the segmentation
label group (``segmentationData`` / ``segmentation-group``, wire §4.4), and the files a group can
be uploaded from (YAML, CSV, JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from datamint.imaging.limits import DecodedSizeError, check_spec_size
from datamint.server.common.limits import YamlAliasError, load_yaml, too_large
from datamint.server.common.values import check_json, parse_json, small_number
from datamint.server.common.vocabulary import ANNOTATION_TYPES, MAX_IDENTIFIER, SCOPES
from datamint.server.errors import ValidationFailedError

VALUE_TYPES = ("single_label", "multi_label")
#: Colours given to segmentation labels that come without one (RGBA).
PALETTE = ((230, 25, 75, 255), (60, 180, 75, 255), (255, 225, 25, 255), (0, 130, 200, 255),
           (245, 130, 48, 255), (145, 30, 180, 255), (70, 240, 240, 255), (240, 50, 230, 255),
           (210, 245, 60, 255), (250, 190, 212, 255), (0, 128, 128, 255), (220, 190, 255, 255))
MAX_GROUP_FILE = 10 * 1024 * 1024


def _within_limit(document: Any, what: str, filename: str | None = None) -> Any:
    """``document`` unchanged when its JSON is within ``max_spec_kb``; 413 naming the setting otherwise."""
    try:
        check_spec_size(len(json.dumps(document, separators=(",", ":"), default=str)), what, filename)
    except DecodedSizeError as exc:
        raise too_large(exc)
    return document


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailedError(f"{where}: 'identifier' must be a non-empty string")
    if len(value.strip()) > MAX_IDENTIFIER:
        raise ValidationFailedError(f"{where}: 'identifier' is longer than {MAX_IDENTIFIER} characters")
    return value.strip()


def _color(value: Any, where: str) -> list[int] | None:
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) not in (3, 4)
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)):
        raise ValidationFailedError(f"{where}: 'color' must be [r, g, b] or [r, g, b, a] with values 0..255")
    return [*value, 255] if len(value) == 3 else list(value)


def clean_specs(raw: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Check annotation specs: type, identifier, scope (default ``image``), required, colour, and
    the ``values`` of categories. Unknown keys are kept.

    Raises:
        ValidationFailedError: A spec is malformed or an identifier is declared twice for a scope.
    """
    cleaned: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i, spec in enumerate(raw or []):
        where = f"annotation spec {i}"
        if not isinstance(spec, Mapping):
            raise ValidationFailedError(f"{where}: must be an object with type, identifier and scope")
        kind = spec.get("type")
        if kind not in ANNOTATION_TYPES:
            raise ValidationFailedError(f"{where}: unknown type {kind!r}; use one of {', '.join(ANNOTATION_TYPES)}")
        identifier = _identifier(spec.get("identifier"), where)
        scope = spec.get("scope") or "image"
        if scope not in SCOPES:
            raise ValidationFailedError(f"{where}: unknown scope {scope!r}; use 'image' or 'frame'")
        if (identifier, scope) in seen:
            raise ValidationFailedError(f"{where}: identifier {identifier!r} is declared twice for scope {scope!r}")
        seen.add((identifier, scope))
        item = {**spec, "type": kind, "identifier": identifier, "scope": scope,
                "required": bool(spec.get("required", False))}
        color = _color(spec.get("color"), where)
        if color is None:
            item.pop("color", None)
        else:
            item["color"] = color
        if kind == "category":
            values = spec.get("values") or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValidationFailedError(f"{where}: a category's 'values' must be a list of strings")
            item["values"] = list(dict.fromkeys(values))
        cleaned.append(item)
    return _within_limit(cleaned, "the annotation specs")


def label_specs(frame_labels: Sequence[str] | None, image_labels: Sequence[str] | None) -> list[dict[str, Any]]:
    """Specs of the ``label`` type for the frame and image labels of ``POST /annotationsets``."""
    specs = [{"type": "label", "identifier": name, "scope": "frame", "required": False} for name in frame_labels or []]
    specs += [{"type": "label", "identifier": name, "scope": "image", "required": False} for name in image_labels or []]
    return specs


def merge_specs(*groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Concatenate spec lists; a later spec replaces an earlier one with the same identifier and scope."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups:
        for spec in group:
            merged[(spec["identifier"], spec["scope"])] = spec
    return _within_limit(list(merged.values()), "the annotation specs")


def clean_segmentation_data(raw: Mapping[str, Any] | None, previous: Mapping[str, Any] | None = None
                            ) -> dict[str, Any]:
    """Check a segmentation label group ``{"segmentationValueType", "definitions": [{identifier,
    color, index}]}``. Missing indexes continue after the largest one; missing colours come from
    :data:`PALETTE`.

    Raises:
        ValidationFailedError: Bad value type, duplicate identifiers or indexes, bad colours.
    """
    raw = raw or {}
    value_type = raw.get("segmentationValueType") or (previous or {}).get("segmentationValueType") or "single_label"
    if value_type not in VALUE_TYPES:
        raise ValidationFailedError(f"segmentationValueType {value_type!r} is invalid; use single_label or multi_label")
    definitions = raw.get("definitions") or []
    if not isinstance(definitions, list):
        raise ValidationFailedError("segmentation 'definitions' must be a list of {identifier, color, index}")
    used = [d.get("index") for d in definitions if isinstance(d, Mapping) and d.get("index") is not None]
    next_index = max([int(i) for i in used if isinstance(i, int) and not isinstance(i, bool)] + [0]) + 1
    cleaned: list[dict[str, Any]] = []
    names: set[str] = set()
    indexes: set[int] = set()
    for i, definition in enumerate(definitions):
        where = f"segmentation definition {i}"
        if not isinstance(definition, Mapping):
            raise ValidationFailedError(f"{where}: must be an object with identifier, color and index")
        identifier = _identifier(definition.get("identifier") or definition.get("name"), where)
        index = definition.get("index")
        if index is None:
            index, next_index = next_index, next_index + 1
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ValidationFailedError(f"{where}: 'index' must be an integer >= 1 (0 is the background)")
        if identifier in names or index in indexes:
            raise ValidationFailedError(f"{where}: identifier {identifier!r} or index {index} is used twice")
        names.add(identifier)
        indexes.add(index)
        color = _color(definition.get("color"), where) or list(PALETTE[(index - 1) % len(PALETTE)])
        cleaned.append({**definition, "identifier": identifier, "color": color, "index": index})
    definitions = sorted(cleaned, key=lambda d: d["index"])
    return _within_limit({"segmentationValueType": value_type, "definitions": definitions}, "the segmentation group")


def segmentation_data_of(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A worklist's stored segmentation data, or the empty single-label group when it has none."""
    return dict(stored) if stored else {"segmentationValueType": "single_label", "definitions": []}


def groups_of(segmentation_data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The wire shape of ``GET /annotationsets/{id}/segmentation-group``."""
    data = segmentation_data or {}
    return {
        "groups": {d["identifier"]: {"color": d.get("color"), "index": d.get("index")}
                   for d in data.get("definitions") or []},
        "segmentationValueType": data.get("segmentationValueType", "single_label"),
        "definitions": list(data.get("definitions") or []),
    }


def parse_renames(renames: Sequence[Any] | None) -> list[tuple[str, str]]:
    """``["old:new", ...]`` (or ``[{"old", "new"}]``) as pairs; 422 when malformed."""
    pairs: list[tuple[str, str]] = []
    for item in renames or []:
        if isinstance(item, Mapping):
            old, new = item.get("old") or item.get("from"), item.get("new") or item.get("to")
        elif isinstance(item, str) and ":" in item:
            old, new = item.split(":", 1)
        else:
            raise ValidationFailedError(f"Invalid rename {item!r}: use 'old:new'")
        if not isinstance(old, str) or not isinstance(new, str) or not old.strip() or not new.strip():
            raise ValidationFailedError(f"Invalid rename {item!r}: use 'old:new'")
        pairs.append((old.strip(), new.strip()))
    return pairs


def parse_group_file(filename: str, data: bytes) -> list[dict[str, Any]]:
    """Segmentation definitions from an uploaded file.

    Accepted: ``.yaml``/``.yml`` with ``segmentation_names`` or ``class_names`` (a list, or a
    ``{index: name}`` mapping) or a ``definitions`` list; ``.json`` with the same keys or a bare
    list; ``.csv`` rows ``index,r,g,b,name`` (a header row is skipped).

    Raises:
        ValidationFailedError: Unknown extension, too large, or unreadable content.
    """
    if len(data) > MAX_GROUP_FILE:
        raise ValidationFailedError("The segmentation group file is larger than 10 MB")
    try:
        check_spec_size(len(data), "the segmentation group file", filename)
    except DecodedSizeError as exc:
        raise too_large(exc)
    name = (filename or "").lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailedError(f"{filename}: not UTF-8 text")
    if name.endswith(".csv"):
        return _csv_definitions(text, filename)
    try:
        if name.endswith((".yaml", ".yml")):
            document = load_yaml(text)
        elif name.endswith(".json"):
            document = parse_json(text, filename)
        else:
            raise ValidationFailedError(f"{filename}: unsupported file type; upload .yaml, .yml, .csv or .json")
    except YamlAliasError as exc:
        raise ValidationFailedError(f"{filename}: {exc}")
    except (ValueError, ImportError) as exc:
        raise ValidationFailedError(f"{filename}: cannot parse the file ({exc})")
    except Exception as exc:  # yaml.YAMLError
        raise ValidationFailedError(f"{filename}: cannot parse the file ({exc})")
    return check_json(_document_definitions(_within_limit(document, "the segmentation group file", filename),
                                            filename), filename)


def _document_definitions(document: Any, filename: str) -> list[dict[str, Any]]:
    if isinstance(document, Mapping):
        for key in ("definitions", "segmentation_names", "class_names", "names"):
            if key in document:
                document = document[key]
                break
    if isinstance(document, Mapping):
        return [{"identifier": str(name), "index": number} for index, name in document.items()
                if (number := small_number(str(index))) is not None and number > 0]
    if isinstance(document, list):
        out: list[dict[str, Any]] = []
        for i, entry in enumerate(document):
            if isinstance(entry, Mapping):
                out.append(dict(entry))
            elif isinstance(entry, str):
                out.append({"identifier": entry, "index": i + 1})
            else:
                raise ValidationFailedError(f"{filename}: entry {i} is neither a name nor a definition")
        return out
    raise ValidationFailedError(f"{filename}: expected a list of names or definitions")


def _csv_definitions(text: str, filename: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row_number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells):
            continue
        index = small_number(cells[0])
        if index is None:
            if row_number == 1:
                continue  # header
            raise ValidationFailedError(f"{filename}: line {row_number}: the first column must be the label index")
        color = [small_number(c) for c in cells[1:4]]
        if len(cells) < 5 or None in color:
            raise ValidationFailedError(f"{filename}: line {row_number}: expected index,r,g,b,name")
        out.append({"identifier": cells[4], "index": index, "color": color})
    return out

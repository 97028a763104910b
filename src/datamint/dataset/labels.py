"""The label schema of a dataset: segmentation classes, box classes, image/frame labels, categories.

It comes from the project's worklists (their annotation specs and segmentation label groups, or
the same frozen in a version); with ``worklists=None`` it is inferred from the annotations.
Segmentation class ``i`` is the group's 1-based ``index`` (0 is the background).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datamint.dataset.sources import DatamintDatasetException, frames_of, kind_of, name_of


@dataclass
class LabelSchema:
    """Names and indices of every kind of label.

    Attributes:
        segmentation: Class name → index (1-based; 0 = background).
        multi_label: Whether masks may overlap (``multi_label`` segmentation value type).
        box_labels: Box class names (index = position).
        image_labels: Image-level label names (multi-hot position).
        frame_labels: Frame-level label names.
        categories: Category question → its possible values (index = position).
    """

    segmentation: dict[str, int] = field(default_factory=dict)
    multi_label: bool = False
    box_labels: list[str] = field(default_factory=list)
    image_labels: list[str] = field(default_factory=list)
    frame_labels: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def segmentation_names(self) -> list[str]:
        """Class names by index: ``[background, class 1, class 2, ...]`` (gaps named ``''``)."""
        size = max(self.segmentation.values(), default=0) + 1
        names = ["background"] + [""] * (size - 1)
        for name, index in self.segmentation.items():
            names[index] = name
        return names


_CHOOSE = ("pass worklists=[...] to choose which to use, or worklists=None to infer the labels from the "
           "annotations")


def _merge(target: dict[str, Any], key: str, value: Any, what: str) -> None:
    if key in target and target[key] != value:
        raise DatamintDatasetException(f"Worklists disagree on {what} {key!r}: {target[key]!r} vs {value!r}; "
                                       + _CHOOSE)
    target[key] = value


def choose_worklists(available: Sequence[dict[str, Any]], chosen: Sequence[str | dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """The worklists ``chosen`` by id or name among ``available`` (dicts are taken as given).

    Raises:
        DatamintDatasetException: A worklist id or name that is not among ``available``.
    """
    out = []
    for ref in chosen:
        if isinstance(ref, dict):
            out.append(ref)
            continue
        found = next((w for w in available if ref in (w.get("id"), w.get("name"))), None)
        if found is None:
            names = sorted(str(w.get("name")) for w in available)
            raise DatamintDatasetException(f"No worklist {ref!r} in this dataset; its worklists are {names}")
        out.append(found)
    return out


def from_worklists(worklists: Sequence[dict[str, Any]], annotations: Sequence[dict[str, Any]]) -> LabelSchema:
    """The schema of the worklists' specs and segmentation groups; names the annotations use that
    the worklists do not declare are added after the declared ones."""
    schema = LabelSchema()
    for worklist in worklists:
        groups = worklist.get("segmentation_group") or {}
        if isinstance(groups, dict) and "groups" in groups and isinstance(groups["groups"], dict):
            groups = groups["groups"]
        for name, info in groups.items():
            _merge(schema.segmentation, name, int(info.get("index")), "the index of segmentation")
        seg = worklist.get("segmentation_data") or {}
        schema.multi_label = schema.multi_label or seg.get("segmentationValueType") == "multi_label"
        for spec in worklist.get("annotations") or []:
            kind, name, scope = spec.get("type"), spec.get("identifier"), spec.get("scope")
            if kind == "label":
                target = schema.image_labels if scope == "image" else schema.frame_labels
                if name not in target:
                    target.append(name)
            elif kind == "category" and spec.get("values"):
                values = [str(v) for v in spec["values"]]
                if name in schema.categories and schema.categories[name] != values:
                    raise DatamintDatasetException(f"Worklists disagree on the values of category {name!r}; "
                                                   + _CHOOSE)
                schema.categories[name] = values
            elif kind == "square" and name not in schema.box_labels:
                schema.box_labels.append(name)
    return add_inferred(schema, annotations)


def add_inferred(schema: LabelSchema, annotations: Sequence[dict[str, Any]]) -> LabelSchema:
    """Add the names used by ``annotations`` that ``schema`` lacks (sorted, after the known ones)."""
    seg, boxes, images, frames = set(), set(), set(), set()
    categories: dict[str, set[str]] = {}
    for a in annotations:
        kind, name = kind_of(a), name_of(a)
        if kind == "segmentation":
            seg.add(name)
        elif kind == "square":
            boxes.add(name)
        elif kind == "label":
            (images if frames_of(a) is None else frames).add(name)
        elif kind == "category" and a.get("value") is not None:
            categories.setdefault(name, set()).add(str(a.get("value")))
    next_index = max(schema.segmentation.values(), default=0) + 1
    for name in sorted(seg - set(schema.segmentation)):
        schema.segmentation[name] = next_index
        next_index += 1
    schema.box_labels += sorted(boxes - set(schema.box_labels))
    schema.image_labels += sorted(images - set(schema.image_labels))
    schema.frame_labels += sorted(frames - set(schema.frame_labels))
    for name, values in sorted(categories.items()):
        known = schema.categories.setdefault(name, [])
        known += sorted(values - set(known))
    return schema

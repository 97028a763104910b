"""``CreateAnnotationDto``: one create item of ``POST /annotations/{rid}/annotations`` (wire §7.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datamint.entities.annotations.types import AnnotationType


@dataclass
class CreateAnnotationDto:
    """What a new annotation is made of; :meth:`to_dict` gives the wire item without ``None`` keys.

    Args:
        type: The annotation type.
        identifier: The label.
        scope: ``'image'`` or ``'frame'``.
        annotation_worklist_id: The worklist it belongs to.
        value: The value (category/text/number; other payloads are JSON-encoded).
        imported_from: Where it was imported from.
        import_author: The author to credit (``author_email``).
        frame_index: The frame of frame-scope annotations.
        is_model: Whether a model produced it (implied by ``model_id``).
        model_id: The producing model's name.
        geometry: ``{"points": [[x, y, z], ...], ...}``.
        units: Units of numeric values.
        source: ``'manual'``, ``'imported'``, ``'model_pipeline'`` or ``'model_deploy'``.
        frame_range: ``(start, end)`` inclusive, for annotations covering several frames.

    Raises:
        ValueError: ``is_model=False`` together with a ``model_id``.

    Example:
        >>> dto = CreateAnnotationDto('category', 'tumour', 'image', value='benign')
        >>> api.annotations.create(resource_id, dto)
    """

    type: AnnotationType | str
    identifier: str
    scope: str
    annotation_worklist_id: str | None = None
    value: Any = None
    imported_from: str | None = None
    import_author: str | None = None
    frame_index: int | None = None
    is_model: bool | None = None
    model_id: str | None = None
    geometry: dict[str, Any] | None = None
    units: str | None = None
    source: str | None = None
    frame_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.type = AnnotationType(self.type)
        if self.model_id is not None:
            if self.is_model is False:
                raise ValueError("is_model=False contradicts model_id")
            self.is_model = True

    def to_dict(self) -> dict[str, Any]:
        """The wire create item (keys with ``None`` values are left out)."""
        item = {
            "value": self.value, "type": AnnotationType(self.type).value, "identifier": self.identifier,
            "scope": self.scope, "frame_index": self.frame_index,
            "frame_range": list(self.frame_range) if self.frame_range is not None else None,
            "annotation_worklist_id": self.annotation_worklist_id, "imported_from": self.imported_from,
            "import_author": self.import_author, "units": self.units, "geometry": self.geometry,
            "is_model": self.is_model, "model_id": self.model_id, "source": self.source,
        }
        return {k: v for k, v in item.items() if v is not None}

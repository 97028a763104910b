"""The Annotation entity (wire protocol §5.3, §7.1) and its local file cache (§3.5).

The server sends both its own field names and the SDK's (``type``/``annotation_type``,
``name``/``identifier``, ``index``/``frame_index``, ``value``/``text_value``,
``added_by``/``created_by``); entities always expose the SDK names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from datamint.entities.annotations.types import AnnotationType
from datamint.entities.base_entity import BaseEntity
from datamint.entities.cache_manager import CacheManager, version_hash

if TYPE_CHECKING:
    from datamint.api.endpoints.annotations_api import AnnotationsApi

#: The annotation file cache: ``<data dir>/annotations/<id>/annotation_data<ext>``.
ANNOTATION_CACHE = CacheManager("annotations", "annotation_data")

_SERVER_NAMES = {"type": "annotation_type", "name": "identifier", "added_by": "created_by", "index": "frame_index"}
_NUMERIC = (AnnotationType.INTEGER.value, AnnotationType.FLOAT.value)
#: Keys of a create item (wire §7.2) taken from an entity by :meth:`Annotation.to_create_dict`.
_CREATE_KEYS = ("identifier", "scope", "frame_index", "frame_range", "annotation_worklist_id", "imported_from",
                "import_author", "units", "geometry", "is_model", "model_id", "source", "class_map", "confiability")


def normalize_annotation_data(data: dict[str, Any]) -> dict[str, Any]:
    """Map the server's field names to the SDK's and infer ``scope`` (wire §7.1)."""
    out = dict(data)
    for server, sdk in _SERVER_NAMES.items():
        if server in out:
            value = out.pop(server)
            out.setdefault(sdk, value)
    if "value" in out:
        value = out.pop("value")
        if out.get("annotation_type") in _NUMERIC:
            if out.get("numeric_value") is None:
                out["numeric_value"] = value
        elif out.get("text_value") is None:
            out["text_value"] = value if value is None or isinstance(value, str) else json.dumps(value)
    if not out.get("scope"):
        out["scope"] = "image" if out.get("frame_index") is None else "frame"
    if out.get("scope") == "image":
        out["frame_index"] = None
    return out


class Annotation(BaseEntity):
    """An annotation of a resource: a drawing, a classification, a value or a segmentation.

    Attributes:
        identifier: The label (alias ``name``).
        scope: ``'image'`` (whole resource) or ``'frame'`` (one frame, ``frame_index``).
        annotation_type: The type (``'segmentation'``, ``'square'``, ``'category'``, ...).
        frame_index: 0-based frame for frame-scope annotations; ``frame_range`` ``[start, end]``
            (inclusive) for annotations that cover several frames.
        text_value: Text or category value; ``numeric_value`` and ``units`` for numbers.
        geometry: ``{"points": [[x, y, z], ...], ...}`` in patient (DICOM/NIfTI) or pixel
            (images) coordinates.
        resource_id: The annotated resource.
        annotation_worklist_id: The worklist it belongs to, if any.
        status: ``'new'`` or ``'published'`` (approved).
        created_by: Author's email.
        associated_file: Server key of the mask file (segmentations).
    """

    id: str | None = None  # type: ignore[assignment]
    identifier: str
    scope: str = "image"
    annotation_type: str
    confiability: float = 1.0
    frame_index: int | None = None
    frame_range: list[int] | None = None
    text_value: str | None = None
    numeric_value: float | int | None = None
    units: str | None = None
    geometry: dict[str, Any] | list[Any] | None = None
    created_at: str | None = None
    created_by: str | None = None
    annotation_worklist_id: str | None = None
    annotation_worklist_name: str | None = None
    imported_from: str | None = None
    import_author: str | None = None
    status: str | None = None
    approved_at: str | None = None
    approved_by: str | None = None
    resource_id: str | None = None
    associated_file: str | None = None
    file: str | None = None
    deleted: bool = False
    deleted_at: str | None = None
    deleted_by: str | None = None
    created_by_model: str | None = None
    is_model: bool | None = None
    model_id: str | None = None
    set_name: str | None = None
    label_set: str | None = None
    promoted_from: str | None = None
    resource_filename: str | None = None
    resource_modality: str | None = None
    user_info: dict[str, Any] | None = None
    values: list[Any] | None = None
    source: str | None = None
    class_map: dict[int, str] | None = Field(default=None)
    _resource_entity: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _server_names(cls, data: Any) -> Any:
        return normalize_annotation_data(data) if isinstance(data, dict) else data

    @field_validator("annotation_type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> str:
        try:
            return AnnotationType(value).value
        except ValueError:
            valid = ", ".join(t.value for t in AnnotationType)
            raise ValueError(f"Invalid annotation_type {value!r}: expected one of {valid}") from None

    # -- names and kinds -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The annotation's label (same as :attr:`identifier`)."""
        return self.identifier

    @property
    def type(self) -> AnnotationType:
        """The annotation type as an enum."""
        return AnnotationType(self.annotation_type)

    @property
    def value(self) -> Any:
        """The annotation's value: the number of numeric annotations, else the text."""
        return self.numeric_value if self.annotation_type in _NUMERIC else self.text_value

    def is_segmentation(self) -> bool:
        """Whether this is a segmentation."""
        return self.annotation_type == AnnotationType.SEGMENTATION.value

    def is_label(self) -> bool:
        """Whether this is a label (a flag without value)."""
        return self.annotation_type == AnnotationType.LABEL.value

    def is_category(self) -> bool:
        """Whether this is a category (classification) annotation."""
        return self.annotation_type == AnnotationType.CATEGORY.value

    # -- handler ---------------------------------------------------------------------------------

    @property
    def _annotations(self) -> AnnotationsApi:
        return self._require_api()  # type: ignore[return-value]

    @property
    def resource(self) -> Any:
        """The annotated Resource, fetched once on first access.

        Example:
            >>> annotation.resource.filename
        """
        if self._resource_entity is None:
            self._resource_entity = self._annotations._get_resource(self)
        return self._resource_entity

    # -- file data and cache ---------------------------------------------------------------------

    def _version(self) -> str:
        return version_hash({"created_at": self.created_at, "deleted_at": self.deleted_at,
                             "associated_file": self.associated_file})

    @property
    def filepath_cached(self) -> Path | None:
        """Path of the cached mask when the cache holds the current version, else ``None``."""
        return ANNOTATION_CACHE.get_path(self.id, self._version()) if self.id else None

    def is_cached(self) -> bool:
        """Whether the current version of the mask is in the local cache."""
        return self.filepath_cached is not None

    def invalidate_cache(self) -> None:
        """Delete the cached mask of this annotation."""
        if self.id:
            ANNOTATION_CACHE.invalidate(self.id)

    def fetch_file_data(self, auto_convert: bool = True, save_path: str | None = None,
                        use_cache: bool | Literal["loadonly"] = False) -> Any:
        """The annotation's file (segmentation mask), downloaded or read from the local cache.

        Args:
            auto_convert: Convert to a PIL image (PNG frame masks) or a nibabel image (NIfTI
                volume masks); ``False`` returns the bytes.
            save_path: Also write the bytes to this path.
            use_cache: ``True`` reads the cache and stores downloads in it, ``'loadonly'`` only
                reads it, ``False`` always downloads.

        Returns:
            The converted object or the bytes.

        Raises:
            ItemNotFoundError: The annotation has no file.
        """
        if not self.associated_file and not self.is_segmentation():
            raise ValueError(f"Annotation {self.id} is a '{self.annotation_type}': it has no file")
        version = self._version()
        data = ANNOTATION_CACHE.load(self.id, version) if use_cache and self.id else None
        if data is None:
            data = self._annotations.download_file(self)
            if use_cache is True and self.id:
                suffix = ".png" if data[:4] == b"\x89PNG" else ".nii.gz"
                ANNOTATION_CACHE.save(self.id, version, data, suffix)
        if save_path is not None:
            Path(save_path).write_bytes(data)
        if not auto_convert:
            return data
        from datamint.imaging.convert import convert_bytes

        return convert_bytes(data, "image/png" if data[:4] == b"\x89PNG" else "application/nifti")

    # -- creation --------------------------------------------------------------------------------

    def to_create_dict(self) -> dict[str, Any]:
        """The create item of this annotation (wire §7.2), for ``api.annotations.create``."""
        item: dict[str, Any] = {"type": self.annotation_type}
        for key in _CREATE_KEYS:
            value = getattr(self, key, None)
            if value is not None:
                item[key] = value
        value = self.value
        if value is not None:
            item["value"] = value
        if item.get("model_id") is not None:
            item["is_model"] = True
        if "class_map" in item:
            item["class_map"] = {str(k): v for k, v in item["class_map"].items()}
        return item

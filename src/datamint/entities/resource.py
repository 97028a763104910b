"""The Resource entity (wire protocol §5.2): one uploaded file and what the server knows about it.

:func:`resource_from_dict` picks the specialised class (:mod:`datamint.entities.resources`) from
the ``storage`` name, else the mimetype, else the file name's suffix.
"""

from __future__ import annotations

import functools
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from datamint.entities.base_entity import BaseEntity
from datamint.entities.cache_manager import CacheManager, version_hash

if TYPE_CHECKING:
    from datamint.api.endpoints.resources_api import ResourcesApi
    from datamint.entities.annotations import Annotation

#: The resource cache: ``<data dir>/resources/<id>/image_data<ext>``.
RESOURCE_CACHE = CacheManager("resources", "image_data")


class UserInfo(BaseModel):
    """Name of the user who uploaded a resource."""

    model_config = ConfigDict(extra="allow")

    firstname: str | None = None
    lastname: str | None = None


class Resource(BaseEntity):
    """A file stored on the server: DICOM, NIfTI, image, video or any other file.

    Attributes:
        storage: Kind of storage handler (``DicomResource``, ``NiftiResource``, ``ImageResource``, ...).
        filename: The name the file was uploaded with.
        mimetype: Its type, as sniffed by the server from the content.
        status: ``'inbox'`` or ``'published'``.
        size: Size in bytes.
        metadata: What the server extracted (width, height, frame_count, DICOM identifiers, NIfTI
            geometry, video streams) plus the metadata given at upload.
        upload_channel: The channel it was uploaded to (``""`` for none).
        tags: Its tags, in order.
    """

    storage_aliases: ClassVar[tuple[str, ...]] = ()
    mimetypes: ClassVar[tuple[str, ...]] = ()
    mimetype_prefixes: ClassVar[tuple[str, ...]] = ()
    filename_suffixes: ClassVar[tuple[str, ...]] = ()

    storage: str
    location: str
    filename: str
    mimetype: str
    status: str
    created_at: str
    created_by: str
    resource_uri: str
    upload_channel: str
    customer_id: str
    published: bool
    deleted: bool
    size: int | None = None
    modality: str | None = None
    upload_mechanism: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_filepath: str | None = None
    published_on: str | None = None
    published_by: str | None = None
    tags: list[str] = Field(default_factory=list)
    deleted_at: str | None = None
    deleted_by: str | None = None
    instance_uid: str | None = None
    series_uid: str | None = None
    study_uid: str | None = None
    patient_id: str | None = None
    user_info: UserInfo | None = None

    # -- handler ---------------------------------------------------------------------------------

    @property
    def _resources(self) -> ResourcesApi:
        return self._require_api()  # type: ignore[return-value]

    # -- kind ------------------------------------------------------------------------------------

    def is_image(self) -> bool:
        """Whether this is a 2-D image (PNG, JPEG, ...)."""
        return self.mimetype.startswith("image/")

    def is_dicom(self) -> bool:
        """Whether this is a DICOM file."""
        return self.mimetype in ("application/dicom", "application/x-dicom")

    def is_nifti(self) -> bool:
        """Whether this is a NIfTI volume."""
        return self.mimetype in ("application/nifti", "application/x-nifti", "image/x.nifti")

    def is_video(self) -> bool:
        """Whether this is a video."""
        return self.mimetype.startswith("video/")

    def is_volume(self) -> bool:
        """Whether this is a DICOM or NIfTI volume."""
        return self.is_dicom() or self.is_nifti()

    def is_multiframe(self) -> bool:
        """Whether it has more than one frame."""
        return self.get_depth() > 1

    @staticmethod
    def _coerce_int(value: Any) -> int | None:
        try:
            return int(value) if value is not None and value != "" else None
        except (TypeError, ValueError):
            return None

    def get_depth(self) -> int:
        """Number of frames (slices of a volume, frames of a video; 1 for a plain image)."""
        return self._coerce_int(self.metadata.get("frame_count")) or 1

    @property
    def size_mb(self) -> float | None:
        """Size in megabytes (10^6 bytes)."""
        return None if self.size is None else self.size / 1e6

    def get_patient_id(self) -> str | None:
        """The patient id, from the resource or its DICOM metadata."""
        return self.patient_id or self.metadata.get("PatientID")

    # -- data and cache --------------------------------------------------------------------------

    def _version(self) -> str:
        return version_hash({"created_at": self.created_at, "deleted_at": self.deleted_at, "size": self.size})

    @property
    def filepath_cached(self) -> Path | None:
        """Path of the cached file when the cache holds the current version, else ``None``."""
        return RESOURCE_CACHE.get_path(self.id, self._version())

    def is_cached(self) -> bool:
        """Whether the current version of the file is in the local cache."""
        return self.filepath_cached is not None

    def invalidate_cache(self) -> None:
        """Delete the cached file of this resource."""
        RESOURCE_CACHE.invalidate(self.id)

    def _save_into_cache(self, data: bytes) -> Path:
        from datamint.imaging.convert import extension_for_mimetype

        suffix = extension_for_mimetype(self.mimetype, data[:16])
        return RESOURCE_CACHE.save(self.id, self._version(), data, suffix, {"mimetype": self.mimetype})

    def fetch_file_data(self, auto_convert: bool = True, save_path: str | None = None,
                        use_cache: bool | Literal["loadonly"] = False) -> Any:
        """The file's content, downloaded or read from the local cache.

        Args:
            auto_convert: Convert to a pydicom Dataset, PIL image, ``cv2.VideoCapture`` or nibabel
                image (by mimetype); ``False`` returns the bytes.
            save_path: Also write the bytes to this path.
            use_cache: ``True`` reads the cache and stores downloads in it, ``'loadonly'`` only
                reads it, ``False`` always downloads.

        Returns:
            The converted object or the bytes.

        Example:
            >>> ds = resource.fetch_file_data(use_cache=True)   # pydicom Dataset for a DICOM
        """
        data = RESOURCE_CACHE.load(self.id, self._version()) if use_cache else None
        if data is None:
            data = self._resources.download_resource_file(self, auto_convert=False)
            if use_cache is True:
                self._save_into_cache(data)
        if save_path is not None:
            Path(save_path).write_bytes(data)
        if not auto_convert:
            return data
        from datamint.imaging.convert import convert_bytes

        return convert_bytes(data, self.mimetype)

    def fetch_annotations(self, annotation_type: str | None = None) -> Sequence[Annotation]:
        """The annotations of this resource (``api.resources.get_annotations``).

        Args:
            annotation_type: Only annotations of this type (e.g. ``'segmentation'``).
        """
        return self._resources.get_annotations(self, annotation_type)

    # -- links -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Link to the resource in the web application."""
        return f"{self._resources.config.web_app_url}/resource/{self.id}"

    def show(self) -> None:
        """Open the resource in the web browser."""
        webbrowser.open(self.url)

    @classmethod
    def matches(cls, data: dict[str, Any]) -> int:
        """How well a payload fits this class: 3 by storage, 2 by mimetype, 1 by suffix, 0 not at all."""
        storage = str(data.get("storage") or "")
        mimetype = str(data.get("mimetype") or "").lower()
        filename = str(data.get("filename") or "").lower()
        if storage and storage in cls.storage_aliases:
            return 3
        if mimetype and (mimetype in cls.mimetypes or mimetype.startswith(cls.mimetype_prefixes or ("\0",))):
            return 2
        if filename and cls.filename_suffixes and filename.endswith(cls.filename_suffixes):
            return 1
        return 0


def resource_class(data: dict[str, Any]) -> type[Resource]:
    """The most specific Resource subclass for a server payload: chosen by ``storage`` (score 3),
    else the mimetype (2), else the file name's suffix (1); :class:`Resource` when none fits."""
    from datamint.entities.resources import SPECIALISED

    # A class chosen by storage or mimetype (score 2 or more) does not depend on the file name:
    # remembered per (storage, mimetype), as a listing has thousands of resources of a few kinds.
    key = (str(data.get("storage") or ""), str(data.get("mimetype") or "").lower())
    best = _CLASS_BY_KIND.get(key)
    if best is None:
        best, score = Resource, 0
        for klass in SPECIALISED:
            match = klass.matches(data)
            if match > score:
                best, score = klass, match
        if score >= 2 and len(_CLASS_BY_KIND) < 256:
            _CLASS_BY_KIND[key] = best
    return best


_CLASS_BY_KIND: dict[tuple[str, str], type[Resource]] = {}


@functools.cache
def _payloads_adapter() -> TypeAdapter[list[Resource]]:
    """Validates a list of payloads, each into the class :func:`resource_class` picks for it."""
    from datamint.entities.resources import SPECIALISED

    def tag(data: Any) -> str:
        return (type(data) if isinstance(data, Resource) else resource_class(data)).__name__

    choices = tuple(Annotated[klass, Tag(klass.__name__)] for klass in (*SPECIALISED, Resource))
    return TypeAdapter(list[Annotated[Union[choices], Discriminator(tag)]])  # type: ignore[valid-type]  # noqa: UP007


def resources_from_dicts(payloads: Sequence[dict[str, Any]]) -> list[Resource]:
    """Build the most specific Resource subclass (:func:`resource_class`) for each server payload,
    validating the whole list in one pydantic call (a listing page of 5,000 resources is read
    about a third faster than one payload at a time).

    Args:
        payloads: Resources as the server returns them.

    Returns:
        :class:`DICOMResource`, :class:`NiftiResource`, :class:`VolumeResource`,
        :class:`VideoResource`, :class:`ImageResource` or plain :class:`Resource` objects, in order.

    Raises:
        pydantic.ValidationError: A payload lacks a required field or has a wrong type.
    """
    return _payloads_adapter().validate_python(payloads)


def resource_from_dict(data: dict[str, Any]) -> Resource:
    """Build the most specific Resource subclass for a server payload (:func:`resources_from_dicts`).

    Args:
        data: A resource as the server returns it.

    Returns:
        A :class:`DICOMResource`, :class:`NiftiResource`, :class:`VolumeResource`,
        :class:`VideoResource`, :class:`ImageResource`, or a plain :class:`Resource`.
    """
    return resources_from_dicts([data])[0]

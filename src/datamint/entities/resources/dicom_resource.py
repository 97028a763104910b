"""DICOM resources: single images, multi-frame objects and assembled series."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from datamint.entities.resources.volume_resource import VolumeResource

if TYPE_CHECKING:
    import numpy as np


class DICOMResource(VolumeResource):
    """A DICOM object; frames of a multi-frame object (or assembled series) are its slices."""

    storage_aliases: ClassVar[tuple[str, ...]] = ("DicomResource", "DicomResourceHandler")
    mimetypes: ClassVar[tuple[str, ...]] = ("application/dicom", "application/x-dicom")
    filename_suffixes: ClassVar[tuple[str, ...]] = (".dcm", ".dicom")

    @property
    def uids(self) -> dict[str, str]:
        """The study, series and instance UIDs that are known."""
        values = {"instance_uid": self.instance_uid, "series_uid": self.series_uid, "study_uid": self.study_uid}
        return {k: v for k, v in values.items() if v is not None}

    def get_depth(self) -> int:
        """Number of frames (1 for a single-frame image)."""
        return self._coerce_int(self.metadata.get("frame_count")) or 1

    def volume_array(self) -> np.ndarray:
        """Stored pixel values as ``[frame, row, column(, sample)]`` (no rescale applied)."""
        ds = self.fetch_file_data(auto_convert=True, use_cache=True)
        pixels = ds.pixel_array
        return pixels[None] if self.get_depth() == 1 else pixels

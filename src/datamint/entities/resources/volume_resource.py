"""Volumes (3-D images): the base of DICOM and NIfTI resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from datamint.entities.resource import Resource

if TYPE_CHECKING:
    import numpy as np

ViewPlane = Literal["axial", "coronal", "sagittal"]


def _axis_position(axis: str) -> int:
    position = {"axial": 0, "coronal": 1, "sagittal": 2}.get(axis)
    if position is None:
        raise ValueError(f"Unknown axis {axis!r}: use 'axial', 'coronal' or 'sagittal'")
    return position


class VolumeResource(Resource):
    """A volume, e.g. a CT or MRI series: frames are slices along the acquisition axis."""

    storage_aliases: ClassVar[tuple[str, ...]] = ("VolumeResource", "VolumeResourceHandler")

    @property
    def frame_count(self) -> int:
        """Number of slices (``metadata['frame_count']``)."""
        return self.get_depth()

    def get_depth(self) -> int:
        """Number of slices.

        Raises:
            ValueError: The server did not record the frame count.
        """
        count = self._coerce_int(self.metadata.get("frame_count"))
        if count is None:
            raise ValueError(f"Cannot determine the frame count of volume {self.filename!r}")
        return count

    def volume_array(self) -> np.ndarray:
        """The voxels as an array indexed ``[slice, row, column]`` (downloaded once and cached).

        Subclasses read their own format.
        """
        raise TypeError(f"{type(self).__name__} cannot be read as an array; use fetch_file_data()")

    def get_slice(self, axis: ViewPlane, index: int) -> np.ndarray:
        """One 2-D slice of the volume.

        Args:
            axis: ``'axial'`` (along the stored slices), ``'coronal'`` (along rows) or
                ``'sagittal'`` (along columns).
            index: 0-based slice index along that axis.

        Returns:
            The slice as an array.

        Raises:
            ValueError: ``axis`` is not one of the three planes (checked before anything is downloaded).
            IndexError: ``index`` is out of range.
        """
        position = _axis_position(axis)
        volume = self.volume_array()
        if not 0 <= index < volume.shape[position]:
            raise IndexError(f"{axis} slice {index} is out of range: 0..{volume.shape[position] - 1}")
        return volume.take(index, axis=position)

    def iter_slices(self, axis: ViewPlane) -> Iterator[np.ndarray]:
        """Every slice along ``axis``, in order (see :meth:`get_slice`)."""
        position = _axis_position(axis)
        volume = self.volume_array()
        for index in range(volume.shape[position]):
            yield volume.take(index, axis=position)

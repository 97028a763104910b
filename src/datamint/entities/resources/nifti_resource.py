"""NIfTI resources."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from datamint.entities.resources.volume_resource import VolumeResource

if TYPE_CHECKING:
    import numpy as np


class NiftiResource(VolumeResource):
    """A NIfTI-1/NIfTI-2 volume (``.nii`` or ``.nii.gz``)."""

    storage_aliases: ClassVar[tuple[str, ...]] = ("NiftiResource", "NiftiResourceHandler")
    mimetypes: ClassVar[tuple[str, ...]] = ("application/nifti", "application/x-nifti", "image/x.nifti")
    filename_suffixes: ClassVar[tuple[str, ...]] = (".nii", ".nii.gz")

    @property
    def is_compressed(self) -> bool:
        """Whether the file name says gzip-compressed (``.nii.gz``)."""
        return self.filename.lower().endswith(".nii.gz")

    def volume_array(self) -> np.ndarray:
        """Voxels as ``[slice, row, column]``: the NIfTI ``(x, y, z)`` axes moved to ``(z, y, x)``.

        4-D images give their first volume.
        """
        import numpy as np

        image = self.fetch_file_data(auto_convert=True, use_cache=True)
        data = np.asanyarray(image.dataobj)
        if data.ndim == 4:
            data = data[..., 0]
        if data.ndim == 2:
            data = data[..., None]
        return np.transpose(data, (2, 1, 0))

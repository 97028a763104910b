"""``GET /resources/{id}/slices[/{plane}/{index}]``: slice geometry and raw slice values for viewers.

The web app's viewer windows images itself (window/level by drag and presets), so it needs the
values, not a rendered PNG: :mod:`datamint.imaging.pixels` reads one slice (one DICOM frame
without decoding the others, one NIfTI plane) and its geometry. Values travel as raw
little-endian arrays; their shape and type are in the ``X-Slice-*`` headers.

Reads that would decode a whole file per slice go through the :class:`.VolumeCache`: a gzipped
NIfTI is decompressed once, and a DICOM series' sagittal and coronal slices come from its frames
decoded once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from datamint.imaging.errors import ImagingError, UnsupportedFormatError
from datamint.imaging.limits import DecodedSizeError
from datamint.imaging.pixels import PLANES, slice_geometry, slice_values
from datamint.imaging.sniff import DICOM, NIFTI, normalize_mimetype
from datamint.imaging.volume import compact_values, volume_slice
from datamint.server.common.limits import too_large
from datamint.server.errors import NotFoundError, UnsupportedMediaError, ValidationFailedError
from datamint.server.resources.frames import local_copy
from datamint.server.resources.models import Resource
from datamint.server.resources.volume_cache import VolumeCache
from datamint.server.storage.base import BlobNotFoundError, BlobStore


@contextlib.contextmanager
def _readable(store: BlobStore, cache: VolumeCache, resource: Resource) -> Iterator[str]:
    """A local path to read the resource from: the decompressed copy of a gzipped NIfTI."""
    if normalize_mimetype(resource.mimetype) == NIFTI:
        with cache.nifti_path(store, resource) as path:
            yield path
    else:
        with local_copy(store, resource.location) as path:
            yield path


def _read(store: BlobStore, cache: VolumeCache, resource: Resource, plane: str, index: int) -> np.ndarray:
    dicom = normalize_mimetype(resource.mimetype) == DICOM
    if plane == "axial" and dicom and geometry(store, cache, resource)["samples"] == 1:
        try:
            frames = cache.frames(store, resource)  # the header parsed once, not once per frame
        except UnsupportedFormatError:
            frames = None  # a Modality LUT sequence: the general path below
        if frames is not None:
            return compact_values(frames.values(index))
    if plane != "axial" and dicom:
        info = geometry(store, cache, resource)
        if plane not in info["planes"]:
            raise ValueError(f"resource {resource.id} has no {plane} plane: its frames do not form a regular "
                             "greyscale volume (only the axial plane, its frames, can be viewed)")
        return volume_slice(cache.dicom_volume(store, resource), plane, index)
    with _readable(store, cache, resource) as path:
        return slice_values(path, resource.mimetype, index, plane)


def geometry(store: BlobStore, cache: VolumeCache, resource: Resource) -> dict[str, Any]:
    """The slice geometry of a resource (see :class:`datamint.imaging.pixels.SliceGeometry`).

    Raises:
        UnsupportedMediaError: The resource's type has no slices (415).
        ValidationFailedError: The file cannot be read (422).
        NotFoundError: The stored file is missing.
    """
    try:
        def compute() -> dict[str, Any]:
            with _readable(store, cache, resource) as path:
                return dataclasses.asdict(slice_geometry(path, resource.mimetype))

        return cache.geometry(resource, compute)
    except BlobNotFoundError:
        raise NotFoundError("Resource file")
    except DecodedSizeError as exc:
        raise too_large(exc)
    except UnsupportedFormatError as exc:
        raise UnsupportedMediaError(f"Resource {resource.id} ({resource.mimetype}) cannot be viewed: {exc}")
    except ImagingError as exc:
        raise ValidationFailedError(f"Cannot read resource {resource.id}: {exc}")


def values(store: BlobStore, cache: VolumeCache, resource: Resource, plane: str, index: int
           ) -> tuple[memoryview, dict[str, str]]:
    """The raw values of slice ``index`` of ``plane`` and the headers that describe them.

    Returns:
        The array's bytes (C order, little-endian) and the ``X-Slice-Rows``, ``X-Slice-Columns``,
        ``X-Slice-Samples`` and ``X-Slice-Dtype`` (``int16``, ``float32`` or ``uint8``) headers.

    Raises:
        ValidationFailedError: Unknown plane or index out of range (the message gives the range) (422).
        UnsupportedMediaError: The resource's type has no slices (415).
        NotFoundError: The stored file is missing.
    """
    if plane not in PLANES:
        raise ValidationFailedError(f"plane must be one of {list(PLANES)}, not {plane!r}")
    if index < 0:
        raise ValidationFailedError(f"index must be >= 0, got {index}")
    try:
        array = _read(store, cache, resource, plane, index)
    except BlobNotFoundError:
        raise NotFoundError("Resource file")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, DecodedSizeError):
            raise too_large(exc)
        if isinstance(exc, UnsupportedFormatError):
            raise UnsupportedMediaError(f"Resource {resource.id} ({resource.mimetype}) cannot be viewed: {exc}")
        if isinstance(exc, ImagingError):
            raise ValidationFailedError(f"Cannot read slice {index} of resource {resource.id}: {exc}")
        raise ValidationFailedError(str(exc))
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    headers = {"X-Slice-Rows": str(array.shape[0]), "X-Slice-Columns": str(array.shape[1]),
               "X-Slice-Samples": str(array.shape[2] if array.ndim == 3 else 1),
               "X-Slice-Dtype": array.dtype.name, "Cache-Control": "private, max-age=3600"}
    return memoryview(array).cast("B"), headers  # the array's own buffer: no second copy of the slice

"""Reading NIfTI-1/NIfTI-2 files (plain or gzip-compressed) from bytes, paths or file objects.

nibabel decides compression from the file extension; uploads often have none, so these helpers
look at the content instead (gzip magic) and hand nibabel a decompressed stream.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ._sources import Source, is_pathlike, open_source, read_bytes, source_name
from .errors import CorruptFileError, UnsupportedFormatError
from .limits import check_frames

if TYPE_CHECKING:
    import nibabel

__all__ = ["NiftiVoxels", "check_nifti_data", "check_nifti_size", "load_nifti", "open_nifti_voxels",
           "read_nifti_header"]

_TRY = "; the file is probably truncated or damaged: re-export or re-copy it"


@contextlib.contextmanager
def _nifti_stream(src: Source) -> Iterator[BinaryIO]:
    """Yield the decompressed content of `src` as a binary stream."""
    with open_source(src) as fh:
        magic = fh.read(2)
        fh.seek(-len(magic), io.SEEK_CUR)
        if magic == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            yield fh


def _header_class(raw: bytes) -> type:
    import nibabel

    for size, klass in ((348, nibabel.Nifti1Header), (540, nibabel.Nifti2Header)):
        if len(raw) >= 4 and size in (struct.unpack_from("<i", raw)[0], struct.unpack_from(">i", raw)[0]):
            return klass
    raise UnsupportedFormatError(
        "not a NIfTI file: sizeof_hdr is neither 348 (NIfTI-1) nor 540 (NIfTI-2); check that the "
        "file is a .nii or .nii.gz image"
    )


def read_nifti_header(src: Source) -> nibabel.Nifti1Header:
    """Read and check the header of a NIfTI-1 or NIfTI-2 file (gzip-compressed or not).

    Args:
        src: The file's bytes, a path, or a binary file object.

    Returns:
        A ``nibabel.Nifti1Header`` or ``nibabel.Nifti2Header``.

    Raises:
        UnsupportedFormatError: The content is not NIfTI.
        CorruptFileError: The header is truncated or invalid.
    """
    from nibabel.spatialimages import HeaderDataError

    name = source_name(src)
    try:
        with _nifti_stream(src) as fh:
            raw = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"cannot decompress the NIfTI file ({exc}){_TRY}", filename=name) from exc
    try:
        klass = _header_class(raw)
    except UnsupportedFormatError as exc:
        raise UnsupportedFormatError(exc.message, filename=name) from None
    size = 348 if klass.__name__ == "Nifti1Header" else 540
    if len(raw) < size:
        raise CorruptFileError(f"the NIfTI header is {len(raw)} of {size} bytes{_TRY}", filename=name)
    try:
        header = klass.from_fileobj(io.BytesIO(raw[:size]), check=True)
    except (HeaderDataError, ValueError) as exc:
        raise CorruptFileError(f"invalid NIfTI header ({exc}){_TRY}", filename=name) from exc
    if header["magic"].item() not in (b"n+1", b"ni1", b"n+2", b"ni2"):
        raise UnsupportedFormatError(
            "an Analyze 7.5 header without NIfTI magic is not supported; convert it to NIfTI",
            filename=name,
        )
    check_nifti_size(header, name)
    return header


def check_nifti_size(header: nibabel.Nifti1Header, filename: str | None = None) -> int:
    """Check the decoded size a NIfTI header announces against the decoded-size limits.

    A frame is a slice of the first two axes; the frames are the product of the other dimensions.

    Returns:
        The voxel data's size in bytes.

    Raises:
        DecodedSizeError: A limit of :mod:`datamint.imaging.limits` is passed.
    """
    dims = [int(n) for n in header.get_data_shape()]
    shape = dims + [1, 1]
    frames = int(np.prod(dims[2:], dtype=np.int64)) if len(dims) > 2 else 1
    return check_frames(rows=shape[1], columns=shape[0], frames=frames, bits=int(header["bitpix"]),
                        what="the NIfTI image", filename=filename)


def _data_offset(header: nibabel.Nifti1Header) -> int:
    minimum = 352 if header.sizeof_hdr == 348 else 544
    return max(int(header["vox_offset"]), minimum)


def check_nifti_data(src: Source) -> None:
    """Check that a single-file NIfTI holds all the voxel bytes its header announces.

    Args:
        src: The file's bytes, a path, or a binary file object.

    Raises:
        UnsupportedFormatError: The content is not NIfTI.
        CorruptFileError: The header is invalid, the gzip stream is truncated, or voxel data is
            missing.
    """
    header = read_nifti_header(src)
    if header["magic"].item() in (b"ni1", b"ni2"):
        return  # header of a .hdr/.img pair: the voxels live in the .img file
    name = source_name(src)
    needed = _data_offset(header) + int(np.prod(header.get_data_shape(), dtype=np.int64)) * (int(header["bitpix"]) // 8)
    total = 0
    try:
        with _nifti_stream(src) as fh:
            while total < needed and (chunk := fh.read(1 << 20)):  # what follows the voxels is never read
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"the gzip stream is truncated or damaged ({exc}){_TRY}", filename=name) from exc
    if total < needed:
        raise CorruptFileError(
            f"the file holds {total} bytes but its header (shape {header.get_data_shape()}, "
            f"{header.get_data_dtype()}) needs {needed}{_TRY}",
            filename=name,
        )


def load_nifti(src: Source) -> nibabel.Nifti1Image:
    """Load a NIfTI-1/NIfTI-2 image from bytes, a path or a file object.

    Paths are loaded lazily by nibabel (data read on first access); bytes and file objects are
    decompressed in memory.

    Args:
        src: The file's bytes, a path, or a binary file object.

    Returns:
        A ``nibabel.Nifti1Image`` or ``nibabel.Nifti2Image``.

    Raises:
        UnsupportedFormatError: The content is not NIfTI.
        CorruptFileError: The file cannot be read.
    """
    import nibabel

    header = read_nifti_header(src)
    klass = nibabel.Nifti1Image if header.sizeof_hdr == 348 else nibabel.Nifti2Image
    name = source_name(src)
    try:
        if is_pathlike(src) and str(src).lower().endswith((".nii", ".nii.gz")):
            return klass.from_filename(str(src))
        data = read_bytes(src)
        if data[:2] == b"\x1f\x8b":  # inflate what the (checked) header announces, never more
            needed = _data_offset(header) + int(np.prod(header.get_data_shape(), dtype=np.int64)) * (
                int(header["bitpix"]) // 8)
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
                data = gz.read(needed)
        return klass.from_bytes(data)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise CorruptFileError(f"cannot load the NIfTI image ({exc}){_TRY}", filename=name) from exc


class NiftiVoxels:
    """The voxels of one NIfTI file, read one axial slice at a time from its (decompressed) stream.

    Nothing is loaded up front: :meth:`axial` reads the slice's bytes (nibabel's array proxy over
    the stream), so memory stays at one slice whatever the volume's size. On a gzip stream, slices
    read in increasing order cost one decompression pass in all.

    Attributes:
        header: The checked header. shape: ``(nx, ny, nz)`` (missing axes are 1).
        volumes: Number of volumes (product of the dimensions after the third).
    """

    def __init__(self, fh: BinaryIO, header: nibabel.Nifti1Header, name: str | None = None) -> None:
        from nibabel.arrayproxy import ArrayProxy

        self.header = header
        self.name = name
        dims = [int(n) for n in header.get_data_shape()]
        if header.get_data_dtype().names:
            raise UnsupportedFormatError("RGB (structured) NIfTI images are not supported for viewing", filename=name)
        self.ndim = len(dims)
        self.shape = tuple((dims + [1, 1, 1])[:3])
        self.extra = tuple(dims[3:])
        self.volumes = int(np.prod(self.extra, dtype=np.int64)) if self.extra else 1
        slope, inter = header.get_slope_inter()
        spec = (tuple(dims), header.get_data_dtype(), _data_offset(header),
                1.0 if slope is None else slope, 0.0 if inter is None else inter)
        self._proxy = ArrayProxy(fh, spec)

    @property
    def affine(self) -> np.ndarray:
        """The voxel-to-world (RAS) affine nibabel would give the image."""
        return np.asarray(self.header.get_best_affine(), dtype=float)

    def axial(self, k: int, volume: int = 0) -> np.ndarray:
        """Slice ``k`` of the third axis of volume ``volume``, scaled, shape ``(nx, ny)``.

        Raises:
            CorruptFileError: The voxel data is shorter than the header says.
        """
        selector: list[Any] = [slice(None), slice(None)]
        if self.ndim >= 3:
            selector.append(k)
        if self.extra:
            selector.extend(int(i) for i in np.unravel_index(volume, self.extra, order="F"))
        try:
            values = np.asarray(self._proxy[tuple(selector[: self.ndim])])
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise CorruptFileError(f"cannot read the NIfTI voxels ({exc}){_TRY}", filename=self.name) from exc
        return values.reshape(self.shape[:2])


@contextlib.contextmanager
def open_nifti_voxels(src: Source) -> Iterator[NiftiVoxels]:
    """Open a NIfTI file for slice-by-slice reading (its header checked against the decoded-size limits).

    Args:
        src: The file's bytes, a path, or a binary file object (plain or gzip-compressed).

    Yields:
        A :class:`NiftiVoxels` valid inside the ``with`` block.

    Raises:
        UnsupportedFormatError: Not NIfTI, or a structured (RGB) data type.
        CorruptFileError: The header is invalid.
        DecodedSizeError: The header announces more than the limits allow.
    """
    header = read_nifti_header(src)
    with _nifti_stream(src) as fh:
        yield NiftiVoxels(fh, header, source_name(src))

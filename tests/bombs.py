"""Small files that announce (and, decoded, really are) huge images: the decompression and dimension
bombs of issue 9 §2, built in streaming fashion so the tests never hold the decoded size themselves.

Every builder writes real, valid content (except where ``truncate`` says otherwise): a decoder that
ignored the limits would really allocate the announced size.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

_CHUNK = 1 << 20

#: The classic "billion laughs" in YAML, as in the issue: under 500 bytes whose aliases expand to
#: 9**8 = 43,046,721 strings (about 260 MB of JSON) in the one label definition that keeps unknown keys.
YAML_ALIAS_BOMB = (
    b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    b"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    b"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    b"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    b"definitions:\n"
    b"  - {identifier: liver, index: 1, notes: *h}\n"
)


def _zeros(total: int) -> Iterator[bytes]:
    block = bytes(min(total, _CHUNK))
    while total > 0:
        yield block[: min(total, len(block))]
        total -= len(block)


def _image_dataset(rows: int, columns: int, frames: int, bits: int, sop_class: str = CTImageStorage) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "BOMB"
    ds.Modality = "CT" if sop_class == CTImageStorage else "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    return ds


def _meta(ds: Dataset, syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_file_meta_info(buf, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buf.getvalue()


def _body(ds: Dataset) -> bytes:
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return buf.getvalue()


def deflated_dicom(rows: int, columns: int, frames: int = 1, bits: int = 16) -> bytes:
    """A Deflated Explicit VR Little Endian CT of zeros (8192² x 16 bits: about 128 KiB for 128 MiB)."""
    ds = _image_dataset(rows, columns, frames, bits)
    size = rows * columns * frames * (bits // 8)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [compressor.compress(_body(ds) + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, size))]
    parts.extend(compressor.compress(block) for block in _zeros(size))
    parts.append(compressor.flush())
    return _meta(ds, DeflatedExplicitVRLittleEndian) + b"".join(parts)


def native_dicom(rows: int, columns: int, frames: int = 1, bits: int = 16, *, seed: int = 3) -> bytes:
    """An uncompressed CT with random values (a legitimate image, for "just under the limit")."""
    ds = _image_dataset(rows, columns, frames, bits)
    dtype = np.uint16 if bits == 16 else np.uint8
    pixels = np.random.default_rng(seed).integers(0, 2000 if bits == 16 else 255, (frames, rows, columns), dtype=dtype)
    ds.PixelData = pixels.tobytes()
    return _meta(ds, ExplicitVRLittleEndian) + _body(ds)


def _packbits_zero_row(columns: int) -> bytes:
    """One row of zeros as PackBits runs (the DICOM RLE segment coding): 2 bytes per 128 pixels."""
    out = bytearray()
    left = columns
    while left:
        n = min(left, 128)
        out += bytes([(257 - n) & 0xFF if n > 1 else 0, 0]) if n > 1 else b"\x00\x00"
        left -= n
    return bytes(out)


def rle_frame(rows: int, columns: int, bits: int = 16) -> bytes:
    """One RLE Lossless frame of zeros (4096² x 16 bits: 512 KiB for 32 MiB decoded)."""
    segments = bits // 8
    segment = _packbits_zero_row(columns) * rows
    if len(segment) % 2:
        segment += b"\0"
    offsets = [64 + k * len(segment) for k in range(segments)] + [0] * (15 - segments)
    return struct.pack("<16I", segments, *offsets) + segment * segments


def rle_dicom(rows: int, columns: int, frames: int = 1, bits: int = 16) -> bytes:
    """An RLE Lossless secondary capture of zeros (every frame the same small bitstream)."""
    ds = _image_dataset(rows, columns, frames, bits, SecondaryCaptureImageStorage)
    frame = rle_frame(rows, columns, bits)
    ds.PixelData = encapsulate([frame] * frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return _meta(ds, RLELossless) + _body(ds)


def nifti(shape: tuple[int, ...], dtype: type = np.uint8, *, values: np.ndarray | None = None,
          truncate_at: int | None = None, compress: bool = True) -> bytes:
    """A NIfTI-1 image of ``shape`` (zeros, or ``values``), gzip-compressed by default.

    ``truncate_at``: keep only that many bytes of voxel data (a file whose header announces far more
    than it holds: refused from the header, it must never be decompressed).
    """
    import nibabel

    header = nibabel.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header["vox_offset"] = 352
    header.set_sform(np.eye(4), code=1)
    head = header.binaryblock + b"\0" * 4
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if truncate_at is not None:
        size = min(size, truncate_at)
    raw = io.BytesIO()
    target = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if compress else raw
    target.write(head)
    if values is not None:
        target.write(np.asarray(values, dtype=dtype).tobytes(order="F")[:size])
    else:
        for block in _zeros(size):
            target.write(block)
    if compress:
        target.close()
    return raw.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of zeros: 30000² is about 110 KiB and decodes to 900 MB in Pillow."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    compressor = zlib.compressobj(9)
    rows_per_block = max(_CHUNK // len(row), 1)
    parts = []
    left = height
    while left:
        n = min(left, rows_per_block)
        parts.append(compressor.compress(row * n))
        left -= n
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")

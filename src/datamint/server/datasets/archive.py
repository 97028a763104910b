"""Streaming a dataset snapshot as a zip archive with flat memory.

The zip is written incrementally into a sink that only collects the bytes written since the last
yield (it cannot seek, so :mod:`zipfile` writes data descriptors after each member and ZIP64
records where needed). Originals are copied from the blob store chunk by chunk; converted files
are built one resource at a time. Memory therefore stays at about one chunk, or one converted
resource, however large the dataset.

Layout::

    resources/<resource id>/<file>     the resource in the requested format (see FORMATS)
    masks/<resource id>/<annotation id>.png|.nii.gz   each mask, as stored
    manifest.json                      resources (sha256 of the stored bytes, archive paths),
                                       annotations (with their mask's hash and path), label schema

Formats: ``dicom`` — every file exactly as uploaded (DICOM stays DICOM); ``nifti`` — DICOM
volumes converted to NIfTI (``.nii.gz``, RAS affine from the DICOM geometry), other files as
uploaded; ``png`` — every frame of images, volumes and videos rendered as an 8-bit PNG (as the
``/frames`` endpoint renders it); ``jpg`` and ``tiff`` — the same frames as JPEG (quality 95) or
Deflate-compressed TIFF (files already in that format are copied as uploaded); ``npy`` — every
image as a NumPy array of its stored values (DICOM ``(frames, rows, columns)``, NIfTI as stored
``(x, y, z)``, images ``(rows, columns[, channels])``, videos ``(frames, rows, columns, 3)``).

A resource whose conversion would pass the decoded-size limits (``DATAMINT_SERVER_MAX_*``, see
``docs/security.md``) is written as uploaded instead, and its manifest entry says why under
``not_converted`` (the stream has started: it cannot answer 413 any more).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np

from datamint.imaging.limits import DecodedSizeError
from datamint.server.datasets.snapshot import MASK_EXTENSIONS, ResourceEntry, Snapshot, manifest
from datamint.server.storage.base import BlobStore

_LOG = logging.getLogger("datamint.server.datasets")
FORMATS = ("dicom", "nifti", "png", "jpg", "tiff", "npy")
#: The rendered formats: archive format → (file extension, mimetypes copied as they are).
_RENDERED = {"png": ("png", ("image/png",)), "jpg": ("jpg", ("image/jpeg",)), "tiff": ("tiff", ("image/tiff",))}
FLUSH_BYTES = 1 << 20
DICOM = "application/dicom"
NIFTI = "application/nifti"


class _Sink:
    """A write-only, non-seekable file that hands out what was written since the last drain."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.pending = 0
        self._position = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.pending += len(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to flush: bytes leave through :meth:`drain`."""

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        self.pending = 0
        return out


def _safe_name(name: str, fallback: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch if ch.isprintable() else "_" for ch in base) or fallback


def _stem(name: str) -> str:
    for suffix in (".nii.gz", ".dcm", ".dicom", ".nii", ".png", ".jpg", ".jpeg"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def _member(path: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=datetime.now(timezone.utc).timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _dicom_to_nifti(data: bytes) -> bytes:
    """A DICOM volume as gzip-compressed NIfTI with its RAS affine."""
    import gzip

    import nibabel

    from datamint.imaging import read_dicom
    from datamint.imaging.dicom_io import first_number, frame_value, number_of_frames
    from datamint.imaging.geometry import VolumeGeometry, pixel_to_patient

    ds = read_dicom(data, check=False)
    pixels = np.asarray(ds.pixel_array)
    frames = pixels if number_of_frames(ds) > 1 else pixels[np.newaxis]
    volume = np.ascontiguousarray(frames.transpose(2, 1, 0))  # (columns, rows, frames) = (x, y, z)
    geometry = VolumeGeometry.from_dataset(ds)
    origin = np.asarray(pixel_to_patient(geometry, 0, 0, 0))
    affine = np.eye(4)  # voxel (x, y, z) → patient LPS, one column per axis
    for axis, step in enumerate(np.eye(3)):
        affine[:3, axis] = np.asarray(pixel_to_patient(geometry, *step)) - origin
    affine[:3, 3] = origin
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine  # LPS → RAS
    image = nibabel.Nifti1Image(volume, affine)
    slope = first_number(frame_value(ds, 0, "PixelValueTransformationSequence", "RescaleSlope", 1))
    intercept = first_number(frame_value(ds, 0, "PixelValueTransformationSequence", "RescaleIntercept", 0))
    image.header.set_slope_inter(1.0 if slope is None else slope, intercept or 0.0)
    return gzip.compress(image.to_bytes(), compresslevel=1)


#: Public name of the converter (the formats area writes nnU-Net images with it).
dicom_to_nifti = _dicom_to_nifti


def _array_of(entry: ResourceEntry, data: bytes) -> np.ndarray | None:
    """The stored values of a resource as an array (None when it is not an image)."""
    from datamint.imaging import load_nifti, read_dicom

    if entry.mimetype == DICOM:
        return np.asarray(read_dicom(data, check=False).pixel_array)
    if entry.mimetype == NIFTI:
        return np.asanyarray(load_nifti(data).dataobj)
    if entry.mimetype.startswith("image/"):
        from datamint.imaging.render import open_image

        with open_image(data) as image:  # its size checked against the decoded-size limits first
            return np.asarray(image)
    if entry.mimetype.startswith("video/"):
        from datamint.imaging import iter_frames
        from datamint.imaging.limits import check_decoded_bytes

        frames, size = [], 0
        for frame in iter_frames(data, entry.mimetype):  # one decoding pass, stopped at the limit
            size += frame.nbytes
            check_decoded_bytes(size, f"the video {entry.filename} decoded")
            frames.append(frame)
        return np.stack(frames) if frames else None
    return None


def _converts(entry: ResourceEntry, fmt: str) -> bool:
    """Whether ``fmt`` changes how a resource is written (otherwise it is copied as stored)."""
    kind = entry.mimetype
    imaging = kind in (DICOM, NIFTI) or kind.startswith(("image/", "video/"))
    if fmt == "nifti":
        return kind == DICOM
    if fmt == "npy":
        return imaging
    if fmt in _RENDERED:
        return imaging and kind not in _RENDERED[fmt][1]
    return False


def _converted(entry: ResourceEntry, data: bytes, fmt: str) -> list[tuple[str, bytes]] | None:
    """``(file name, bytes)`` of a resource that :func:`_converts` to ``fmt``; None to keep the original."""
    stem = _stem(_safe_name(entry.filename, entry.id))
    if fmt == "nifti":
        return [(f"{stem}.nii.gz", _dicom_to_nifti(data))]
    if fmt == "npy":
        array = _array_of(entry, data)
        if array is None:
            return None
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return [(f"{stem}.npy", buf.getvalue())]
    from datamint.imaging import frame_bytes, iter_frames

    suffix = _RENDERED[fmt][0]
    images = [frame_bytes(frame, fmt) for frame in iter_frames(data, entry.mimetype)]  # the file is decoded once
    if len(images) == 1:
        return [(f"{stem}.{suffix}", images[0])]
    return [(f"{stem}_{k:04d}.{suffix}", image) for k, image in enumerate(images)]


def stream_zip(store: BlobStore, snapshot: Snapshot, fmt: str, dataset: dict[str, Any]) -> Iterator[bytes]:
    """Yield the zip archive of ``snapshot`` in ``fmt``, about a mebibyte at a time.

    Args:
        store: Where the resources and masks are.
        snapshot: What to put in the archive.
        fmt: One of :data:`FORMATS`.
        dataset: The DatasetInfo written into the manifest.
    """
    sink = _Sink()
    paths: dict[str, list[str]] = {}
    mask_paths: dict[str, str] = {}
    not_converted: dict[str, str] = {}
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for entry in snapshot.resources:
            folder = f"resources/{entry.id}"
            try:
                converted = _converted(entry, store.get(entry.blob_key), fmt) if _converts(entry, fmt) else None
            except DecodedSizeError as exc:  # over the decoded-size limits: the original goes in, and why
                converted, not_converted[entry.id] = None, str(exc)
            if converted is None:
                name = f"{folder}/{_safe_name(entry.filename, entry.id)}"
                with archive.open(_member(name), "w", force_zip64=entry.size >= zipfile.ZIP64_LIMIT // 2) as out:
                    for chunk in store.iter_chunks(entry.blob_key):
                        out.write(chunk)
                        if sink.pending >= FLUSH_BYTES:
                            yield sink.drain()
                paths[entry.id] = [name]
            else:
                paths[entry.id] = []
                for filename, data in converted:
                    name = f"{folder}/{filename}"
                    with archive.open(_member(name), "w", force_zip64=len(data) >= zipfile.ZIP64_LIMIT // 2) as out:
                        out.write(data)
                    paths[entry.id].append(name)
                    if sink.pending >= FLUSH_BYTES:
                        yield sink.drain()
            yield sink.drain()
        for annotation in snapshot.annotations:
            if not annotation.mask_key:
                continue
            name = (f"masks/{annotation.resource_id}/{annotation.id}"
                    f"{MASK_EXTENSIONS.get(annotation.mask_mimetype or '', '')}")
            with archive.open(_member(name), "w") as out:
                for chunk in store.iter_chunks(annotation.mask_key):
                    out.write(chunk)
            mask_paths[annotation.id] = name
            if sink.pending >= FLUSH_BYTES:
                yield sink.drain()
        document = manifest(snapshot, dataset)
        document["format"] = fmt
        for item in document["resources"]:
            item["archive_paths"] = paths.get(item["id"], [])
            if item["id"] in not_converted:
                item["not_converted"] = not_converted[item["id"]]
        for item in document["annotations"]:
            if item.get("mask"):
                item["mask"]["archive_path"] = mask_paths.get(item["id"])
        info = zipfile.ZipInfo("manifest.json", date_time=datetime.now(timezone.utc).timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, json.dumps(document, indent=1, default=str))
    yield sink.drain()

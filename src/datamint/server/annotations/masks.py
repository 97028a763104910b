"""Segmentation masks (wire protocol §8): checks against the resource's geometry, storage in the
blob store without orphans, and the split of a labelled volume into one binary mask per label.

Frame masks are PNG images of the resource's width × height (stored as uploaded). Volume masks
are NIfTI images of width × height × frames, stored re-encoded as binary (0/1) gzip-compressed
NIfTI with the resource's affine (NIfTI resources) or the uploaded file's affine (DICOM).

Crash safety follows the resources' ingest: an upload intent naming each new blob is committed
(on the request's own connection, so a request never holds two pooled connections) before the
blob is written, and deleted in the request's final transaction together with the row that
references the blob; a failed request deletes its new blobs at once, and a dead process leaves
intents that the upload janitor clears.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from datamint.imaging.errors import ImagingError
from datamint.imaging.limits import DecodedSizeError
from datamint.imaging.nifti_io import load_nifti, read_nifti_header
from datamint.imaging.render import open_image
from datamint.server.annotations.validation import ResourceShape
from datamint.server.common.limits import too_large
from datamint.server.common.values import parse_json
from datamint.server.db import unit_of_work
from datamint.server.db.base import new_id
from datamint.server.errors import UnsupportedMediaError, ValidationFailedError
from datamint.server.resources.ingest import discard
from datamint.server.resources.models import UploadIntent
from datamint.server.storage.base import BlobData, BlobStore

_LOG = logging.getLogger("datamint.server.annotations")
PNG = "image/png"
NIFTI = "application/nifti"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

T = TypeVar("T")


def extension(mimetype: str | None) -> str:
    """File extension of a stored mask of this content type."""
    return ".png" if mimetype == PNG else ".nii.gz"


@dataclass
class StoredMask:
    """A mask ready to be stored: its bytes and content type."""

    data: bytes
    mimetype: str

    @property
    def extension(self) -> str:
        """File extension matching the content type."""
        return extension(self.mimetype)


def mask_key(customer_id: str, annotation_id: str, mask: StoredMask) -> str:
    """A fresh blob key for an annotation's mask (a new key per upload, so caches see the change)."""
    return f"{customer_id}/annotations/{annotation_id}/{new_id()}{mask.extension}"


def _size_error(what: str, got: tuple[int, ...], shape: ResourceShape, volume: bool) -> ValidationFailedError:
    want = f"{shape.width}x{shape.height}" + (f"x{shape.frame_count}" if volume else "")
    label = "width x height x frames" if volume else "width x height"
    have = "x".join(str(v) for v in got)
    return ValidationFailedError(f"{what} size {have} does not match the resource's {want} ({label}); "
                                 "resample or crop the mask to the resource's geometry")


def check_png(data: bytes, shape: ResourceShape) -> StoredMask:
    """A PNG frame mask of the resource's width × height (stored unchanged)."""
    from PIL import UnidentifiedImageError

    if not data.startswith(_PNG_MAGIC):
        raise UnsupportedMediaError("A frame mask must be a PNG image (grayscale or RGB, non-zero = the label)")
    try:
        with open_image(data) as image:  # the size from the header, checked before decoding
            size = image.size
            if shape.width is not None and shape.height is not None and size != (shape.width, shape.height):
                raise _size_error("Mask", size, shape, volume=False)
            image.load()
    except DecodedSizeError as exc:
        raise too_large(exc)
    except (UnidentifiedImageError, ImagingError, OSError, ValueError) as exc:
        raise ValidationFailedError(f"Cannot read the PNG mask ({exc}); re-export it")
    return StoredMask(data, PNG)


def _header_shape(data: bytes, shape: ResourceShape) -> None:
    """Check the mask's shape from its NIfTI header, before anything is decompressed (413 when the
    header announces more than the decoded-size limits, 422 when it is not the resource's shape)."""
    try:
        header = read_nifti_header(data)
    except DecodedSizeError as exc:
        raise too_large(exc)
    except ImagingError as exc:
        raise UnsupportedMediaError(f"A volume mask must be a NIfTI file (.nii or .nii.gz): {exc}")
    dims = [int(n) for n in header.get_data_shape()]
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if len(dims) == 2:
        dims.append(1)
    if len(dims) != 3:
        raise ValidationFailedError(f"A volume mask must be 3-D (width x height x frames), got shape {tuple(dims)}")
    _check_volume_shape(_Shape(tuple(dims)), shape)


@dataclass
class _Shape:
    shape: tuple[int, ...]


def _load_volume(data: bytes, shape: ResourceShape) -> Any:
    _header_shape(data, shape)
    try:
        image = load_nifti(data)
        array = np.asanyarray(image.dataobj)
    except DecodedSizeError as exc:
        raise too_large(exc)
    except ImagingError as exc:
        raise UnsupportedMediaError(f"A volume mask must be a NIfTI file (.nii or .nii.gz): {exc}")
    except Exception as exc:  # nibabel choked on the content
        raise ValidationFailedError(f"Cannot read the NIfTI mask ({type(exc).__name__}: {exc})")
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3:
        raise ValidationFailedError(f"A volume mask must be 3-D (width x height x frames), got shape {array.shape}")
    return image, array


def _check_volume_shape(array: Any, shape: ResourceShape) -> None:
    want = (shape.width, shape.height, shape.frame_count)
    if None not in want and tuple(array.shape) != want:
        raise _size_error("Mask", tuple(array.shape), shape, volume=True)


def _affine(image: Any, shape: ResourceShape) -> Any:
    if shape.affine is not None and shape.mimetype == NIFTI:
        try:
            return np.asarray(shape.affine, dtype=float).reshape(4, 4)
        except ValueError:
            pass
    return image.affine


def _binary_nifti(mask: Any, affine: Any) -> bytes:
    import nibabel

    image = nibabel.Nifti1Image(np.ascontiguousarray(mask, dtype=np.uint8), affine)
    image.header.set_data_dtype(np.uint8)
    return gzip.compress(image.to_bytes(), compresslevel=6)


def check_volume(data: bytes, shape: ResourceShape) -> StoredMask:
    """A NIfTI volume mask of width × height × frames, stored as a binary NIfTI."""
    image, array = _load_volume(data, shape)
    _check_volume_shape(array, shape)
    return StoredMask(_binary_nifti(array != 0, _affine(image, shape)), NIFTI)


def check_upload(data: bytes, shape: ResourceShape, scope: str) -> StoredMask:
    """Check a mask uploaded for an annotation of ``scope`` on a resource of ``shape``.

    Frame annotations and 2-D resources take PNG masks; image-scope masks of volumes (DICOM,
    NIfTI) take NIfTI volumes (or a PNG when the volume has a single frame).

    Raises:
        ValidationFailedError: Empty, unreadable or wrongly sized mask (the message gives both sizes).
        UnsupportedMediaError: Not a PNG / NIfTI where one is needed.
    """
    if not data:
        raise ValidationFailedError("The mask file is empty")
    if scope == "frame" or not shape.is_volume or (shape.frame_count == 1 and data.startswith(_PNG_MAGIC)):
        return check_png(data, shape)
    return check_volume(data, shape)


def parse_segmentation_map(raw: str | None) -> dict[int, str]:
    """``{"1": "liver", ...}`` as ``{1: "liver"}``; 422 when malformed."""
    if raw in (None, ""):
        return {}
    decoded = parse_json(raw, "segmentation_map")
    if not isinstance(decoded, dict):
        raise ValidationFailedError('segmentation_map must be a JSON object such as {"1": "liver"}')
    out: dict[int, str] = {}
    for key, name in decoded.items():
        try:
            label = int(str(key).strip())
        except ValueError:
            raise ValidationFailedError(f"segmentation_map key {key!r} is not an integer label")
        if label <= 0:
            raise ValidationFailedError(f"segmentation_map label {label} is invalid: 0 is the background")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 300:
            raise ValidationFailedError(f"segmentation_map name of label {label} must be a non-empty string")
        out[label] = name.strip()
    return out


def split_labels(data: bytes, shape: ResourceShape, names: dict[int, str],
                 max_labels: int) -> list[tuple[int, str, StoredMask]]:
    """One binary volume mask per label present in a labelled NIfTI volume.

    Args:
        data: The NIfTI bytes (plain or gzip).
        shape: The resource, whose width × height × frames the volume must have.
        names: Label value → name; labels without a name are refused. With an empty map every
            label ``v`` is named ``label_v``.
        max_labels: Most labels one volume may hold (one annotation each). Checked before any
            mask is made: each mask is a pass over the whole volume and a compressed copy of it.

    Returns:
        ``(label, name, mask)`` for each label present, by label value.

    Raises:
        ValidationFailedError: More than ``max_labels`` labels, negative or unnamed labels, or
            values that are not integers.
    """
    image, array = _load_volume(data, shape)
    _check_volume_shape(array, shape)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValidationFailedError("The segmentation volume must hold integer labels")
        array = array.astype(np.int64)
    present = [int(v) for v in np.unique(array) if v != 0]
    negative = [v for v in present if v < 0]
    if negative:
        raise ValidationFailedError(f"The segmentation volume holds negative labels {negative[:5]}")
    if len(present) > max_labels:
        raise ValidationFailedError(f"The segmentation volume holds {len(present)} labels; one upload takes at most "
                                    f"{max_labels} (one segmentation each): upload the labels in parts")
    if names:
        unnamed = [v for v in present if v not in names]
        if unnamed:
            raise ValidationFailedError(f"Labels {unnamed[:10]} of the volume have no name in segmentation_map "
                                        f"(named: {sorted(names)}); name every label or zero those voxels")
    affine = _affine(image, shape)
    return [(v, names.get(v, f"label_{v}"), StoredMask(_binary_nifti(array == v, affine), NIFTI)) for v in present]


@dataclass
class PendingBlobs:
    """Blobs written for one request.

    :meth:`put_all` commits the request's session (with the intents) before writing the blobs, so
    it must run before the request changes anything else. :func:`with_blobs` runs :meth:`finish`
    (deletes replaced blobs) after the unit of work's final commit and :meth:`discard` (deletes the
    new ones) if it fails.
    """

    store: BlobStore
    session: Session
    customer_id: str
    new: list[tuple[str, str]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    def put_all(self, blobs: list[tuple[str, BlobData]]) -> None:
        """Commit an intent for every key, then write the blobs (bytes, or streams copied in chunks).
        No blob (a request whose items carry no mask): nothing is written and nothing committed."""
        if not blobs:
            return
        intents = [(new_id(), key) for key, _ in blobs]
        # Bulk statements: housekeeping rows, not changes the audit trail should list.
        self.session.execute(insert(UploadIntent), [{"id": iid, "customer_id": self.customer_id, "blob_key": key}
                                                    for iid, key in intents])
        unit_of_work.commit_early(self.session)
        self.new.extend(intents)
        for key, data in blobs:
            self.store.put(key, data)

    def settle(self) -> None:
        """Delete the intents in the request's session (they commit with the rows)."""
        if self.new:
            self.session.execute(delete(UploadIntent).where(UploadIntent.id.in_([iid for iid, _ in self.new])))

    def retire(self, key: str | None) -> None:
        """Delete ``key`` once the request has committed (a replaced mask)."""
        if key:
            self.retired.append(key)

    def discard(self) -> None:
        """Delete the blobs written by a request that failed."""
        for intent_id, key in self.new:
            discard(self.session, self.store, intent_id, key)

    def finish(self) -> None:
        """Delete the blobs replaced by a request that committed."""
        for key in self.retired:
            try:
                self.store.delete(key)
            except Exception:  # an unreferenced old mask is harmless; log it
                _LOG.exception("could not delete the replaced mask %s", key)


def with_blobs(session: Session, store: BlobStore, customer_id: str, work: Callable[[PendingBlobs], T]) -> T:
    """Run ``work(pending)`` inside the request's unit of work (``deps.UnitOfWork``): the blobs it
    replaced are deleted once the unit commits, the blobs it wrote if the unit fails."""
    pending = PendingBlobs(store, session, customer_id)
    unit_of_work.after_commit(session, pending.finish)
    unit_of_work.on_abandon(session, pending.discard)
    return work(pending)

"""WADO-RS (PS3.18 10.4): instances, metadata, frames, bulk data and rendered images.

Which stored object answers: every DICOM resource is one instance, under the Study, Series and
SOP Instance UIDs of its file. A series that was assembled into one multi-frame resource at
upload (the SDK's ``assemble_dicoms``) answers as that one multi-frame instance (see
``docs/dicomweb.md``).

Metadata comes from the DICOM index in the database (:mod:`datamint.server.resources.dicom_index`):
a series' metadata is its stored JSON texts joined, never a read of its files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from datamint.imaging.dicom_frames import decoded_frames, read_frames
from datamint.imaging.dicom_header import URI_BASE
from datamint.imaging.dicom_io import read_dicom
from datamint.imaging.errors import ImagingError, UnsupportedFormatError
from datamint.imaging.limits import DecodedSizeError
from datamint.imaging.render import dicom_frame_to_uint8
from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.common.limits import too_large
from datamint.server.db import unit_of_work
from datamint.server.dicomweb import multipart, rendering
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.resources import dicom_index
from datamint.server.resources.frames import local_copy
from datamint.server.storage.base import BlobNotFoundError, BlobStore

NATIVE = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")
MAX_FRAMES_PER_REQUEST = 5000


def find(session: Session, me: Principal, study: str, series: str | None = None, instance: str | None = None,
         *, with_headers: bool = False) -> Sequence[Any]:
    """The live instances of a study, a series or one instance; 404 when there are none."""
    policy.require(me, policy.Action.RESOURCES_READ)
    rows = dicom_index.live_instances(session, me.customer_id, study, series, instance, with_headers=with_headers)
    if not rows:
        what = "Instance" if instance else "Series" if series else "Study"
        raise NotFoundError(what)
    return rows


def instances_body(store: BlobStore, rows: Sequence[Any], boundary: str) -> Iterator[bytes]:
    """The stored files of ``rows`` as a multipart/related body of application/dicom parts."""
    return multipart.write_related((("application/dicom", store.iter_chunks(row.location)) for row in rows),
                                   boundary)


def check_blobs(store: BlobStore, rows: Sequence[Any]) -> None:
    """404 before the answer starts when a stored file is missing (a stream cannot fail cleanly)."""
    for row in rows:
        if not store.exists(row.location):
            raise NotFoundError("Instance file", f"The file of instance {row.instance_uid} is missing from storage")


def metadata(session: Session, store: BlobStore, rows: Sequence[Any], base_url: str) -> str:
    """The DICOM JSON metadata of ``rows`` as one JSON array (text), from the database.

    Headers that were never asked for are converted now and saved after the read
    (``unit_of_work.after_read``, a short transaction of its own; best effort: the answer stands
    if the save fails, and the next request converts them again).
    """

    def load(resource_id: str) -> Any:
        row = next(r for r in rows if r.resource_id == resource_id)
        with local_copy(store, row.location) as path:
            return read_dicom(path, stop_before_pixels=True, check=False)

    texts, made = dicom_index.headers_json(rows, load)
    if made:
        unit_of_work.after_read(session, lambda apart: dicom_index.save_headers_json(apart, made))
    return ("[" + ",".join(texts) + "]").replace(URI_BASE, base_url + "/")


def parse_frame_list(text: str, count: int) -> list[int]:
    """``"1,3,5"`` → ``[0, 2, 4]`` (0-based); 422 for malformed, 404 for numbers out of range."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationFailedError(f"Invalid frame list {text!r}: use 1-based numbers such as 1,2,3")
    if not numbers or len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise ValidationFailedError(f"Ask for 1 to {MAX_FRAMES_PER_REQUEST} frames")
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad:
        raise NotFoundError("Frame", f"Frame {bad[0]} not found: this instance has frames 1..{count}")
    return [n - 1 for n in numbers]


def _accepts_stored(accept: str, syntax: str) -> bool:
    return "transfer-syntax=*" in accept.replace(" ", "") or syntax in accept


def frames(store: BlobStore, row: Any, numbers: list[int], accept: str) -> tuple[str, list[bytes]]:
    """The frames as (part content type, list of part bytes); 413 when together they would pass
    the decoded-size limits (a frame list may repeat a frame: ``1,1,1,...``).

    Native data is sent as stored (``application/octet-stream``, transfer syntax Explicit VR
    Little Endian). Compressed data is sent as stored when the client accepts it (its
    ``Accept`` names the transfer syntax or ``transfer-syntax=*``), else decoded.
    """
    try:
        with local_copy(store, row.location) as path:
            stored = row.transfer_syntax_uid or NATIVE[0]
            if stored in NATIVE or _accepts_stored(accept, stored):
                parts = read_frames(path, numbers)[0]
                syntax = NATIVE[0] if stored in NATIVE else stored
            else:
                parts = decoded_frames(path, numbers)
                syntax = NATIVE[0]
    except BlobNotFoundError:
        raise NotFoundError("Instance file")
    except UnsupportedFormatError:
        with local_copy(store, row.location) as path:
            parts = decoded_frames(path, numbers)
        syntax = NATIVE[0]
    return f"application/octet-stream; transfer-syntax={syntax}", parts


def rendered(store: BlobStore, row: Any, index: int, accept: str, window: str | None, quality: int | None
             ) -> tuple[bytes, str]:
    """One frame rendered as JPEG (default) or PNG, with the object's or the given window."""
    media = rendering.choose_media(accept)
    voi = rendering.parse_window(window)
    try:
        with local_copy(store, row.location) as path:
            image = dicom_frame_to_uint8(path, index, window=voi)  # that frame only
    except BlobNotFoundError:
        raise NotFoundError("Instance file")
    except IndexError as exc:
        raise NotFoundError("Frame", str(exc))
    except DecodedSizeError as exc:
        raise too_large(exc)
    except ImagingError as exc:
        raise ValidationFailedError(f"Cannot render instance {row.instance_uid}: {exc}")
    return rendering.encode(image, media, quality), media


def _bulk_place(text: str) -> list[int]:
    """``"7FE00010"`` or, nested, ``"54000100.0.54001010"`` (tag, item index, tag...) as numbers; 422 otherwise."""
    parts = text.split(".")
    try:
        if len(parts) % 2 == 0 or not all(len(p) == 8 for p in parts[::2]) or not all(p.isdigit() for p in parts[1::2]):
            raise ValueError(text)
        return [int(p, 16) if i % 2 == 0 else int(p) for i, p in enumerate(parts)]
    except ValueError:
        raise ValidationFailedError(f"Invalid bulk data place {text!r}: a tag of 8 hex digits such as 7FE00010, "
                                    "or, inside a sequence, <sequence tag>.<item index>.<tag> as the metadata's "
                                    "BulkDataURI gives it")


def bulk(store: BlobStore, row: Any, tag: str) -> bytes:
    """The value of one binary attribute (Pixel Data included) as stored: at the top level
    (``7FE00010``) or inside a sequence (``54000100.0.54001010``, as the metadata's BulkDataURIs)."""
    place = _bulk_place(tag)
    try:
        with local_copy(store, row.location) as path:
            ds = read_dicom(path, check=False)
    except BlobNotFoundError:
        raise NotFoundError("Instance file")
    missing = NotFoundError("Bulk data", f"Attribute {tag.upper()} not found in instance {row.instance_uid}")
    for step in range(0, len(place) - 1, 2):
        element = ds.get(place[step])
        if element is None or element.VR != "SQ" or not place[step + 1] < len(element.value):
            raise missing
        ds = element.value[place[step + 1]]
    if place[-1] not in ds:
        raise missing
    value = ds[place[-1]].value
    if not isinstance(value, (bytes, bytearray)):
        raise ValidationFailedError(f"Attribute {tag.upper()} is not bulk data")
    return bytes(value)

"""What an inference job reads besides resources: files sent with the request, and where predictions land.

**Files sent with the request** (``POST /datamint/api/v1/model-inference/files``, multipart; our
SDK's ``predict_*(file_path=...)``): each file goes through the checks of an upload (a plain file
name, the content sniffed against the declared type, full validation and the decoded-size limits
of ``imaging.limits``), then is stored in the blob store under ``<customer>/inference-inputs/...``
for the job only. It is not a resource: no row, no listing; an :class:`UploadIntent` covers the
moment between writing it and committing the job (a crash there leaves nothing the upload
janitor does not remove). The job deletes the files once it has completed; its cleanup deletes
them when it fails or is cancelled (also while still queued).

**Geometry of predictions.** Boxes and points come from the model in pixels of its 2-D input; they
are stored like the annotations a user draws on the same resource (``imaging.resource_geometry``,
wire §7.3): patient millimetres (LPS, from the DICOM header's ImagePositionPatient /
ImageOrientationPatient / PixelSpacing, or the NIfTI affine) with ``viewPlaneNormal`` and
``viewUp``, and pixels ``(x, y, frame)`` on images and videos.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from datamint.imaging.dicom_io import read_dicom
from datamint.imaging.resource_geometry import ResourceGeometry
from datamint.server.annotations.validation import ResourceShape
from datamint.server.db.base import new_id
from datamint.server.resources import ingest
from datamint.server.storage.base import BlobStore

DICOM = "application/dicom"
NIFTI = "application/nifti"
MAX_FILES = 20


@dataclass
class UploadedInput:
    """A file sent with an inference request, held for its job (the fields a resource would have)."""

    location: str
    filename: str
    mimetype: str
    size: int
    file_metadata: dict[str, Any] = field(default_factory=dict)
    modality: str | None = None
    id: str | None = None

    def to_param(self) -> dict[str, Any]:
        """The job parameter that names it."""
        return {"key": self.location, "filename": self.filename, "mimetype": self.mimetype, "size": self.size,
                "metadata": self.file_metadata, "modality": self.modality}

    @classmethod
    def from_param(cls, p: dict[str, Any]) -> UploadedInput:
        """Back from :meth:`to_param`."""
        return cls(p["key"], p["filename"], p["mimetype"], int(p.get("size") or 0), p.get("metadata") or {},
                   p.get("modality"))


def check_file(reader: BinaryIO, filename: str | None, declared: str | None, customer_id: str) -> UploadedInput:
    """Check one uploaded file as an upload is checked; the input it becomes (not stored yet).

    Raises:
        ValidationFailedError: Bad file name, empty or damaged file (422).
        UnsupportedMediaError: The content is not of the declared type (415).
        DecodedTooLargeError: It would pass a decoded-size limit (413).
    """
    name = ingest.check_filename(filename)
    reader.seek(0, io.SEEK_END)
    size = reader.tell()
    reader.seek(0)
    mimetype, metadata, _ = ingest.analyse(reader, name, declared if declared not in ("", None) else None)
    reader.seek(0)
    modality = metadata.get("Modality") if isinstance(metadata.get("Modality"), str) else None
    return UploadedInput(f"{customer_id}/inference-inputs/{new_id()}", name, mimetype, size, metadata, modality)


def delete_uploads(store: BlobStore, params: dict[str, Any]) -> int:
    """Delete the files a job's parameters name; how many were there."""
    removed = 0
    for p in params.get("uploads") or []:
        if store.exists(p["key"]):
            store.delete(p["key"])
            removed += 1
    return removed


def geometry_of(store: BlobStore, source: Any) -> ResourceGeometry:
    """How pixel points of ``source`` (a resource or an uploaded input) become stored points."""
    if source.mimetype == DICOM:
        with store.open(source.location) as fh:
            reader = fh if getattr(fh, "seekable", lambda: False)() else io.BytesIO(fh.read())
            header = read_dicom(reader, stop_before_pixels=True, check=False)
        try:
            return ResourceGeometry.from_dataset(header)
        except (AttributeError, KeyError, TypeError, ValueError):
            return ResourceGeometry("pixels")  # no patient geometry in the header: pixels, as the clients do
    if source.mimetype == NIFTI:
        affine = (source.file_metadata or {}).get("affine")  # what the SDK converts a user's points with
        if affine is None:
            affine = ResourceShape.of(source.mimetype, source.file_metadata).affine
        if affine is not None:
            return ResourceGeometry.from_affine(affine)
    return ResourceGeometry("pixels")


def place_points(geometry: ResourceGeometry, points: list[tuple[float, float]], model_input: Any
                 ) -> dict[str, Any]:
    """The stored ``geometry`` of pixel ``points`` of ``model_input``'s 2-D pixels (wire §7.3)."""
    plane = model_input.axis if model_input.kind == "slice" else None
    frame = model_input.frame_index if model_input.kind in ("frame", "slice") else None
    stored = geometry.convert([(float(x), float(y)) for x, y in points], frame, plane)
    payload: dict[str, Any] = {"points": stored}
    vectors = geometry.view_vectors(plane)
    if vectors is not None:
        payload["viewPlaneNormal"], payload["viewUp"] = vectors
    return payload

"""``GET /resources/{id}/frames/{i}``: one frame of a stored file rendered as PNG.

Rendering is :func:`datamint.imaging.render_frame_png`: DICOM frames get their Modality LUT
(rescale slope/intercept) and VOI window (window center/width) applied, NIfTI volumes are sliced
along their third axis, videos are decoded with OpenCV. Remote blobs are copied to a temporary
file first, since the decoders need random access.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

from datamint.imaging.errors import ImagingError, UnsupportedFormatError
from datamint.imaging.limits import DecodedSizeError
from datamint.imaging.render import render_frame_png
from datamint.server.common.limits import too_large
from datamint.server.errors import NotFoundError, UnsupportedMediaError, ValidationFailedError
from datamint.server.resources.models import Resource
from datamint.server.storage.base import BlobNotFoundError, BlobStore


@contextlib.contextmanager
def local_copy(store: BlobStore, key: str) -> Iterator[str]:
    """A local path holding the blob (the store's own file, or a temporary copy of a remote one)."""
    path = store.local_path(key)
    if path is not None:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="datamint-frame-") as tmp, store.open(key) as src:
        shutil.copyfileobj(src, tmp, 1 << 20)
        tmp.flush()
        yield tmp.name


def render_frame(store: BlobStore, resource: Resource, frame_index: int) -> bytes:
    """PNG bytes of frame ``frame_index`` (0-based) of a resource.

    Raises:
        ValidationFailedError: The index is out of range (the message gives the range) (422).
        UnsupportedMediaError: The resource's type has no frames to render (415).
        NotFoundError: The stored file is missing.
    """
    if frame_index < 0:
        raise ValidationFailedError(f"frame_index must be >= 0, got {frame_index}")
    try:
        with local_copy(store, resource.location) as path:
            return render_frame_png(path, resource.mimetype, frame_index)
    except BlobNotFoundError:
        raise NotFoundError("Resource file")
    except IndexError as exc:
        raise ValidationFailedError(str(exc))
    except DecodedSizeError as exc:
        raise too_large(exc)
    except UnsupportedFormatError as exc:
        raise UnsupportedMediaError(f"Resource {resource.id} ({resource.mimetype}) has no frames to render: {exc}")
    except ImagingError as exc:
        raise ValidationFailedError(f"Cannot render frame {frame_index} of resource {resource.id}: {exc}")

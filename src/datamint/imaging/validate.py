"""Full content validation of an upload, for the type it was resolved to.

Checks per type:

* DICOM: parsed with pydicom; no element may be cut short; an image's Pixel Data must be
  present and hold the bytes (native) or frames (compressed) its attributes announce.
* NIfTI: header checked by nibabel; the (decompressed) file must hold all voxel bytes.
* Images: Pillow ``verify()`` and a full decode of the first frame.
* Video: OpenCV must open the file and decode its first frame.
* JSON: must parse.

Other types are accepted as they are.
"""

from __future__ import annotations

import io
import json

from ._sources import Source, as_local_path, read_bytes, read_head, source_name
from .convert import extension_for_mimetype
from .dicom_io import read_dicom
from .errors import CorruptFileError, MimetypeMismatchError, UnsupportedFormatError
from .limits import DecodedSizeError
from .nifti_io import check_nifti_data
from .render import check_video_frame, open_image
from .sniff import DICOM, HEAD_SIZE, JSON, NIFTI, STRICT_TYPES, normalize_mimetype, sniff_mimetype

__all__ = ["validate_content"]

_SAME_CONTAINER = {"video/quicktime": "video/mp4", "video/3gpp": "video/mp4", "video/webm": "video/x-matroska"}
_TRY = "; the file is probably truncated or damaged: re-export or re-copy it"


def validate_content(data_or_path: Source, mimetype: str | None) -> None:
    """Fully parse a file as `mimetype` and raise a clear error if it is unusable.

    Args:
        data_or_path: The file's bytes, a path, or a binary file object.
        mimetype: The mimetype to check against (normally the result of
            :func:`~datamint.imaging.sniff.resolve_mimetype`). ``None`` or a generic type
            means "whatever the content is".

    Raises:
        CorruptFileError: The file is empty, truncated or cannot be parsed.
        MimetypeMismatchError: `mimetype` is a DICOM/NIfTI/image/video type and the content is
            something else.
        UnsupportedFormatError: The content is an image Pillow cannot decode.

    Example:
        >>> validate_content(open("ct.dcm", "rb").read()[:-100], "application/dicom")
        Traceback (most recent call last):
        ...
        datamint.imaging.errors.CorruptFileError: the Pixel Data is 32668 bytes but ...
    """
    name = source_name(data_or_path)
    head = read_head(data_or_path, HEAD_SIZE)
    if not head:
        raise CorruptFileError("the file is empty (0 bytes); upload the complete file", filename=name)
    declared = normalize_mimetype(mimetype)
    sniffed = sniff_mimetype(head)
    kind = declared if declared and declared != "application/octet-stream" else sniffed
    if declared in STRICT_TYPES and _SAME_CONTAINER.get(sniffed or "", sniffed) != _SAME_CONTAINER.get(
        declared, declared
    ):
        found = f"it looks like {sniffed}" if sniffed else f"it starts with {head[:16]!r}"
        raise MimetypeMismatchError(
            f"declared as {declared} but {found}; check the file or declare its real mimetype",
            declared=declared, detected=sniffed, filename=name,
        )  # fmt: skip
    if kind == DICOM:
        read_dicom(data_or_path, check=True)
    elif kind == NIFTI:
        check_nifti_data(data_or_path)
    elif kind and kind.startswith("image/") and sniffed and sniffed.startswith("image/"):
        _validate_image(data_or_path, name)
    elif kind and kind.startswith("video/") and sniffed and sniffed.startswith("video/"):
        _validate_video(data_or_path, sniffed, name)
    elif kind == JSON:
        try:
            json.loads(read_bytes(data_or_path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"invalid JSON ({exc}); fix the document and retry", filename=name) from exc


def _validate_image(src: Source, name: str | None) -> None:
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(src)
    try:
        open_image(data).close()  # the size in the header, checked against the limits before decoding
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except DecodedSizeError as exc:
        raise DecodedSizeError(exc.message, limit=exc.limit, filename=name) from None
    except (UnidentifiedImageError, UnsupportedFormatError) as exc:
        raise UnsupportedFormatError(
            f"Pillow cannot read this image ({exc}); convert it to PNG", filename=name
        ) from exc
    except Image.DecompressionBombError as exc:
        raise UnsupportedFormatError(f"the image is too large to process safely ({exc})", filename=name) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"cannot decode the image ({exc}){_TRY}", filename=name) from exc


def _validate_video(src: Source, sniffed: str, name: str | None) -> None:
    import cv2

    with as_local_path(src, suffix=extension_for_mimetype(sniffed) or ".mp4") as path:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise CorruptFileError(f"OpenCV cannot open this video{_TRY}", filename=name)
            check_video_frame(int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
            ok, _frame = cap.read()
            if not ok:
                raise CorruptFileError(f"the video's first frame cannot be decoded{_TRY}", filename=name)
        finally:
            cap.release()

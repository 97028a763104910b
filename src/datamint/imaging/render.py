"""Rendering one frame of any supported file as an 8-bit array or a PNG (``/frames/{n}``, ``/rendered``).

* **DICOM**: the Modality LUT (RescaleSlope/Intercept of that frame, or a Modality LUT
  Sequence) then the VOI window of that frame (WindowCenter/Width with its VOI LUT Function, or
  a VOI LUT Sequence); without a window, the frame's min/max. MONOCHROME1 is inverted; RGB and
  YBR (converted to RGB) and PALETTE COLOR are rendered in colour. Compressed transfer
  syntaxes are decoded by pydicom's plugins (pylibjpeg, ...).
* **NIfTI**: slice ``k`` of the third axis (volume ``time_index`` of a 4-D image), scaled by
  the min/max of that whole volume and shown in radiological convention: superior (axial:
  anterior) at the top, patient right on the image left (sagittal: anterior on the left).
* **Video**: frame ``k`` decoded by OpenCV.
* **Images**: page ``k`` of a multi-page image (TIFF, GIF, ...); 16-bit/float images are scaled by
  their min/max.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any, Union

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, pixel_array

from ._sources import Source, as_local_path, is_pathlike, read_bytes, read_head
from .convert import extension_for_mimetype
from .dicom_io import check_dicom_size, first_number, frame_value, number_of_frames, read_dicom
from .errors import CorruptFileError, UnsupportedFormatError
from .limits import DecodedSizeError, check_frame_pixels, check_frames, current_limits
from .nifti_io import NiftiVoxels, open_nifti_voxels
from .sniff import DICOM, HEAD_SIZE, NIFTI, detect_dicom, normalize_mimetype, sniff_mimetype

__all__ = ["decode_dicom_frame", "dicom_frame_to_uint8", "iter_frames", "load_frame", "open_image", "png_bytes",
           "render_frame_png"]

#: Elements processed at once when a frame is turned into display values: the float64 temporaries
#: of a frame stay at a few mebibytes whatever its size.
_STRIP = 1 << 20

RenderSource = Union[Source, Dataset]


def _out_of_range(index: int, count: int, what: str) -> IndexError:
    return IndexError(
        f"frame_index {index} is out of range: this {what} has {count} frame(s), valid indexes are 0..{count - 1}"
    )


def _scale(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Linearly map [low, high] (default: min/max, NaN ignored) to 0..255 as uint8."""
    values = values.astype(np.float64, copy=False)
    if low is None or high is None:
        found_low, found_high = _finite_range(values)
        low = found_low if low is None else low
        high = found_high if high is None else high
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def _finite_range(values: np.ndarray, transform: Any = None) -> tuple[float, float]:
    """Min and max of the finite values of ``transform(values)``, computed strip by strip ((0, 0) if none)."""
    return _bounds(values, transform) or (0.0, 0.0)


def _bounds(values: np.ndarray, transform: Any = None, found: tuple[float, float] | None = None
            ) -> tuple[float, float] | None:
    """Min and max of the finite values of ``transform(values)`` and ``found`` (None when there are none)."""
    for block in _strips(values):
        block = np.asarray(transform(block) if transform is not None else block)
        if block.dtype.kind in "iub" and block.size:  # integers: all finite, no float copy needed
            low, high = float(block.min()), float(block.max())
        else:
            block = block.astype(np.float64, copy=False)
            finite = block if np.isfinite(block).all() else block[np.isfinite(block)]
            if not finite.size:
                continue
            low, high = float(finite.min()), float(finite.max())
        found = (low, high) if found is None else (min(found[0], low), max(found[1], high))
    return found


def _strips(values: np.ndarray) -> Iterator[np.ndarray]:
    """Views of ``values`` by blocks of rows (first axis) of about :data:`_STRIP` elements."""
    if values.ndim == 0 or values.size <= _STRIP:
        yield values
        return
    step = max(_STRIP // max(values.size // max(values.shape[0], 1), 1), 1)
    for start in range(0, values.shape[0], step):
        yield values[start:start + step]


def _by_strips(values: np.ndarray, function: Any) -> np.ndarray:
    """``function`` (elementwise, to uint8) applied strip by strip: the same result as on the whole
    array, with temporaries the size of a strip."""
    if values.size <= _STRIP:
        return function(values)
    out = np.empty(values.shape, dtype=np.uint8)
    start = 0
    for block in _strips(values):
        out[start:start + block.shape[0]] = function(block)
        start += block.shape[0]
    return out


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """Apply a DICOM VOI window (PS3.3 C.11.2.1.2) and return uint8 output."""
    if function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif function == "LINEAR_EXACT":
        out = ((values - center) / width + 0.5) * 255.0
    else:
        out = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def decode_dicom_frame(src: RenderSource, frame_index: int = 0) -> tuple[Dataset, np.ndarray]:
    """Decode one frame of a DICOM file without decoding (or, for a file on disk, reading) the others.

    The header is read first and checked against the decoded-size limits; a Part-10 file on disk
    then has only that frame read and decoded (pydicom's frame access). Other sources (bytes,
    deflated or preamble-less files) are read whole, which the same limits bound.

    Args:
        src: A path, the file's bytes, a binary file object, or a Dataset read with its pixels.
        frame_index: 0-based frame index.

    Returns:
        ``(header, frame)``: a data set with every attribute but (for files on disk) the pixel data,
        and the frame's stored values (``(rows, columns)`` or ``(rows, columns, samples)``).

    Raises:
        IndexError: `frame_index` is out of range.
        UnsupportedFormatError: No pixel data, or no decoder for its transfer syntax.
        DecodedSizeError: The header announces more than the limits allow.
    """
    if isinstance(src, Dataset):
        ds = src
        check_dicom_size(ds)
    else:
        ds = read_dicom(src, stop_before_pixels=True, check=False)
        check_dicom_size(ds)
    frames = number_of_frames(ds)
    if not 0 <= frame_index < frames:
        raise _out_of_range(frame_index, frames, "DICOM")
    index = frame_index if frames > 1 else None
    syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "unknown")
    try:
        if isinstance(src, Dataset):
            if "PixelData" not in ds:
                raise UnsupportedFormatError("this DICOM object has no Pixel Data (it is not an image)")
            arr = pixel_array(ds, index=index)
        elif (is_pathlike(src) and detect_dicom(read_head(src, 1024)) == "part10"
              and not getattr(syntax, "is_deflated", False)):
            arr = pixel_array(src, index=index)  # type: ignore[arg-type]
        else:
            full = read_dicom(src, check=False)
            if "PixelData" not in full:
                raise UnsupportedFormatError("this DICOM object has no Pixel Data (it is not an image)")
            arr = pixel_array(full, index=index)
    except DecodedSizeError:
        raise
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, KeyError) as exc:
        if "no 'Pixel Data'" in str(exc):
            raise UnsupportedFormatError("this DICOM object has no Pixel Data (it is not an image)") from exc
        raise UnsupportedFormatError(
            f"cannot decode the pixel data (transfer syntax {syntax}, {getattr(syntax, 'name', '')}): "
            f"{exc}. Install the pylibjpeg plugins or python-gdcm, or convert the file to an "
            "uncompressed transfer syntax"
        ) from exc
    return ds, arr


def dicom_frame_to_uint8(ds: RenderSource, frame_index: int = 0, *,
                         window: tuple[float, float, str] | None = None) -> np.ndarray:
    """Decode one DICOM frame and apply modality LUT, VOI window and photometric handling.

    Args:
        ds: A data set read with its pixel data, or a path to the file (best: only that frame is
            read), or the file's bytes.
        frame_index: 0-based frame index.
        window: ``(center, width, function)`` to use instead of the object's own VOI window
            (function ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``, as in DICOMweb's ``window=``).

    Returns:
        ``uint8`` array, ``(rows, columns)`` for grayscale or ``(rows, columns, 3)`` for colour.

    Raises:
        IndexError: `frame_index` is out of range.
        UnsupportedFormatError: No pixel data, or no decoder for its transfer syntax.
        DecodedSizeError: The header announces more than the limits allow.
    """
    header, arr = decode_dicom_frame(ds, frame_index)
    return _dicom_display(header, arr, frame_index, window)


def _dicom_display(ds: Dataset, arr: np.ndarray, frame_index: int,
                   window: tuple[float, float, str] | None) -> np.ndarray:
    """A decoded frame as display values (strip by strip: float64 temporaries stay small)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3:
        if arr.dtype == np.uint8:
            return arr
        top = float(2 ** int(ds.get("BitsStored") or arr.dtype.itemsize * 8) - 1)
        return _by_strips(arr, lambda block: _scale(block, 0.0, top))
    if ds.get("ModalityLUTSequence"):
        def values(block: np.ndarray) -> np.ndarray:
            return apply_modality_lut(block, ds).astype(np.float64)
    else:
        slope = first_number(frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleSlope", 1))
        intercept = first_number(
            frame_value(ds, frame_index, "PixelValueTransformationSequence", "RescaleIntercept", 0)
        )
        factor, offset = (1.0 if slope is None else slope), (intercept or 0.0)

        def values(block: np.ndarray) -> np.ndarray:
            return block.astype(np.float64) * factor + offset
    center = first_number(frame_value(ds, frame_index, "FrameVOILUTSequence", "WindowCenter"))
    width = first_number(frame_value(ds, frame_index, "FrameVOILUTSequence", "WindowWidth"))
    function = str(frame_value(ds, frame_index, "FrameVOILUTSequence", "VOILUTFunction", "LINEAR")).upper()
    if window is not None:
        center, width, function = float(window[0]), float(window[1]), window[2].upper()
    if center is not None and width is not None and width >= (1.0 if function == "LINEAR" else 1e-9):
        c, w, f = center, width, function
        out = _by_strips(arr, lambda block: _window(values(block), c, w, f))
    elif ds.get("VOILUTSequence"):
        def voi(block: np.ndarray) -> np.ndarray:
            return apply_voi(values(block), ds)
        low, high = _finite_range(arr, voi)
        out = _by_strips(arr, lambda block: _scale(voi(block), low, high))
    else:
        low, high = _finite_range(arr, values)
        out = _by_strips(arr, lambda block: _scale(values(block), low, high))
    return 255 - out if photometric == "MONOCHROME1" else out


class _NiftiPlanes:
    """Display slices of one NIfTI volume, read one at a time; the scale (the volume's min/max) is
    found in one pass over the slices first, so memory stays at a slice."""

    def __init__(self, voxels: NiftiVoxels, time_index: int) -> None:
        from nibabel.orientations import io_orientation

        self.voxels = voxels
        self.count = voxels.shape[2]
        if not 0 <= time_index < voxels.volumes:
            raise IndexError(f"time_index {time_index} is out of range: valid indexes are 0..{voxels.volumes - 1}")
        self.time_index = time_index
        found: tuple[float, float] | None = None
        for k in range(self.count):
            found = _bounds(voxels.axial(k, time_index), found=found)
        self.low, self.high = found or (0.0, 0.0)
        self.ornt = io_orientation(voxels.affine)

    def plane(self, frame_index: int) -> np.ndarray:
        if not 0 <= frame_index < self.count:
            raise _out_of_range(frame_index, self.count, "NIfTI volume")
        plane = _scale(np.asarray(self.voxels.axial(frame_index, self.time_index), dtype=np.float64),
                       self.low, self.high)
        vertical = 0 if self.ornt[0, 0] > self.ornt[1, 0] else 1
        for axis in (0, 1):
            if self.ornt[axis, 1] > 0:  # index grows towards R/A/S: flip so +world is top/left
                plane = np.flip(plane, axis=axis)
        return np.ascontiguousarray(plane if vertical == 0 else plane.T)


def check_video_frame(rows: int, columns: int) -> None:
    """Check a video's frame size (from its container) against ``max_frame_pixels`` before decoding.

    Raises:
        DecodedSizeError: A frame would be larger than the limit.
    """
    check_frames(rows=rows, columns=columns, samples=3, what="the video")


def _video_frames(src: Source, kind: str, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Frames ``start`` (inclusive) to ``stop`` (exclusive; None: to the end) of a video, read in order."""
    import cv2

    with as_local_path(src, suffix=extension_for_mimetype(kind) or ".mp4") as path:
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise CorruptFileError("OpenCV cannot open this video; check that it is complete")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            check_video_frame(int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
            if start < 0 or (count > 0 and start >= count):
                raise _out_of_range(start, count, "video")
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = start
            while stop is None or index < stop:
                ok, frame = cap.read()
                if not ok:
                    if index == start:
                        raise IndexError(f"frame_index {start} cannot be read: the video has {count} frame(s)")
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            cap.release()


def _image_page(img: Any, frame_index: int) -> np.ndarray:
    count = int(getattr(img, "n_frames", 1))
    if not 0 <= frame_index < count:
        raise _out_of_range(frame_index, count, "image")
    try:
        img.seek(frame_index)
        img.load()
    except (OSError, EOFError, SyntaxError) as exc:
        raise CorruptFileError(f"cannot decode the image ({exc}); the file may be truncated") from exc
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        return _scale(np.asarray(img))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGB" if img.mode != "1" else "L")
    return np.asarray(img)


def open_image(src: Source) -> Any:
    """Open an image with Pillow (header only) and check its size against the decoded-size limits.

    Args:
        src: The file's bytes, a path, or a binary file object.

    Returns:
        A lazy ``PIL.Image.Image`` (use it as a context manager).

    Raises:
        UnsupportedFormatError: Pillow cannot read it.
        DecodedSizeError: A page has more pixels, or the image more pages or decoded bytes, than
            the limits allow (nothing has been decoded).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(read_bytes(src)))
    except UnidentifiedImageError as exc:
        raise UnsupportedFormatError(f"Pillow cannot read this image ({exc})") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own guard (Image.MAX_IMAGE_PIXELS) came first
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else current_limits().max_frame_pixels + 1
        check_frame_pixels(pixels)
        raise DecodedSizeError(str(exc), limit="max_frame_pixels") from exc  # only if our limit is above Pillow's
    try:
        columns, rows = img.size
        bands = len(img.getbands())
        bits = 32 if img.mode in ("I", "F") else 16 if img.mode.startswith("I;16") else 8
        check_frames(rows=rows, columns=columns, samples=bands, bits=bits, what="the image")
        check_frames(rows=rows, columns=columns, frames=int(getattr(img, "n_frames", 1)), samples=bands, bits=bits,
                     what="the image")
    except BaseException:
        img.close()
        raise
    return img


_open_image = open_image


def _kind(data_or_path: RenderSource, mimetype: str | None) -> str | None:
    if isinstance(data_or_path, Dataset):
        return DICOM
    kind = normalize_mimetype(mimetype)
    if kind in (None, "application/octet-stream"):
        kind = sniff_mimetype(read_head(data_or_path, HEAD_SIZE))
    return kind


def _unsupported(kind: str | None) -> UnsupportedFormatError:
    return UnsupportedFormatError(f"cannot render files of type {kind or 'unknown'}")


def load_frame(
    data_or_path: RenderSource, mimetype: str | None = None, frame_index: int = 0, *, time_index: int = 0
) -> np.ndarray:
    """Return one frame as a display-ready ``uint8`` array (grayscale, RGB or RGBA).

    Args:
        data_or_path: The file's bytes, a path, a binary file object, or a pydicom Dataset.
        mimetype: The file's mimetype; sniffed from the content when ``None``.
        frame_index: 0-based frame (DICOM frame, NIfTI slice, video frame, image page).
        time_index: Volume of a 4-D NIfTI image.

    Returns:
        ``(rows, columns)``, ``(rows, columns, 3)`` or ``(rows, columns, 4)`` uint8 array.

    Raises:
        IndexError: `frame_index` (or `time_index`) is out of range; the message gives the range.
        UnsupportedFormatError: The type cannot be rendered.
        CorruptFileError: The file cannot be decoded.
    """
    kind = _kind(data_or_path, mimetype)
    if kind == DICOM:
        return dicom_frame_to_uint8(data_or_path, frame_index)
    if kind == NIFTI:
        with open_nifti_voxels(data_or_path) as voxels:  # type: ignore[arg-type]
            return _NiftiPlanes(voxels, time_index).plane(frame_index)
    if kind and kind.startswith("video/"):
        return next(_video_frames(data_or_path, kind, frame_index, frame_index + 1))  # type: ignore[arg-type]
    if kind and kind.startswith("image/"):
        with _open_image(data_or_path) as img:  # type: ignore[arg-type]
            return _image_page(img, frame_index)
    raise _unsupported(kind)


def iter_frames(data_or_path: RenderSource, mimetype: str | None = None, *, time_index: int = 0
                ) -> Iterator[np.ndarray]:
    """Every frame in order, as :func:`load_frame` renders it, decoding the file once.

    Use it instead of calling :func:`load_frame` per frame: a DICOM is parsed once, a NIfTI volume
    loaded and scaled once, a video decoded in one pass.

    Args:
        data_or_path: The file's bytes, a path, a binary file object, or a pydicom Dataset.
        mimetype: The file's mimetype; sniffed from the content when ``None``.
        time_index: Volume of a 4-D NIfTI image.

    Yields:
        ``uint8`` arrays, one per frame.

    Raises:
        UnsupportedFormatError: The type cannot be rendered.
        CorruptFileError: The file cannot be decoded.
    """
    kind = _kind(data_or_path, mimetype)
    if kind == DICOM:
        ds = data_or_path if isinstance(data_or_path, Dataset) else read_dicom(data_or_path, check=False)
        for k in range(number_of_frames(ds)):
            yield dicom_frame_to_uint8(ds, k)
    elif kind == NIFTI:
        with open_nifti_voxels(data_or_path) as voxels:  # type: ignore[arg-type]
            planes = _NiftiPlanes(voxels, time_index)
            for k in range(planes.count):
                yield planes.plane(k)
    elif kind and kind.startswith("video/"):
        yield from _video_frames(data_or_path, kind)  # type: ignore[arg-type]
    elif kind and kind.startswith("image/"):
        with _open_image(data_or_path) as img:  # type: ignore[arg-type]
            for k in range(int(getattr(img, "n_frames", 1))):
                yield _image_page(img, k)
    else:
        raise _unsupported(kind)


#: Image formats :func:`frame_bytes` writes, and the Pillow options of each (JPEG: quality 95, no
#: chroma subsampling; TIFF: lossless Deflate).
FRAME_FORMATS = {"png": {}, "jpeg": {"quality": 95, "subsampling": 0}, "tiff": {"compression": "tiff_adobe_deflate"}}


def frame_bytes(frame: np.ndarray, fmt: str = "png") -> bytes:
    """Encode a rendered frame as PNG, JPEG or TIFF.

    Args:
        frame: A ``uint8`` array from :func:`load_frame` or :func:`iter_frames`.
        fmt: ``"png"``, ``"jpeg"`` (or ``"jpg"``) or ``"tiff"``. JPEG has no alpha channel: an
            RGBA frame loses it.

    Returns:
        The encoded image.

    Raises:
        ValueError: Unknown format.
    """
    from PIL import Image

    name = {"jpg": "jpeg", "tif": "tiff"}.get(fmt.lower(), fmt.lower())
    if name not in FRAME_FORMATS:
        raise ValueError(f"Unknown image format {fmt!r}; use one of {', '.join(FRAME_FORMATS)}")
    image = Image.fromarray(frame)
    if name == "jpeg" and image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format=name.upper(), **FRAME_FORMATS[name])
    return buf.getvalue()


def png_bytes(frame: np.ndarray) -> bytes:
    """PNG encoding of a rendered frame (:func:`frame_bytes` with ``"png"``).

    Args:
        frame: A ``uint8`` array from :func:`load_frame` or :func:`iter_frames`.

    Returns:
        The PNG-encoded image.
    """
    return frame_bytes(frame, "png")


def render_frame_png(
    data_or_path: RenderSource, mimetype: str | None = None, frame_index: int = 0, *, time_index: int = 0
) -> bytes:
    """Render one frame as PNG bytes (see :func:`load_frame` and the module docstring).

    Args:
        data_or_path: The file's bytes, a path, a binary file object, or a pydicom Dataset.
        mimetype: The file's mimetype; sniffed from the content when ``None``.
        frame_index: 0-based frame index.
        time_index: Volume of a 4-D NIfTI image.

    Returns:
        The PNG-encoded image.

    Raises:
        IndexError: `frame_index` is out of range; the message gives the valid range.
        UnsupportedFormatError: The type cannot be rendered.
        CorruptFileError: The file cannot be decoded.

    Example:
        >>> png = render_frame_png("CT_small.dcm", "application/dicom", 0)
    """
    return png_bytes(load_frame(data_or_path, mimetype, frame_index, time_index=time_index))

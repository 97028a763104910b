"""Mimetype detection from file content (magic bytes) and from file names.

The SDK guesses a mimetype from the file name only (wire protocol §6.1 step 5); the server must
not trust that guess. :func:`resolve_mimetype` decides what a file really is:

* **Empty content** → :class:`~datamint.imaging.errors.CorruptFileError` (nothing to store).
* **Content recognised** (DICOM, NIfTI, PNG, JPEG, ...) → the sniffed type wins, even when the
  declared type says otherwise: a PNG uploaded as ``application/octet-stream`` or as
  ``image/jpeg`` is stored as ``image/png``.
* **Content not recognised, but the declared type (or, when none is declared, the extension)
  is one this module can recognise** (DICOM, NIfTI, the common image and video formats) →
  :class:`~datamint.imaging.errors.MimetypeMismatchError`: the content clearly contradicts it
  (e.g. a text file named ``scan.dcm``). The same holds for gzip content that does not hold a
  NIfTI image when NIfTI was declared.
* **Otherwise** the declared type, else the extension's type, else
  ``application/octet-stream``.

JSON detection is weak (a leading ``{`` or ``[``): it only fills in a missing or generic type.

Example:
    >>> resolve_mimetype(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8), "scan.bin", None)
    'image/png'
"""

from __future__ import annotations

import mimetypes
import struct
import zlib

from pydicom.datadict import dictionary_has_tag

from ._sources import HEAD_SIZE
from .errors import CorruptFileError, MimetypeMismatchError

__all__ = [
    "HEAD_SIZE",
    "guess_mimetype",
    "normalize_mimetype",
    "resolve_mimetype",
    "sniff_mimetype",
]

DICOM = "application/dicom"
NIFTI = "application/nifti"
GZIP = "application/gzip"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"

_ALIASES = {
    "image/dicom": DICOM,
    "application/x-dicom": DICOM,
    "application/dicom+binary": DICOM,
    "application/x-nifti": NIFTI,
    "image/x.nifti": NIFTI,
    "image/nifti": NIFTI,
    "application/x-nifti-gz": NIFTI,
    "application/x-gzip": GZIP,
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
    "text/json": JSON,
}
_GENERIC = {"", OCTET_STREAM, "binary/octet-stream", "application/unknown", "application/binary"}
_BY_SUFFIX = {
    ".dcm": DICOM, ".dicom": DICOM, ".nii": NIFTI, ".nii.gz": NIFTI,
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".bmp": "image/bmp", ".gif": "image/gif", ".webp": "image/webp",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".json": JSON, ".gz": GZIP,
}  # fmt: skip
# Types whose content sniff_mimetype always recognises: unrecognised content contradicts them.
STRICT_TYPES = frozenset({
    DICOM, NIFTI, "image/png", "image/jpeg", "image/tiff", "image/bmp", "image/gif", "image/webp",
    "video/mp4", "video/quicktime", "video/x-msvideo", "video/webm", "video/x-matroska",
})  # fmt: skip
_WHAT = {
    DICOM: "a DICOM file (no 'DICM' marker at byte 128 and no DICOM data element at the start)",
    NIFTI: "a NIfTI image (no NIfTI-1/NIfTI-2 header: sizeof_hdr 348/540 with magic 'n+1'/'n+2')",
}
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())


def normalize_mimetype(mimetype: str | None) -> str | None:
    """Return the canonical spelling of `mimetype` (lower case, no parameters, aliases resolved).

    Args:
        mimetype: A mimetype such as ``"image/dicom"`` or ``"Application/X-NIfTI; q=1"``.

    Returns:
        The canonical mimetype (``application/dicom``, ``application/nifti``, ...), or ``None``
        for ``None`` or an empty string.
    """
    if not mimetype:
        return None
    base = mimetype.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base) or None


def guess_mimetype(filename: str | None) -> str | None:
    """Guess a mimetype from a file name only, as the official client does.

    Args:
        filename: A file name or path, e.g. ``"brain.nii.gz"``.

    Returns:
        ``application/dicom`` for ``.dcm``/``.dicom``, ``application/nifti`` for
        ``.nii``/``.nii.gz``, else the standard-library guess (aliases standardised), or ``None``.
    """
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in (".nii.gz",):
        if name.endswith(suffix):
            return _BY_SUFFIX[suffix]
    dot = name.rfind(".")
    if dot > 0 and name[dot:] in _BY_SUFFIX:
        return _BY_SUFFIX[name[dot:]]
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None and encoding == "gzip":
        return GZIP
    return normalize_mimetype(guessed)


def detect_dicom(head: bytes) -> str | None:
    """Tell whether leading bytes are a DICOM file, and which kind.

    Args:
        head: The first bytes of the file.

    Returns:
        ``"part10"`` (``DICM`` at byte 128), ``"raw"`` (a data set without preamble and meta
        header, starting with well-formed group 0002/0008 elements) or ``None``.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    for endian in ("<", ">"):
        if _raw_dicom_elements(head, endian):
            return "raw"
    return None


def _raw_dicom_elements(head: bytes, endian: str) -> bool:
    """Check that `head` starts with consecutive, well-formed group 0002/0008 data elements.

    The first element must be a known tag of group 0x0002 or 0x0008 (or a group length) with an
    even (or undefined) length; each following element that fits in `head` must have a larger
    tag and be well formed too. This rejects text and random binaries that merely start with
    ``08 00``.
    """
    pos, previous, checked = 0, -1, 0
    explicit: bool | None = None
    while pos + 8 <= len(head) and checked < 4:
        group, elem = struct.unpack_from(endian + "HH", head, pos)
        tag = (group << 16) | elem
        if checked == 0 and group not in (0x0002, 0x0008):
            return False
        if tag <= previous or (elem != 0 and not dictionary_has_tag(tag)) or group & 1:
            return False
        vr = head[pos + 4 : pos + 6]
        is_explicit = vr in _EXPLICIT_VRS and vr.isupper()
        if explicit is None:
            explicit = is_explicit
        elif explicit != is_explicit:
            return False
        if explicit and vr in _LONG_VRS:
            if pos + 12 > len(head) or head[pos + 6 : pos + 8] != b"\0\0":
                return checked > 0
            (length,) = struct.unpack_from(endian + "I", head, pos + 8)
            pos += 12
        elif explicit:
            (length,) = struct.unpack_from(endian + "H", head, pos + 6)
            pos += 8
        else:
            if endian == ">" or group == 0x0002:  # implicit VR is little endian only
                return False
            (length,) = struct.unpack_from("<I", head, pos + 4)
            pos += 8
        if length == 0xFFFFFFFF:
            return True  # an undefined-length sequence: stop checking here
        if length & 1 or length > 0x100000:
            return False
        pos += length
        previous = tag
        checked += 1
    return checked > 0


def _nifti_header(head: bytes) -> bool:
    """Return True when `head` starts with a NIfTI-1 or NIfTI-2 header."""
    if len(head) >= 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
        return struct.unpack_from("<i", head)[0] == 348 or struct.unpack_from(">i", head)[0] == 348
    if len(head) >= 12 and head[4:8] in (b"n+2\0", b"ni2\0") and head[8:12] == b"\r\n\x1a\n":
        return struct.unpack_from("<i", head)[0] == 540 or struct.unpack_from(">i", head)[0] == 540
    return False


def _gunzip_head(head: bytes, size: int = 600) -> bytes:
    """Decompress as much of the first `size` bytes of a gzip stream as `head` allows."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, size)
    except zlib.error:
        return b""


def _looks_like_json(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text[:1] == b"{":
        return text[1:].lstrip(b" \t\r\n")[:1] in (b'"', b"}", b"")
    if text[:1] == b"[":
        nxt = text[1:].lstrip(b" \t\r\n")[:1]
        return nxt == b"" or nxt in b'{["]-0123456789tfn'
    return False


def sniff_mimetype(head: bytes) -> str | None:
    """Detect a file's type from its leading bytes (the content only; see :func:`guess_mimetype` for names).

    Args:
        head: The first bytes of the file; pass at least :data:`HEAD_SIZE` bytes (or the whole
            file if smaller) so that DICOM preambles and gzip-compressed NIfTI headers are seen.

    Returns:
        The detected mimetype, or ``None`` when the content matches no known signature.
        Gzip content is ``application/nifti`` when it decompresses to a NIfTI header, else
        ``application/gzip``.
    """
    if not head:
        return None
    if detect_dicom(head):
        return DICOM
    if _nifti_header(head):
        return NIFTI
    if head.startswith(b"\x1f\x8b\x08"):
        return NIFTI if _nifti_header(_gunzip_head(head)) else GZIP
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in (
        12, 40, 52, 56, 64, 108, 124,
    ):  # fmt: skip
        return "image/bmp"
    if head.startswith(b"\0\0\0\x0cjP  \r\n\x87\n"):
        return "image/jp2"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"AVI ": "video/x-msvideo", b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"avif":
            return "image/avif"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/3gpp" if brand.startswith(b"3g") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if _looks_like_json(head):
        return JSON
    return None


def resolve_mimetype(head: bytes, filename: str | None = None, declared: str | None = None) -> str:
    """Decide a file's mimetype from its content, its declared type and its name.

    See the module docstring for the rules.

    Args:
        head: The first bytes of the file (at least :data:`HEAD_SIZE`, or the whole file).
        filename: The uploaded file name, used for the extension guess and in messages.
        declared: The mimetype the client declared, if any (aliases are accepted).

    Returns:
        The canonical mimetype to store.

    Raises:
        CorruptFileError: The file is empty.
        MimetypeMismatchError: The declared (or extension-derived) type is DICOM, NIfTI or a
            common image/video type, and the content is not that type.

    Example:
        >>> resolve_mimetype(b"hello", "scan.dcm", "application/dicom")
        Traceback (most recent call last):
        ...
        datamint.imaging.errors.MimetypeMismatchError: scan.dcm: declared as application/dicom ...
    """
    if not head:
        raise CorruptFileError("the file is empty (0 bytes); upload the complete file", filename=filename)
    declared_n = normalize_mimetype(declared)
    if declared_n in _GENERIC:
        declared_n = None
    expected = declared_n or guess_mimetype(filename)
    sniffed = sniff_mimetype(head)
    if sniffed == GZIP and expected == NIFTI:
        raise MimetypeMismatchError(
            f"declared as {expected} but the gzip content does not start with a NIfTI-1/NIfTI-2 "
            "header; check that the file is a .nii.gz image and not another compressed file",
            declared=expected, detected=sniffed, filename=filename,
        )  # fmt: skip
    if sniffed is not None and sniffed != JSON:
        return sniffed
    if expected in STRICT_TYPES:
        what = _WHAT.get(expected, f"a {expected} file (its signature bytes are missing)")
        found = "JSON text" if sniffed == JSON else f"content starting with {head[:16]!r}"
        raise MimetypeMismatchError(
            f"declared as {expected} but the content is not {what}; found {found}. Check that "
            "the file is complete and correctly named, or declare its real mimetype",
            declared=expected, detected=sniffed, filename=filename,
        )  # fmt: skip
    return expected or sniffed or OCTET_STREAM

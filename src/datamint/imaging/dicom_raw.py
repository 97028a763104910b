"""Values of DICOM elements read straight from their raw bytes, without pydicom's conversion.

A data set just parsed by pydicom holds its elements raw (the bytes of each value). Reading one
with ``ds.get(keyword)`` converts it to a ``DataElement``: decoding, value validation, value
classes (``DSfloat``, ``IS``, ``PersonName``, ``UID``, ``MultiValue``); some 30 µs per element,
most of the CPU an upload spends on a DICOM header after its parse. The common elements (text,
numbers) of a little-endian data set in a single-byte or UTF-8 character set are read here from
their bytes instead:

* :func:`raw_json`: an element in the DICOM JSON model (PS3.18 F.2), for the DICOMweb metadata;
* :func:`plain_value`: an element's value as plain Python (``str``, ``int``, ``float`` or a list
  of them), for the metadata, the DICOM index and the header checks of an upload.

Anything else (sequences, AT, UN, binary values, other character sets, big endian, implicit VR
elements whose dictionary VR is ambiguous, values that are not clean numbers or that have padding
pydicom would keep) is left to pydicom, so the result is always what pydicom reads.
tests/imaging/test_dicom_json.py and tests/imaging/test_dicom_raw.py compare both on pydicom's
test files and ours.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Mapping
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset

__all__ = ["BULK_THRESHOLD", "NotPlainError", "PlainValues", "plain_value", "raw_json", "text_encoding"]

#: Binary values above this size are bulk data in DICOM JSON (a ``BulkDataURI``).
BULK_THRESHOLD = 64 << 10
_TEXT_MULTI = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UI", "UC"})
_TEXT_SINGLE = frozenset({"LT", "ST", "UT", "UR"})
_CHARSET_TEXT = frozenset({"LO", "SH", "UC", "LT", "ST", "UT", "PN"})  # decoded with the character set
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_BINARY = frozenset({"OB", "OW", "OF", "OD", "OL", "OV"})
_ENCODINGS = {b"": "latin_1", b"ISO_IR 6": "latin_1", b"ISO_IR 100": "latin_1", b"ISO_IR 192": "utf_8"}
#: VRs :func:`plain_value` reads itself: text that pydicom reads the same way once the value has
#: no padding inside (not AE: pydicom strips all white space; not UR: its own rules), and numbers
#: (not SS: pydicom shifts a negative first value of LUT descriptors).
_PLAIN = (_TEXT_MULTI - {"AE"}) | {"LT", "ST", "UT", "PN", "IS", "DS"} | (set(_NUMBERS) - {"SS"})
#: The bytes that pad a value (white space and NUL), each as a one-byte ``bytes``.
_PADDING = frozenset(bytes([c]) for c in b" \t\n\r\x0b\x0c\0")


class NotPlainError(Exception):
    """The element is left to pydicom."""


def text_encoding(ds: Dataset) -> str | None:
    """The text encoding of the data set when it is one pydicom decodes the same way, else ``None``."""
    return _encoding_of(ds.items().mapping)


def _encoding_of(elements: Mapping[int, Any]) -> str | None:
    """:func:`text_encoding` of a data set's elements by tag (its ``items().mapping``)."""
    raw = elements.get(0x00080005)
    if raw is None:
        return "latin_1"
    if not isinstance(raw, RawDataElement) or raw.value is None:
        return None
    return _ENCODINGS.get(bytes(raw.value).strip(b" \0"))


def raw_json(raw: RawDataElement, encoding: str, bulk: Callable[[int], str]) -> dict[str, Any]:
    """One raw element in the DICOM JSON model (``{"vr", "Value"}``, ``InlineBinary`` or ``BulkDataURI``).

    Args:
        raw: The element (its VR known: explicit VR).
        encoding: The data set's :func:`text_encoding`.
        bulk: The ``BulkDataURI`` of a binary value above :data:`BULK_THRESHOLD`, from its tag.

    Raises:
        NotPlainError: pydicom must write this element.
    """
    vr, value = raw.VR, raw.value
    if vr is None or not raw.is_little_endian or vr == "SQ":
        raise NotPlainError
    if not value:
        return {"vr": vr}
    if vr in _BINARY:
        if len(value) > (BULK_THRESHOLD // 4) * 3:
            return {"vr": vr, "BulkDataURI": bulk(raw.tag)}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    values = _values(vr, value, encoding)
    if not values:
        return {"vr": vr}
    return {"vr": vr, "Value": [{"Alphabetic": v} for v in values] if vr == "PN" else values}


def _values(vr: str, value: bytes, encoding: str) -> list[Any]:
    """The values of a text or number element's (non-empty, little-endian) bytes, as the DICOM
    JSON model has them (person names: their one alphabetic group); empty for padding only.

    Raises:
        NotPlainError: pydicom must read them (not a text or number VR, a length that is not a
            multiple of the number size, bytes the encoding cannot decode, empty values among
            several, person names with ideographic or phonetic groups, numbers that are not clean).
    """
    if vr in _NUMBERS:
        code = _NUMBERS[vr]
        size = struct.calcsize("<" + code)
        if len(value) % size:
            raise NotPlainError
        return list(struct.unpack(f"<{len(value) // size}{code}", value))
    try:
        text = value.decode(encoding if vr in _CHARSET_TEXT else "ascii")
    except UnicodeDecodeError:
        raise NotPlainError from None
    text = text.rstrip("\0 ")
    if vr in _TEXT_SINGLE:
        return [text] if text else []
    if not text:
        return []
    items = [v.strip("\0 ") for v in text.split("\\")]
    if vr == "PN":
        if any("=" in v for v in items) or "" in items:
            raise NotPlainError
        return items
    if vr in ("IS", "DS"):
        try:
            numbers = [int(v) if vr == "IS" else float(v) for v in items]
        except ValueError:
            raise NotPlainError from None
        if vr == "DS" and any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            raise NotPlainError
        return numbers
    if vr not in _TEXT_MULTI or "" in items:
        raise NotPlainError
    return items


def _padded(value: bytes) -> bool:
    """Whether white space or NUL pads either end of the value (of a multi-valued text: of any of
    its values). A regular expression did this in 2 µs per value, most of an element's read."""
    if b"\\" not in value:
        return value[:1] in _PADDING or value[-1:] in _PADDING
    return any(part[:1] in _PADDING or part[-1:] in _PADDING for part in value.split(b"\\"))


def _plain(raw: RawDataElement, encoding_of: Callable[[], str | None]) -> Any:
    """The value of a raw element as plain Python; :class:`NotPlainError` when pydicom must read it.
    ``encoding_of()`` gives the data set's :func:`text_encoding` (asked only for character-set text)."""
    vr = raw.VR
    if vr is None:  # implicit VR: the dictionary's, when it has exactly one for a public tag
        if raw.tag & 0x10000 or not raw.tag & 0xFFFF:  # private, or a group length
            raise NotPlainError
        try:
            vr = dictionary_VR(raw.tag)
        except KeyError:
            raise NotPlainError from None
    if vr not in _PLAIN or raw.value is None:
        raise NotPlainError
    if raw.length == 0:  # what pydicom gives an empty element
        empty = empty_value_for_VR(vr)
        return str(empty) if vr == "PN" else empty
    if vr not in _TEXT_SINGLE and vr not in _NUMBERS and _padded(raw.value.rstrip(b"\0 ")):
        raise NotPlainError  # padding around one of several values: pydicom keeps or strips it by VR
    encoding = encoding_of() if vr in _CHARSET_TEXT else "ascii"
    if encoding is None:  # a character set pydicom decodes its own way
        raise NotPlainError
    values = _values(vr, raw.value, encoding)
    if not values:  # padding only
        raise NotPlainError
    if vr in ("FL", "FD") and any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise NotPlainError
    return values[0] if len(values) == 1 else values


class PlainValues:
    """:func:`plain_value` of one data set, each element read at most once.

    The upload reads the same elements of a header it just parsed in its checks, its metadata and
    its DICOM index entry (``Rows`` five times); this reads each once, finds the elements in the
    data set's own mapping (no tag conversion per look-up) and the character set once. For a data
    set that does not change while it is used; the values are :func:`plain_value`'s.

    Example:
        >>> values = PlainValues(pydicom.dcmread("CT_small.dcm", stop_before_pixels=True))
        >>> values("Rows")
        128
    """

    __slots__ = ("dataset", "_elements", "_encoding", "_known")

    def __init__(self, ds: Dataset) -> None:
        self.dataset = ds
        self._elements: Mapping[int, Any] = ds.items().mapping  # the elements as stored, raw until converted
        self._encoding: str | None | bool = False  # False: not looked up yet
        self._known: dict[str, Any] = {}

    def __call__(self, keyword: str) -> Any:
        """The value of ``keyword`` (:func:`plain_value`); ``None`` when the element is absent."""
        try:
            return self._known[keyword]
        except KeyError:
            value = self._known[keyword] = self._read(keyword)
            return value

    def text_encoding(self) -> str | None:
        """The data set's :func:`text_encoding`, looked up once."""
        if self._encoding is False:
            self._encoding = _encoding_of(self._elements)
        return self._encoding  # type: ignore[return-value]

    def _read(self, keyword: str) -> Any:
        tag = tag_for_keyword(keyword)
        raw = self._elements.get(tag) if tag is not None else None
        if raw is None:
            return None
        if isinstance(raw, RawDataElement) and raw.is_little_endian:
            try:
                return _plain(raw, self.text_encoding)
            except NotPlainError:
                pass
        return self.dataset.get(keyword)


def plain_value(ds: Dataset, keyword: str) -> Any:
    """``ds.get(keyword)``, read from the element's raw bytes when pydicom would read them plainly.

    Such a value is plain Python instead of pydicom's value classes: ``str`` for text (also
    person names and UIDs), ``int`` for IS and the integer VRs, ``float`` for DS, FL and FD, a
    ``list`` of them when the element has several values, and what pydicom gives an empty
    element. It equals pydicom's value under ``metadata.jsonable``, ``int()`` and ``==``, and
    under ``str()`` for single text values. Any other element is read by pydicom (``ds.get``).
    To read many elements of one data set, :class:`PlainValues` reads each once.

    Args:
        ds: A data set.
        keyword: An element keyword of the DICOM dictionary (``"Rows"``, ``"PatientName"``).

    Returns:
        The value; ``None`` when the element is absent.
    """
    return PlainValues(ds)._read(keyword)

"""The DICOM header of an instance, kept apart from its pixels: what a DICOM archive indexes.

:func:`index_entry` takes a data set that was just parsed (at upload, the parse that checks the
file) and returns what an archive stores about it without re-reading the file later:

* the study, series and instance attributes that queries match on (QIDO-RS, C-FIND), as plain
  strings and numbers;
* the raw bytes of the file up to the Pixel Data element (:attr:`DicomIndexEntry.header`): a
  copy of bytes that were already read, so the upload pays almost nothing for it.

:func:`header_to_json` turns those header bytes into the DICOM JSON model (PS3.18 F.2) once,
when a client first asks for the metadata; bulk data (Pixel Data) becomes a ``BulkDataURI``
whose base is left as the :data:`URI_BASE` marker, so the text can be stored and the marker
swapped for the request's own URL later with one ``str.replace``.
"""

from __future__ import annotations

import io
import json
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID

from ._sources import Source, read_head
from .dicom_io import number_of_frames
from .dicom_raw import BULK_THRESHOLD, NotPlainError, PlainValues, raw_json, text_encoding

__all__ = ["URI_BASE", "DicomIndexEntry", "fuzzy_key", "header_to_json", "index_entry"]

#: Stands for the instance's absolute URL inside stored JSON; a raw control character never
#: occurs in JSON text produced by :mod:`json`, so replacing it cannot touch a value.
URI_BASE = "\x01"
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_MAX_HEADER = 16 << 20


@dataclass
class DicomIndexEntry:
    """What an archive keeps about one DICOM instance (see the module docstring)."""

    study: dict[str, Any]
    series: dict[str, Any]
    instance: dict[str, Any]
    header: bytes | None


def _text(read: PlainValues, keyword: str, limit: int = 64) -> str | None:
    value = read(keyword)
    if value is None:
        return None
    if not isinstance(value, str):  # several values: written as pydicom's MultiValue writes them
        value = read.dataset.get(keyword)
    text = str(value).strip().rstrip("\0")
    return text[:limit] or None


def _int(read: PlainValues, keyword: str) -> int | None:
    value = read(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def fuzzy_key(name: str | None) -> str | None:
    """A person name folded for fuzzy matching: accents removed, upper case, ``^`` and ``=`` as spaces.

    Args:
        name: A DICOM person name such as ``"Doe^Jane"``.

    Returns:
        ``" DOE JANE"`` (a leading space, so ``" WORD"`` finds the start of any name part), or
        ``None`` for an empty name.
    """
    if not name:
        return None
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = plain.upper().replace("^", " ").replace("=", " ").split()
    return (" " + " ".join(words))[:400] if words else None


def _header_bytes(ds: Dataset, src: Source, pixel_offset: int | None = None) -> bytes | None:
    """The file's bytes before its Pixel Data element; ``None`` when they cannot be cut safely."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or syntax.is_deflated or not syntax.is_little_endian:
        return None
    if pixel_offset is not None:  # the element is not in the data set: the caller read where it starts
        start, tags = pixel_offset, _PIXEL_TAGS
    else:
        element = next((ds.get_item(tag) for tag in _PIXEL_TAGS if tag in ds), None)
        if element is None:
            return None
        tell = getattr(element, "file_tell", None) or getattr(element, "value_tell", None)
        if tell is None:
            return None
        start, tags = tell - (12 if not syntax.is_implicit_VR else 8), (int(element.tag),)
    if not 0 < start <= _MAX_HEADER:
        return None
    data = read_head(src, start + 4)
    markers = {(tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little") for tag in tags}
    return data[:start] if data[start:start + 4] in markers else None


def index_entry(ds: Dataset, src: Source, pixel_offset: int | None = None, *,
                values: PlainValues | None = None) -> DicomIndexEntry | None:
    """The index entry of an instance, or ``None`` when it lacks Study/Series/SOP Instance UIDs.

    Args:
        ds: The data set, parsed from `src` (its pixel data may or may not be loaded).
        src: The file it was read from (bytes, a path or a seekable binary reader).
        pixel_offset: Where the Pixel Data element starts in `src`, for a data set read without
            it (:func:`~datamint.imaging.dicom_io.read_checked_header`).
        values: The data set's :class:`~datamint.imaging.dicom_raw.PlainValues`, when the caller
            reads elements of it elsewhere too (each is then read once).

    Returns:
        A :class:`DicomIndexEntry`; its ``header`` is ``None`` when the bytes before the pixel
        data cannot be cut out (deflated or big-endian files, objects without pixel data), and
        :func:`header_to_json` then needs the whole data set instead.
    """
    read = values or PlainValues(ds)
    study, series, instance = (_text(read, k, 128) for k in ("StudyInstanceUID", "SeriesInstanceUID",
                                                            "SOPInstanceUID"))
    if not (study and series and instance):
        return None
    patient_name = _text(read, "PatientName", 324)
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return DicomIndexEntry(
        study={"study_uid": study, "patient_name": patient_name, "patient_name_key": fuzzy_key(patient_name),
               "patient_id": _text(read, "PatientID"), "patient_birth_date": _text(read, "PatientBirthDate", 8),
               "patient_sex": _text(read, "PatientSex", 16), "study_date": _text(read, "StudyDate", 8),
               "study_time": _text(read, "StudyTime", 16), "accession_number": _text(read, "AccessionNumber", 16),
               "study_id": _text(read, "StudyID", 16), "study_description": _text(read, "StudyDescription"),
               "referring_physician_name": _text(read, "ReferringPhysicianName", 324)},
        series={"series_uid": series, "study_uid": study, "modality": _text(read, "Modality", 16),
                "series_number": _int(read, "SeriesNumber"), "series_description": _text(read, "SeriesDescription"),
                "body_part_examined": _text(read, "BodyPartExamined", 16),
                "series_date": _text(read, "SeriesDate", 8)},
        instance={"study_uid": study, "series_uid": series, "instance_uid": instance,
                  "sop_class_uid": _text(read, "SOPClassUID", 128), "instance_number": _int(read, "InstanceNumber"),
                  "number_of_frames": number_of_frames(ds, values=read), "rows": _int(read, "Rows"),
                  "columns": _int(read, "Columns"), "transfer_syntax_uid": str(syntax) if syntax else None},
        header=_header_bytes(ds, src, pixel_offset),
    )


def header_to_json(source: bytes | Dataset, instance_path: str, *, transfer_syntax: str | None = None) -> str:
    """The DICOM JSON model of an instance's header, as JSON text, with the :data:`URI_BASE` marker.

    Args:
        source: The header bytes of :func:`index_entry`, or a whole data set.
        instance_path: ``studies/<uid>/series/<uid>/instances/<uid>``, appended to the marker in
            bulk data URIs (``<marker><instance_path>/bulk/7FE00010``).
        transfer_syntax: The stored transfer syntax, reported as AvailableTransferSyntaxUID.

    Returns:
        One JSON object (text). Binary values up to 64 KiB are inline (``InlineBinary``); Pixel
        Data and larger top-level binary values are ``BulkDataURI``s.
    """
    ds = source if isinstance(source, Dataset) else _parse_header(source, transfer_syntax)
    token = secrets.token_hex(16)
    compressed = bool(transfer_syntax) and UID(transfer_syntax).is_compressed
    pixel = None
    for tag in _PIXEL_TAGS:
        if tag in ds:
            pixel = (tag, "OB" if compressed else str(ds.get_item(tag).VR or "OW"))
            del ds[tag]
    if pixel is None and _value(ds, 0x00280010) is not None:  # header bytes end where the pixels began
        pixel = (0x7FE00010, "OB" if compressed or int(_value(ds, 0x00280100) or 16) <= 8 else "OW")

    def bulk(element: Any) -> str:
        return f"{token}{element.tag:08X}"

    body = _json_dict(ds, bulk, lambda where: f"{token}{where}")
    if transfer_syntax:
        body["00083002"] = {"vr": "UI", "Value": [transfer_syntax]}
    if pixel is not None:
        body[f"{pixel[0]:08X}"] = {"vr": str(pixel[1]), "BulkDataURI": f"{token}{pixel[0]:08X}"}
    text = json.dumps(dict(sorted(body.items())), separators=(",", ":"))
    return text.replace(f'"{token}', f'"{URI_BASE}{instance_path}/bulk/')


# -- DICOM JSON of the raw elements, without pydicom's per-element conversion ------------------
# pydicom's Dataset.to_json_dict converts every raw element to a DataElement (decoding, value
# validation, MultiValue) before writing it: about 4 ms for a 40-element CT header, 8 s for the
# first metadata request of a 2,000-instance series. The common elements are written straight
# from their bytes (:func:`~datamint.imaging.dicom_raw.raw_json`); the others go through pydicom.
# tests/imaging/test_dicom_json.py checks the two give the same JSON on pydicom's test files and ours.


def _value(ds: Dataset, tag: int) -> Any:
    """``ds.get(tag).value`` for a US element, read from its raw bytes (converting the element
    would send it through pydicom's JSON writer)."""
    if tag not in ds:
        return None
    raw = ds.get_item(tag)
    if isinstance(raw, RawDataElement) and raw.VR == "US" and raw.is_little_endian and raw.value is not None:
        return int.from_bytes(raw.value[:2], "little") if len(raw.value) >= 2 else None
    return ds[tag].value


def _parse_header(source: bytes, transfer_syntax: str | None) -> Dataset:
    """The data set of header bytes (``dcmread``'s, without parsing the file meta group again:
    it is skipped by its length when the stored transfer syntax says how to read what follows)."""
    if transfer_syntax and source[128:138] == b"DICM\x02\x00\x00\x00UL":
        syntax = UID(transfer_syntax)
        if syntax.is_transfer_syntax and syntax.is_little_endian and not syntax.is_deflated:
            fp = io.BytesIO(source)
            fp.seek(144 + int.from_bytes(source[140:144], "little"))
            return read_dataset(fp, syntax.is_implicit_VR, True)
    return pydicom.dcmread(io.BytesIO(source), force=True)


def _json_dict(ds: Dataset, bulk: Callable[[Any], str],
               bulk_at: Callable[[str], str] | None = None) -> dict[str, Any]:
    """``ds.to_json_dict(64 KiB, bulk)``, with the common raw elements written straight from their bytes.

    With ``bulk_at``, a bulk value inside a sequence gets ``bulk_at(<place>)`` as its URI, its
    place written ``<sequence tag>.<item index>.<tag>`` (``54000100.0.54001010``, as deep as it
    is nested); pydicom's handler only sees the element, and would name a nested Waveform Data
    and the top level's the same.
    """
    encoding = text_encoding(ds)
    body: dict[str, Any] = {}
    for tag in ds.keys():
        raw = ds.get_item(tag)
        if encoding is not None and isinstance(raw, RawDataElement):
            try:
                body[f"{tag:08X}"] = raw_json(raw, encoding, lambda t: bulk(pydicom.DataElement(t, "OB", b"")))
                continue
            except NotPlainError:
                pass
        element = ds[tag]
        if bulk_at is not None and element.VR == "SQ":
            body[f"{tag:08X}"] = _sequence_json(element, bulk_at, f"{tag:08X}")
            continue
        body[f"{tag:08X}"] = element.to_json_dict(bulk_data_element_handler=bulk, bulk_data_threshold=BULK_THRESHOLD)
    return body


def _sequence_json(element: Any, bulk_at: Callable[[str], str], place: str) -> dict[str, Any]:
    """pydicom's JSON of a sequence (``DataElement.to_json_dict``), its bulk values named by place."""
    items = []
    for index, item in enumerate(element.value):
        body: dict[str, Any] = {}
        for tag in item.keys():
            child, where = item[tag], f"{place}.{index}.{tag:08X}"
            if child.VR == "SQ":
                body[f"{tag:08X}"] = _sequence_json(child, bulk_at, where)
            else:
                body[f"{tag:08X}"] = child.to_json_dict(bulk_data_element_handler=lambda _e, w=where: bulk_at(w),
                                                        bulk_data_threshold=BULK_THRESHOLD)
        items.append(body)
    return {"vr": "SQ", "Value": items}

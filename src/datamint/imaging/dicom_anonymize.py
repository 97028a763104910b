"""DICOM de-identification: the PS3.15 Annex E Basic Application Level Confidentiality Profile.

:func:`anonymize_dataset` applies the profile to a data set, walking every sequence item at
every depth. The complete attribute table is :data:`BASIC_PROFILE` (tag → action); it is built
from :data:`~datamint.imaging.dicom_profile.PROFILE_GROUPS`, which lists 366 attributes of the
standard's Table E.1-1 by topic. In short:

**Removed**
    * every private attribute (odd group), at every depth, including private sequences;
    * curve data (groups 5000-50FF) and overlays (groups 6000-60FF: data, comments and the
      plane description, so no half overlay is left);
    * patient details other than name/ID/birth date/sex: birth time, age, size, weight,
      address, telephone/telecom, other IDs and names, birth and mother's names, religion,
      ethnic group, occupation, military rank/branch, medical alerts, allergies, smoking and
      pregnancy status, patient comments and history, insurance, residence, responsible person;
    * institution name, address, department and code; station name and AE titles; device
      serial number, device/gantry/generator/detector/plate/cassette IDs and calibration dates;
    * operators, performing physicians, physicians of record and reading the study, requesting
      physician and service, with their identification sequences; referring physician
      address and telephone numbers;
    * study, series, image, frame, acquisition, presentation and derivation descriptions and
      comments; protocol name; visit, admission, discharge, request and scheduling attributes
      (request attributes sequence, requested/scheduled/performed procedure step IDs,
      descriptions, dates and locations, reasons for the study and the request);
    * series, acquisition, instance-creation, overlay, curve, secondary-capture and contrast/
      radiopharmaceutical/intervention dates and times; timezone offset;
    * icon images, original/modified attributes sequences, digital signatures, trailing padding;
    * referenced patient/study/performed-procedure-step sequences; SR author, participant and
      custodial organisation sequences; interpretation, results and topic attributes; RT plan,
      structure set, ROI, beam and prescription descriptions.

**Emptied (zero length)**
    * Patient's Birth Date, Patient's Sex, Study ID, Referring and Consulting Physician's Name,
      Content Creator's Name, placer/filler order numbers, clinical-trial protocol name, site
      ID/name, time point ID and coordinating centre, contrast agent, participation date-time,
      verifying observer identification sequence, ROI name and interpreter, structure-set and
      review dates/times.

**Replaced with a dummy value** (so type-1/2 attributes stay valid)
    * Study Date and Content Date → ``19000101``; Study Time and Content Time → ``000000``;
      frame acquisition/reference date-times, SR Date/Time/DateTime and verification and
      referenced date-times → ``19000101`` / ``000000`` / ``19000101000000``;
    * SR verifying observer names and organisation, person names, structure-set and RT-plan
      labels, specimen and container identifiers, destination AE, clinical-trial sponsor,
      protocol ID, ethics committee and subject IDs → ``ANONYMIZED``;
    * an encapsulated document (PDF/CDA) → two zero bytes.
    * Sequences coded ``D`` (SR content, graphic annotations, person identification, verifying
      observer) are not replaced but cleaned item by item with the same rules.

**Replaced consistently** (same input → same output for one ``UidMapper``)
    * Patient ID → ``ANON`` + 12 hex digits; Patient's Name → the same token; Accession Number
      → ``ACC`` + 13 hex digits (empty values stay empty);
    * Study/Series/SOP Instance, Frame of Reference (and referenced, related, synchronisation
      and source frame of reference), Referenced SOP Instance (also inside Referenced Image and
      Source Image sequences, which are kept), Concatenation, Dimension Organization,
      Irradiation Event, Instance Creator, Storage Media File-set, Device, Dose Reference,
      Specimen, Fiducial, Target, Tracking, Transaction, palette, digital-signature and
      observation UIDs (SOP Class and Transfer Syntax UIDs are kept);
    * the file meta Media Storage SOP Instance UID follows the new SOP Instance UID, sending/
      receiving AE titles and private information leave the file meta, the preamble is zeroed.

**Kept**
    * everything else: modality, SOP class, body part, laterality, image geometry (position,
      orientation, spacing, thickness), pixel module and pixel data, acquisition parameters,
      rescale and window values, series/instance numbers, manufacturer and model names.

**Added**: Patient Identity Removed = ``YES``, De-identification Method, De-identification
Method Code Sequence (DCM 113100 "Basic Application Confidentiality Profile") and
Longitudinal Temporal Information Modified = ``REMOVED``.

Burned-in text in the pixel data is not touched (the profile's Clean Pixel Data option is not
implemented), nor is free text inside SR content items.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

from .dicom_profile import BASIC_PROFILE
from .metadata import laterality_tag

__all__ = ["BASIC_PROFILE", "UidMapper", "anonymize_dataset", "is_dicom_report", "parse_tag"]

DEIDENTIFICATION_METHOD = "DICOM PS3.15 Basic Application Confidentiality Profile"
REPORT_MODALITIES = frozenset({"SR", "DOC", "KO", "PR", "ESR"})
_REPORT_CLASS_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.11.")
_REPORT_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.104.2"})
_DUMMY_BY_VR: dict[str, Any] = {
    "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0,
    "OB": b"\0\0", "OW": b"\0\0", "OF": b"\0\0\0\0", "OD": b"\0" * 8, "OL": b"\0\0\0\0", "OV": b"\0" * 8,
    "UN": b"\0\0", "UR": "urn:anonymized",
}  # fmt: skip
_DUMMY_TEXT = "ANONYMIZED"
# Z-coded attributes that are type 1 in some common objects: given a dummy instead of emptied.
_Z_WITH_DUMMY = {tag_for_keyword(k) for k in ("StudyDate", "StudyTime", "ContentDate", "ContentTime")}
_PATIENT_ID, _PATIENT_NAME = 0x00100020, 0x00100010
_ACCESSION = 0x00080050
_FILE_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028,
                      0x00020100, 0x00020102)  # fmt: skip


class UidMapper:
    """Consistent, non-reversible replacement of UIDs and identifiers.

    One mapper gives the same output for the same input, so instances of one series or study
    still group together after anonymisation. Two mappers built with the same `secret` agree;
    without a secret a random one is drawn, so outputs cannot be linked across mappers.

    Args:
        secret: Key mixed into every hash. Keep it private if you pass one.
        prefix: UID root for generated UIDs (pydicom's root by default).

    Example:
        >>> mapper = UidMapper()
        >>> mapper.uid("1.2.3") == mapper.uid("1.2.3") != "1.2.3"
        True
    """

    def __init__(self, secret: str | bytes | None = None, prefix: str = PYDICOM_ROOT_UID) -> None:
        raw = secret if secret is not None else secrets.token_hex(32)
        self._secret = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        self._prefix = prefix
        self._uids: dict[str, str] = {}

    def uid(self, original: str) -> str:
        """Return the replacement UID for `original` (empty values are returned unchanged).

        Args:
            original: A UID to replace.

        Returns:
            A new valid UID, always the same for the same `original`.
        """
        original = str(original).strip().rstrip("\0")
        if not original:
            return original
        if original not in self._uids:
            self._uids[original] = str(generate_uid(prefix=self._prefix, entropy_srcs=[self._secret, original]))
        return self._uids[original]

    def token(self, original: str, prefix: str = "ANON", length: int = 16) -> str:
        """Return a consistent replacement token such as ``ANON3F9A0C12B4D1``.

        Args:
            original: The identifier to replace (PatientID, AccessionNumber, ...).
            prefix: Leading letters of the token.
            length: Total length of the token (mind the VR's maximum, e.g. 16 for SH).

        Returns:
            `prefix` followed by upper-case hex digits, `length` characters in all; an empty
            string for an empty `original`.
        """
        original = str(original).strip()
        if not original:
            return ""
        digest = hashlib.sha256(f"{self._secret}\0{prefix}\0{original}".encode()).hexdigest().upper()
        return prefix + digest[: max(length - len(prefix), 4)]

    @property
    def uid_map(self) -> dict[str, str]:
        """A copy of the original → replacement UID pairs produced so far."""
        return dict(self._uids)


def parse_tag(code: tuple[int, int] | int | str) -> int:
    """Turn a tag given as ``(0x0010, 0x0020)``, ``0x00100020``, ``"PatientID"`` or
    ``"0x0010,0x0020"`` / ``"(0010,0020)"`` / ``"00100020"`` into an int.

    Args:
        code: The tag in any of the accepted spellings.

    Returns:
        The tag as an int.

    Raises:
        ValueError: `code` is not a known keyword or a valid tag.
    """
    if isinstance(code, tuple) and len(code) == 2:
        return (int(code[0]) << 16) | int(code[1])
    if isinstance(code, int):
        return code
    text = str(code).strip()
    tag = tag_for_keyword(text)
    if tag is not None:
        return tag
    parts = text.strip("()").replace(" ", "").split(",")
    try:
        if len(parts) == 2:
            return (int(parts[0], 16) << 16) | int(parts[1], 16)
        if len(parts) == 1 and len(parts[0].removeprefix("0x")) == 8:
            return int(parts[0], 16)
    except ValueError:
        pass
    raise ValueError(
        f"unknown DICOM attribute {code!r}: use a keyword ('PatientID'), a (group, element) tuple "
        "or a hex tag such as '0x0010,0x0020'"
    )


def is_dicom_report(ds: Dataset) -> bool:
    """Return True for reports and other non-image documents the SDK skips on upload.

    Those are objects whose Modality is SR, DOC, KO, PR or ESR, or whose SOP Class is a
    structured report, key object selection, presentation state, or an encapsulated PDF/CDA.
    RT structure sets are not reports.

    Args:
        ds: A data set (the header is enough).

    Returns:
        Whether the object is a report/document.
    """
    if str(ds.get("Modality", "")).strip().upper() in REPORT_MODALITIES:
        return True
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    return sop_class in _REPORT_CLASSES or sop_class.startswith(_REPORT_CLASS_PREFIXES)


class _Cleaner:
    def __init__(self, mapper: UidMapper, retain: set[int]) -> None:
        self.mapper = mapper
        self.retain = retain
        self.retain_creators = {(t & 0xFFFF0000) | ((t & 0xFF00) >> 8) for t in retain if (t >> 16) & 1}

    def clean(self, ds: Dataset) -> None:
        for tag in list(ds.keys()):
            tag = int(tag)
            if tag in self.retain or tag in self.retain_creators:
                continue
            group = tag >> 16
            if group & 1 or (group & 0xFF00) in (0x5000, 0x6000):
                del ds[tag]
                continue
            action = BASIC_PROFILE.get(tag)
            if action == "X":
                del ds[tag]
                continue
            elem = ds[tag]
            if elem.VR == "SQ":
                if action == "Z":
                    elem.value = Sequence()
                else:
                    for item in elem.value:
                        self.clean(item)
            elif action in ("Z", "D", "C"):
                self._replace(ds, elem, action)
            elif action == "U" and not elem.is_empty:
                values = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
                mapped = [self.mapper.uid(v) for v in values]
                elem.value = mapped if len(mapped) > 1 else mapped[0]

    def _replace(self, ds: Dataset, elem: DataElement, action: str) -> None:
        tag = int(elem.tag)
        if tag == _PATIENT_NAME:  # processed before PatientID: the original ID is still there
            source = str(ds.get("PatientID") or "").strip() or str(elem.value or "")
            elem.value = self.mapper.token(source, "ANON", 16)
        elif tag == _PATIENT_ID:
            elem.value = self.mapper.token(str(elem.value or ""), "ANON", 16)
        elif tag == _ACCESSION:
            elem.value = self.mapper.token(str(elem.value or ""), "ACC", 16)
        elif action == "Z" and tag not in _Z_WITH_DUMMY:
            elem.clear()
        else:
            vr = elem.VR if " or " not in elem.VR else dictionary_VR(tag).split(" or ")[0]
            elem.value = _DUMMY_BY_VR.get(vr, _DUMMY_TEXT)


def anonymize_dataset(
    ds: Dataset,
    retain_codes: Iterable[tuple[int, int] | int | str] = (),
    uid_map: UidMapper | None = None,
    tags_out: list[str] | None = None,
) -> Dataset:
    """De-identify a data set in place with the Basic Application Level Confidentiality Profile.

    See the module docstring for exactly what is removed, emptied, replaced and kept.

    Args:
        ds: The data set; it is modified in place (copy it first to keep the original).
        retain_codes: Attributes to leave untouched anywhere in the data set, as
            ``(0x0010, 0x0020)`` tuples, ``0x00100020`` ints, keywords such as ``"PatientID"``
            or strings such as ``"0x0010,0x0020"``. Retaining a private attribute also keeps
            its private creator.
        uid_map: The mapper that makes replacements consistent. Pass the same mapper for all
            files of an upload so studies and series still group; a new one is used if omitted.
        tags_out: If given, resource tags derived from the original data set are appended to it:
            ``"left"`` or ``"right"`` (:func:`~datamint.imaging.metadata.laterality_tag`).

    Returns:
        `ds`, de-identified.

    Raises:
        ValueError: A retain code is not a known keyword or a valid tag.

    Example:
        >>> mapper = UidMapper()
        >>> for path in paths:
        ...     ds = anonymize_dataset(pydicom.dcmread(path), retain_codes=["PatientAge"], uid_map=mapper)
    """
    retain = {parse_tag(code) for code in retain_codes}
    mapper = uid_map if uid_map is not None else UidMapper()
    if tags_out is not None and (side := laterality_tag(ds)) and side not in tags_out:
        tags_out.append(side)
    _Cleaner(mapper, retain).clean(ds)

    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    items = [item for item in ds.get("DeidentificationMethodCodeSequence") or [] if item.get("CodeValue") != "113100"]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([*items, code])
    if not any(_vr(tag) in ("DA", "DT", "TM") for tag in retain):
        ds.LongitudinalTemporalInformationModified = "REMOVED"

    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for tag in _FILE_META_REMOVED:
            if tag in meta:
                del meta[tag]
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if getattr(ds, "preamble", None):
        ds.preamble = b"\0" * 128
    return ds


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return ""

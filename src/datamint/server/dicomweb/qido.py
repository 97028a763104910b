"""QIDO-RS (PS3.18 10.6): searching studies, series and instances.

Query parameters are attribute keywords (``PatientName``) or tags (``00100010``) with DICOM
matching values (see :mod:`datamint.server.resources.dicom_query` for the matching rules), plus
``limit``, ``offset``, ``fuzzymatching`` and ``includefield`` (a keyword, tag or ``all``;
repeated or comma-separated). Answers are DICOM JSON arrays, built from the DICOM index only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.auth.service import Principal
from datamint.server.errors import ValidationFailedError
from datamint.server.resources import dicom_query
from datamint.server.resources.dicom_query import ATTRIBUTES, DEFAULT_RETURN, DicomQuery

#: Largest page of a QIDO answer.
MAX_LIMIT = 1000
_LEVEL_OF_COMPUTED = {"ModalitiesInStudy": "study", "NumberOfStudyRelatedSeries": "study",
                      "NumberOfStudyRelatedInstances": "study", "NumberOfSeriesRelatedInstances": "series"}
_RESERVED = {"limit", "offset", "fuzzymatching", "includefield"}


def _keyword(name: str) -> str:
    """A query parameter's attribute keyword (tags such as ``00100010`` are translated)."""
    text = name.strip()
    if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        keyword = keyword_for_tag(int(text, 16))
        if keyword:
            return keyword
    elif tag_for_keyword(text) is not None:
        return text
    raise ValidationFailedError(f"Unknown query parameter {name!r}: use a DICOM keyword (PatientName), a tag "
                                "(00100010), limit, offset, fuzzymatching or includefield")


def _int_param(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailedError(f"{name} must be an integer, not {value!r}")
    if not low <= number <= high:
        raise ValidationFailedError(f"{name} must be between {low} and {high}, got {number}")
    return number


def parse_query(level: str, params: Sequence[tuple[str, str]], *, study_uid: str | None = None,
                series_uid: str | None = None) -> DicomQuery:
    """Turn QIDO query parameters into a :class:`DicomQuery` (422 for anything malformed)."""
    q = DicomQuery(level=level, limit=100)
    allowed = dicom_query.LEVELS[:dicom_query.LEVELS.index(level) + 1]
    for name, value in params:
        lower = name.lower()
        if lower == "limit":
            q.limit = _int_param(value, "limit", 1, MAX_LIMIT)
        elif lower == "offset":
            q.offset = _int_param(value, "offset", 0, 10**9)
        elif lower == "fuzzymatching":
            q.fuzzy = value.strip().lower() == "true"
        elif lower == "includefield":
            for item in value.split(","):
                if item.strip():
                    q.include.add("all" if item.strip().lower() == "all" else _keyword(item))
        else:
            keyword = _keyword(name)
            if keyword == "ModalitiesInStudy" and level == "study":
                q.modalities_in_study = [m for m in value.replace(",", "\\").split("\\") if m]
                q.include.add(keyword)
            elif keyword in ATTRIBUTES and ATTRIBUTES[keyword][0] in allowed:
                q.keys[keyword] = value
            elif value == "":
                q.include.add(keyword)  # universal matching of an attribute we do not hold: returned if held
            else:
                supported = sorted(k for k in ATTRIBUTES if ATTRIBUTES[k][0] in allowed)
                raise ValidationFailedError(f"Matching on {keyword} is not supported in a {level} query; "
                                            f"supported: {', '.join(supported)}")
    if study_uid is not None:
        q.keys["StudyInstanceUID"] = study_uid
    if series_uid is not None:
        q.keys["SeriesInstanceUID"] = series_uid
    return q


def _returned(q: DicomQuery) -> list[str]:
    levels = dicom_query.LEVELS[:dicom_query.LEVELS.index(q.level) + 1]
    if "all" in q.include:
        held = [k for k in ATTRIBUTES if ATTRIBUTES[k][0] in levels]
        held += [k for k, lv in _LEVEL_OF_COMPUTED.items() if lv == q.level]
        return list(dict.fromkeys([*DEFAULT_RETURN[q.level], *held]))
    return list(dict.fromkeys([*DEFAULT_RETURN[q.level], *q.keys, *sorted(q.include)]))


@cache
def _tag_and_vr(keyword: str) -> tuple[str, str]:
    """(``"00100010"``, ``"PN"``): pydicom's dictionary look-ups, once per keyword and process
    (they were a quarter of a 100-study answer's time)."""
    return f"{tag_for_keyword(keyword):08X}", dictionary_VR(keyword)


def element(keyword: str, value: Any) -> dict[str, Any]:
    """One attribute in the DICOM JSON model."""
    vr = _tag_and_vr(keyword)[1]
    if value is None or value == [] or value == "":
        return {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in values]}
    return {"vr": vr, "Value": values}


def to_json(item: dict[str, Any], keywords: Sequence[str], retrieve_url: str | None) -> dict[str, Any]:
    """A result dict as a DICOM JSON object with the requested attributes (tags sorted)."""
    body = {_tag_and_vr(k)[0]: element(k, item.get(k)) for k in keywords if k in item}
    if retrieve_url:
        body["00081190"] = {"vr": "UR", "Value": [retrieve_url]}
    return dict(sorted(body.items()))


def search(session: Session, me: Principal, q: DicomQuery, base_url: str) -> list[dict[str, Any]]:
    """The DICOM JSON answer of a QIDO-RS query (resources.read)."""
    policy.require(me, policy.Action.RESOURCES_READ)
    keywords = _returned(q)
    result = []
    for item in dicom_query.search(session, me.customer_id, q):
        url = f"{base_url}/studies/{item['StudyInstanceUID']}"
        if q.level in ("series", "instance"):
            url += f"/series/{item['SeriesInstanceUID']}"
        if q.level == "instance":
            url += f"/instances/{item['SOPInstanceUID']}"
        result.append(to_json(item, keywords, url))
    return result

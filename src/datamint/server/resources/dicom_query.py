"""Study, series and instance queries over the DICOM index (QIDO-RS and C-FIND share them).

Matching follows DICOM PS3.4 C.2.2.2:

* **single value**: equality (``PatientID=MRN-1``);
* **wildcards** ``*`` and ``?`` (``PatientID=MRN*``);
* **UID lists**: ``\\``-separated UIDs match any of them;
* **ranges** for dates and times: ``20240101-20240131``, ``20240101-``, ``-20240131``;
* **universal** (empty value, or ``*`` alone, which also matches an empty value): no condition;
  the attribute is returned.

Person names (PatientName, ReferringPhysicianName) always match case-insensitively. With
``fuzzy`` (QIDO ``fuzzymatching=true``) PatientName matches when every word of the query starts
one of the name's parts, ignoring case and accents: ``jan`` finds ``Doe^Jane``, ``DOE J`` too.
Other text attributes match case-sensitively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from datamint.imaging.dicom_header import fuzzy_key
from datamint.server.errors import ValidationFailedError
from datamint.server.resources.dicom_index import newest_live
from datamint.server.resources.models import DicomInstance, DicomSeries, DicomStudy, Resource

LEVELS = ("study", "series", "instance")

#: keyword → (level, column, kind). Kinds: uid, text, pn, date, time, int.
ATTRIBUTES: dict[str, tuple[str, Any, str]] = {
    "StudyInstanceUID": ("study", DicomStudy.study_uid, "uid"),
    "PatientName": ("study", DicomStudy.patient_name, "pn"),
    "PatientID": ("study", DicomStudy.patient_id, "text"),
    "PatientBirthDate": ("study", DicomStudy.patient_birth_date, "date"),
    "PatientSex": ("study", DicomStudy.patient_sex, "text"),
    "StudyDate": ("study", DicomStudy.study_date, "date"),
    "StudyTime": ("study", DicomStudy.study_time, "time"),
    "AccessionNumber": ("study", DicomStudy.accession_number, "text"),
    "StudyID": ("study", DicomStudy.study_id, "text"),
    "StudyDescription": ("study", DicomStudy.study_description, "text"),
    "ReferringPhysicianName": ("study", DicomStudy.referring_physician_name, "pn"),
    "SeriesInstanceUID": ("series", DicomSeries.series_uid, "uid"),
    "Modality": ("series", DicomSeries.modality, "text"),
    "SeriesNumber": ("series", DicomSeries.series_number, "int"),
    "SeriesDescription": ("series", DicomSeries.series_description, "text"),
    "BodyPartExamined": ("series", DicomSeries.body_part_examined, "text"),
    "SeriesDate": ("series", DicomSeries.series_date, "date"),
    "SOPInstanceUID": ("instance", DicomInstance.instance_uid, "uid"),
    "SOPClassUID": ("instance", DicomInstance.sop_class_uid, "uid"),
    "InstanceNumber": ("instance", DicomInstance.instance_number, "int"),
    "NumberOfFrames": ("instance", DicomInstance.number_of_frames, "int"),
    "Rows": ("instance", DicomInstance.rows, "int"),
    "Columns": ("instance", DicomInstance.columns, "int"),
}
#: Attributes returned at each level when the query does not ask for more.
DEFAULT_RETURN = {
    "study": ("StudyInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
              "StudyTime", "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
              "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "series": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "BodyPartExamined", "SeriesDate", "NumberOfSeriesRelatedInstances"),
    "instance": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
                 "NumberOfFrames", "Rows", "Columns", "Modality"),
}
#: The integers an integer key may hold: DICOM's IS range, which the 32-bit columns store.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")


@dataclass
class DicomQuery:
    """A parsed query: matching keys, what to return, paging."""

    level: str
    keys: dict[str, str] = field(default_factory=dict)
    modalities_in_study: list[str] = field(default_factory=list)
    fuzzy: bool = False
    include: set[str] = field(default_factory=set)
    offset: int = 0
    limit: int = 100


def _like(value: str) -> str:
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped.replace("*", "%").replace("?", "_")


def _range(column: Any, value: str, pattern: re.Pattern[str], keyword: str) -> ColumnElement[bool]:
    low, sep, high = value.partition("-")
    parts = [p for p in (low, high) if p]
    if not parts or any(not pattern.match(p) for p in parts):
        raise ValidationFailedError(f"Invalid {keyword} {value!r}: use YYYYMMDD (dates) or HHMMSS (times), "
                                    "a single value or a range such as 20240101-20240131")
    if not sep:
        return column == low
    conds = []
    if low:
        conds.append(column >= low)
    if high and pattern is _TIME:  # 1010 takes in 101059.5: below the next prefix, 1011
        after = _next_prefix(high)
        if after is not None:
            conds.append(column < after)
    elif high:
        conds.append(column <= high)
    return and_(*conds)


def _next_prefix(digits: str) -> str | None:
    """The smallest time text above every text starting with ``digits`` (``"1010"`` → ``"1011"``,
    ``"1059.9"`` → ``"1060.0"``), or ``None`` when there is none (all nines). Digits compare alike
    in every collation; a sentinel character after ``digits`` does not (PostgreSQL with an en_US or
    ICU collation ignores or reorders control characters and punctuation)."""
    chars = list(digits)
    for i in range(len(chars) - 1, -1, -1):
        if not chars[i].isdigit():
            continue
        if chars[i] != "9":
            chars[i] = str(int(chars[i]) + 1)
            return "".join(chars)
        chars[i] = "0"
    return None


def _condition(session: Session, keyword: str, value: str, fuzzy: bool) -> ColumnElement[bool]:
    _, column, kind = ATTRIBUTES[keyword]
    if kind == "uid":
        uids = [u.strip() for u in value.replace(",", "\\").split("\\") if u.strip()]
        return column.in_(uids)
    if kind == "date":
        return _range(column, value, _DATE, keyword)
    if kind == "time":
        return _range(column, value.replace(":", ""), _TIME, keyword)
    if kind == "int":
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not INT_MIN <= number <= INT_MAX:  # the 32-bit columns hold no other
            raise ValidationFailedError(f"Invalid {keyword} {value!r}: expected an integer from {INT_MIN} "
                                        f"to {INT_MAX}")
        return column == number
    if kind == "pn":
        if fuzzy and keyword == "PatientName":
            words = (fuzzy_key(value.replace("*", " ").replace("?", " ")) or "").split()
            return and_(*(DicomStudy.patient_name_key.like(f"% {_like(w)}%", escape="!") for w in words))
        # both sides folded by the database's upper(): Python's folds ß to SS, PostgreSQL's keeps it
        return func.upper(column).like(func.upper(_like(value)), escape="!")
    if "*" in value or "?" in value:
        if session.get_bind().dialect.name == "sqlite":  # SQLite's LIKE ignores case; GLOB does not
            return column.op("GLOB")(value.replace("[", "[[]"))
        return column.like(_like(value), escape="!")
    return column == value


def _live_instance(study_uid: Any = None, series_uid: Any = None) -> Any:
    live = (select(1).select_from(DicomInstance).join(Resource, Resource.id == DicomInstance.resource_id)
            .where(Resource.deleted.is_(False)))
    if series_uid is not None:
        live = live.where(DicomInstance.customer_id == DicomSeries.customer_id,
                          DicomInstance.series_uid == series_uid)
    else:
        live = live.where(DicomInstance.customer_id == DicomStudy.customer_id,
                          DicomInstance.study_uid == study_uid)
    return exists(live)


def _conditions(session: Session, q: DicomQuery, allowed: Sequence[str],
                pick: Sequence[str] = LEVELS) -> list[ColumnElement[bool]]:
    """Conditions for the keys of the levels in ``pick``; 422 for a key outside ``allowed``."""
    conds = []
    for keyword, value in q.keys.items():
        level = ATTRIBUTES[keyword][0]
        if level not in allowed:
            raise ValidationFailedError(f"{keyword} cannot be matched in a {q.level} query")
        if value.strip("*") != "" and level in pick:  # "*" alone matches any value, an empty one too
            conds.append(_condition(session, keyword, value, q.fuzzy))
    return conds


def search(session: Session, customer_id: str, q: DicomQuery) -> list[dict[str, Any]]:
    """The page of studies, series or instances matching ``q``, as keyword → value dicts.

    Raises:
        ValidationFailedError: A key cannot be matched at this level or has a malformed value.
    """
    if q.level == "study":
        return _studies(session, customer_id, q)
    if q.level == "series":
        return _series(session, customer_id, q)
    return _instances(session, customer_id, q)


def _values(row: Any, keywords: Sequence[str]) -> dict[str, Any]:
    return {k: getattr(row, ATTRIBUTES[k][1].key) for k in keywords if k in ATTRIBUTES}


def _studies(session: Session, customer_id: str, q: DicomQuery) -> list[dict[str, Any]]:
    conds = [DicomStudy.customer_id == customer_id, *_conditions(session, q, ("study", "series"), ("study",)),
             _live_instance(study_uid=DicomStudy.study_uid)]
    series_conds = _conditions(session, q, ("study", "series"), ("series",))
    modalities = [m for m in q.modalities_in_study if m.strip("*")]  # "*" alone: universal
    if series_conds or modalities:
        inner = select(1).where(DicomSeries.customer_id == DicomStudy.customer_id,
                                DicomSeries.study_uid == DicomStudy.study_uid, *series_conds)
        if modalities:
            inner = inner.where(DicomSeries.modality.in_(modalities))
        conds.append(exists(inner))
    rows = session.scalars(select(DicomStudy).where(*conds)
                           .order_by(DicomStudy.study_date.desc(), DicomStudy.study_time.desc(),
                                     DicomStudy.study_uid).offset(q.offset).limit(q.limit)).all()
    uids = [r.study_uid for r in rows]
    counts = _counts(session, customer_id, DicomInstance.study_uid, uids)
    modalities: dict[str, set[str]] = {}
    for study_uid, modality in session.execute(
            select(DicomSeries.study_uid, DicomSeries.modality).where(
                DicomSeries.customer_id == customer_id, DicomSeries.study_uid.in_(uids))):
        if modality:
            modalities.setdefault(study_uid, set()).add(modality)
    result = []
    for row in rows:
        item = _values(row, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "study"])
        series_count, instance_count = counts.get(row.study_uid, (0, 0))
        item.update(ModalitiesInStudy=sorted(modalities.get(row.study_uid, ())),
                    NumberOfStudyRelatedSeries=series_count, NumberOfStudyRelatedInstances=instance_count)
        result.append(item)
    return result


def _counts(session: Session, customer_id: str, column: Any, uids: list[str]) -> dict[str, tuple[int, int]]:
    if not uids:
        return {}
    # "no deleted resource" rather than a join on live ones: every instance has its resource row,
    # and for the join PostgreSQL hashed the whole resources table (100 ms at 100k resources)
    # where the anti-join probes the primary key once per instance of the page's studies
    deleted = exists(select(1).where(Resource.id == DicomInstance.resource_id, Resource.deleted.is_(True)))
    stmt = (select(column, func.count(func.distinct(DicomInstance.series_uid)),
                   func.count(func.distinct(DicomInstance.instance_uid)))
            .where(DicomInstance.customer_id == customer_id, column.in_(uids), ~deleted)
            .group_by(column))
    return {uid: (int(series), int(instances)) for uid, series, instances in session.execute(stmt)}


def _series(session: Session, customer_id: str, q: DicomQuery) -> list[dict[str, Any]]:
    conds = [DicomSeries.customer_id == customer_id, *_conditions(session, q, ("study", "series")),
             _live_instance(series_uid=DicomSeries.series_uid)]
    stmt = (select(DicomSeries, DicomStudy)
            .join(DicomStudy, and_(DicomStudy.customer_id == DicomSeries.customer_id,
                                   DicomStudy.study_uid == DicomSeries.study_uid))
            .where(*conds).order_by(DicomSeries.study_uid, DicomSeries.series_number, DicomSeries.series_uid)
            .offset(q.offset).limit(q.limit))
    rows = session.execute(stmt).all()
    counts = _counts(session, customer_id, DicomInstance.series_uid, [s.series_uid for s, _ in rows])
    result = []
    for series, study in rows:
        item = _values(study, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "study"])
        item.update(_values(series, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "series"]))
        item["NumberOfSeriesRelatedInstances"] = counts.get(series.series_uid, (0, 0))[1]
        result.append(item)
    return result


def _instances(session: Session, customer_id: str, q: DicomQuery) -> list[dict[str, Any]]:
    conds = [DicomInstance.customer_id == customer_id, newest_live(), *_conditions(session, q, LEVELS)]
    stmt = (select(DicomInstance, DicomSeries, DicomStudy)
            .join(Resource, Resource.id == DicomInstance.resource_id)
            .join(DicomSeries, and_(DicomSeries.customer_id == DicomInstance.customer_id,
                                    DicomSeries.series_uid == DicomInstance.series_uid))
            .join(DicomStudy, and_(DicomStudy.customer_id == DicomInstance.customer_id,
                                   DicomStudy.study_uid == DicomInstance.study_uid))
            .where(*conds)
            .order_by(DicomInstance.study_uid, DicomInstance.series_uid, DicomInstance.instance_number,
                      DicomInstance.instance_uid)
            .offset(q.offset).limit(q.limit))
    result = []
    for instance, series, study in session.execute(stmt):
        item = _values(study, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "study"])
        item.update(_values(series, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "series"]))
        item.update(_values(instance, [k for k in ATTRIBUTES if ATTRIBUTES[k][0] == "instance"]))
        item["StudyInstanceUID"], item["SeriesInstanceUID"] = instance.study_uid, instance.series_uid
        result.append(item)
    return result

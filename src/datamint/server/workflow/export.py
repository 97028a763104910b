"""Export of a project's or worklist's annotations as CSV or XLSX, streamed from the database in
batches (``yield_per``) so that memory stays flat however many annotations there are.

Cells hold what annotators typed: they go through :mod:`datamint.server.common.spreadsheets`, so
no spreadsheet runs them as formulas.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from datamint.server.annotations.models import Annotation
from datamint.server.annotations.service import created_window
from datamint.server.common.spreadsheets import csv_cell, xlsx_cell
from datamint.server.db.base import iso
from datamint.server.db.session import Database
from datamint.server.errors import ValidationFailedError
from datamint.server.policy import ProjectAction
from datamint.server.resources.models import Resource
from datamint.server.workflow.scope import Scope
from datamint.server.worklists.models import Worklist, WorkStatus

COLUMNS = ("annotation_id", "resource_id", "resource_filename", "worklist_id", "worklist_name", "annotator",
           "identifier", "type", "scope", "frame_index", "frame_end", "value", "units", "geometry", "status",
           "approved_by", "approved_at", "review_status", "source", "model_id", "imported_from", "created_at",
           "label_set", "promoted_from")
FORMATS = {"csv": "csv", "xlsx": "xlsx", "excel": "xlsx"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_BATCH = 2000


@dataclass
class ExportRequest:
    """The query parameters of ``download-annotations``."""

    format: str
    annotators: Sequence[str]
    identifiers: Sequence[str]
    from_date: str | None
    to_date: str | None
    label_sets: Sequence[str] = ()

    @property
    def kind(self) -> str:
        """``csv`` or ``xlsx`` (422 for anything else)."""
        kind = FORMATS.get((self.format or "csv").lower())
        if kind is None:
            raise ValidationFailedError(f"Unknown format {self.format!r}: use csv or xlsx")
        return kind


def build_query(session: Session, scope: Scope, request: ExportRequest) -> Select[Any]:
    """The rows to export, oldest first (checks that the caller may export)."""
    scope.require(ProjectAction.EXPORT)
    conds = [scope.annotations(session), Annotation.deleted.is_(False)]
    if request.annotators:
        conds.append(Annotation.created_by.in_(list(request.annotators)))
    if request.identifiers:
        conds.append(Annotation.identifier.in_(list(request.identifiers)))
    if request.label_sets:
        conds.append(Annotation.label_set.in_(list(request.label_sets)))
    start, end = created_window(request.from_date, request.to_date)
    if start is not None:
        conds.append(Annotation.created_at >= start)
    if end is not None:
        conds.append(Annotation.created_at < end)
    status = and_(WorkStatus.worklist_id == Annotation.worklist_id, WorkStatus.resource_id == Annotation.resource_id,
                  WorkStatus.user_id == Annotation.created_by_id)
    a = Annotation
    return (select(a.id, a.resource_id, Resource.filename, a.worklist_id, Worklist.name, a.created_by, a.identifier,
                   a.type, a.scope, a.frame_index, a.frame_end, a.text_value, a.numeric_value, a.units, a.geometry,
                   a.status, a.approved_by, a.approved_at, WorkStatus.status, a.source, a.model_id, a.imported_from,
                   a.created_at, a.label_set, a.promoted_from)
            .join(Resource, Resource.id == a.resource_id)
            .outerjoin(Worklist, Worklist.id == a.worklist_id)
            .outerjoin(WorkStatus, status)
            .where(*conds).order_by(a.created_at, a.id))


def _cells(row: Any) -> list[Any]:
    values = list(row)
    text, number = values[11], values[12]
    value = (int(number) if values[7] == "integer" and number is not None else number) if number is not None else text
    values[11:13] = [value]
    values[13] = json.dumps(values[13], separators=(",", ":")) if values[13] is not None else None
    values[16] = iso(values[16])
    values[-3] = iso(values[-3])
    return ["" if v is None else v for v in values]


def _rows(database: Database, query: Select[Any]) -> Iterator[list[Any]]:
    with database.session() as session:
        for row in session.execute(query.execution_options(yield_per=_BATCH)):
            yield _cells(row)


def stream_csv(database: Database, query: Select[Any]) -> Iterator[bytes]:
    """CSV bytes in chunks: a header row, then one row per annotation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    count = 0
    for cells in _rows(database, query):
        writer.writerow([csv_cell(v) for v in cells])
        count += 1
        if count % _BATCH == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def stream_xlsx(database: Database, query: Select[Any]) -> Iterator[bytes]:
    """An XLSX workbook (one sheet ``annotations``), written to a temporary file then streamed."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("annotations")
    sheet.append(list(COLUMNS))
    for cells in _rows(database, query):
        sheet.append([xlsx_cell(sheet, v) for v in cells])
    handle, path = tempfile.mkstemp(prefix="datamint-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
    finally:
        os.unlink(path)


def stream(session: Session, database: Database, scope: Scope, request: ExportRequest
           ) -> tuple[Iterator[bytes], str, str]:
    """The export's byte chunks, media type and file name."""
    kind = request.kind
    query = build_query(session, scope, request)
    chunks = stream_csv(database, query) if kind == "csv" else stream_xlsx(database, query)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in scope.name)[:80] or "annotations"
    return chunks, MEDIA_TYPES[kind], f"{safe}-annotations.{kind}"

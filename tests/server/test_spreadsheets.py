"""The cells every CSV and XLSX export is written with (common/spreadsheets.py): no spreadsheet
runs them as formulas, and our own CSV imports read back exactly what was exported."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from datamint.server.common.spreadsheets import csv_cell, csv_text, xlsx_cell

TEXTS = ["=1+2", "+1", "-x", "@SUM(A1)", "\tTAB", "\r=2", "plain", "'quoted", "'=already", "", "a=b"]


@pytest.mark.parametrize("text", TEXTS)
def test_csv_cells_are_inert_and_read_back_exactly(text):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(text), csv_cell(-3.5), csv_cell(7)])
    row = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert row[1:] == ["-3.5", "7"]  # numbers stay numbers
    assert csv_text(row[0]) == text


def test_xlsx_text_is_a_string_cell_never_a_formula(tmp_path):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("s")
    sheet.append([xlsx_cell(sheet, v) for v in ["=HYPERLINK(\"http://x\")", "@A1", "bell\x07", -2.5, None]])
    workbook.save(tmp_path / "a.xlsx")
    row = next(load_workbook(tmp_path / "a.xlsx")["s"].iter_rows())
    assert [(c.value, c.data_type) for c in row[:4]] == [
        ("=HYPERLINK(\"http://x\")", "s"), ("@A1", "s"), ("bell\ufffd", "s"), (-2.5, "n")]

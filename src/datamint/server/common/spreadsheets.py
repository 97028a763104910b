"""Cells a spreadsheet will not run (CSV/formula injection, OWASP).

Exports carry text people typed (labels, values, file names). Spreadsheets run a CSV cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or CR as a formula, and openpyxl writes such text as a
formula into XLSX. Every CSV and XLSX the server writes goes through these helpers: in CSV, such
text gets a leading ``'`` (the spreadsheet convention for "this is text"; :func:`csv_text` reads it
back); in XLSX, text is always a string cell. Numbers stay numbers.
"""

from __future__ import annotations

from typing import Any

#: First characters that make a spreadsheet read a CSV cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    """Starts like a formula once any leading ``'`` are set aside (so that escaping stays reversible)."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet evaluates: text starting like a formula gets ``'``."""
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def csv_text(cell: str) -> str:
    """The text a :func:`csv_cell` stands for (the inverse, for imports of our own CSV files)."""
    if cell.startswith("'") and _formula_like(cell[1:]):
        return cell[1:]
    return cell


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """``value`` for ``sheet.append`` of an openpyxl write-only sheet: text as a string cell (never
    a formula), with the characters XML cannot carry replaced by U+FFFD."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
    cell.data_type = "s"  # openpyxl makes text starting with "=" a formula
    return cell

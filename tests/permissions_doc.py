"""Reads the machine-readable tables of ``docs/permissions.md`` (shared by the policy and matrix tests).

Each table follows an HTML comment marker such as ``<!-- permissions:routes -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "permissions.md"
ACTORS = ("anonymous", "wrong key", "revoked key", "other org admin", "member", "annotator", "reviewer",
          "manager", "admin")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SPECIAL_ACTIONS = ("public", "authenticated")


@dataclass(frozen=True)
class RouteRow:
    """One row of the routes table: a route, its governing action, the status per caller."""

    method: str
    path: str
    action: str
    expected: dict[str, int]

    @property
    def key(self) -> str:
        """``METHOD /path/template``."""
        return f"{self.method} {self.path}"


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]


def read_table(marker: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the table that follows ``<!-- permissions:<marker> -->``."""
    text = DOC.read_text(encoding="utf-8")
    start = text.find(f"<!-- permissions:{marker} -->")
    if start < 0:
        raise AssertionError(f"{DOC}: no table marked '<!-- permissions:{marker} -->'")
    lines = text[start:].splitlines()[1:]
    while lines and not lines[0].strip():
        lines.pop(0)
    table = []
    for line in lines:
        if not line.strip().startswith("|"):
            break
        table.append(line)
    header, rows = _cells(table[0]), [_cells(ln) for ln in table[2:]]
    for row in rows:
        if len(row) != len(header):
            raise AssertionError(f"{DOC} ({marker}): row {row[0]!r} has {len(row)} cells, "
                                 f"the header {len(header)}")
    return header, rows


def grants(marker: str) -> dict[str, set[str]]:
    """A role × action table as ``{action: {roles granting it}}`` (roles are the columns after Meaning)."""
    header, rows = read_table(marker)
    roles = header[2:]
    out: dict[str, set[str]] = {}
    for row in rows:
        if row[0] in out:
            raise AssertionError(f"{DOC} ({marker}): action {row[0]!r} appears twice")
        out[row[0]] = {role for role, cell in zip(roles, row[2:], strict=True) if cell == "✓"}
    return out


def route_rows() -> dict[str, RouteRow]:
    """The routes table as ``{"METHOD /path": RouteRow}``."""
    header, rows = read_table("routes")
    if tuple(header[2:]) != ACTORS:
        raise AssertionError(f"{DOC}: routes table columns must be Route, Action, {', '.join(ACTORS)}")
    out: dict[str, RouteRow] = {}
    for row in rows:
        method, _, path = row[0].partition(" ")
        if method not in HTTP_METHODS or not path.startswith("/"):
            raise AssertionError(f"{DOC}: route {row[0]!r} must read 'METHOD /path/template'")
        try:
            expected = {actor: int(cell) for actor, cell in zip(ACTORS, row[2:], strict=True)}
        except ValueError:
            raise AssertionError(f"{DOC}: route {row[0]!r} has a status that is not a number: {row[2:]}")
        entry = RouteRow(method, path.strip(), row[1], expected)
        if entry.key in out:
            raise AssertionError(f"{DOC}: route {entry.key!r} appears twice")
        out[entry.key] = entry
    return out


def openapi_routes(schema: dict[str, Any]) -> set[str]:
    """Every ``METHOD /path`` of an OpenAPI schema."""
    return {f"{method.upper()} {path}" for path, ops in schema.get("paths", {}).items()
            for method in ops if method.upper() in HTTP_METHODS}


def coverage(schema: dict[str, Any], rows: dict[str, RouteRow]) -> tuple[list[str], list[str]]:
    """Routes of ``schema`` without a row, and rows without a route (both sorted)."""
    routes = openapi_routes(schema)
    return sorted(routes - set(rows)), sorted(set(rows) - routes)


PATH_PARAM_RE = re.compile(r"{(\w+)}")


NOT_APPLICABLE = "—"


@dataclass(frozen=True)
class BodyRow:
    """One row of the bodies table: an id a request body carries, and the answers to foreign ids."""

    method: str
    path: str
    field: str
    refers_to: str
    caller: str
    other_org: int | None
    hidden: int | None

    @property
    def key(self) -> str:
        """``METHOD /path/template``."""
        return f"{self.method} {self.path}"


def _status(cell: str, where: str) -> int | None:
    if cell == NOT_APPLICABLE:
        return None
    try:
        return int(cell)
    except ValueError:
        raise AssertionError(f"{DOC} ({where}): {cell!r} is neither a status nor {NOT_APPLICABLE!r}")


def _route(cell: str, where: str) -> tuple[str, str]:
    method, _, path = cell.partition(" ")
    if method not in HTTP_METHODS or not path.startswith("/"):
        raise AssertionError(f"{DOC} ({where}): route {cell!r} must read 'METHOD /path/template'")
    return method, path.strip()


def body_rows() -> list[BodyRow]:
    """The bodies table, row by row."""
    header, rows = read_table("bodies")
    if header != ["Route", "Body field", "Refers to", "Caller", "other org", "hidden"]:
        raise AssertionError(f"{DOC}: unexpected columns of the bodies table: {header}")
    out = []
    for route, field_, refers_to, caller, other_org, hidden in rows:
        method, path = _route(route, "bodies")
        if caller not in ACTORS:
            raise AssertionError(f"{DOC} (bodies): unknown caller {caller!r} for {route} {field_}")
        out.append(BodyRow(method, path, field_, refers_to, caller, _status(other_org, "bodies"),
                           _status(hidden, "bodies")))
    keys = [(r.key, r.field) for r in out]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise AssertionError(f"{DOC} (bodies): rows appear twice: {sorted(duplicated)}")
    return out


@dataclass(frozen=True)
class ConflictRow:
    """One row of the conflicts table."""

    method: str
    path: str
    conflict: str
    caller: str
    status: int
    existing: bool


def conflict_rows() -> list[ConflictRow]:
    """The conflicts table, row by row."""
    header, rows = read_table("conflicts")
    if header != ["Route", "Conflict", "Caller", "Status", "existing"]:
        raise AssertionError(f"{DOC}: unexpected columns of the conflicts table: {header}")
    out = []
    for route, conflict, caller, status, existing in rows:
        method, path = _route(route, "conflicts")
        if caller not in ACTORS or existing not in ("yes", "no"):
            raise AssertionError(f"{DOC} (conflicts): bad caller {caller!r} or existing {existing!r} for {route}")
        out.append(ConflictRow(method, path, conflict, caller, int(status), existing == "yes"))
    return out

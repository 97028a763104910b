"""The last line behind the edge rules of :mod:`datamint.server.common.values`: every statement's
parameters are checked against what both databases can hold, before the statement is sent.

Request values are validated where they enter (request models, form fields, query parameters);
this guard makes sure that whatever path a value took (an upload's derived metadata, a job, the
DICOM listener, a route someone adds later) SQLite and PostgreSQL behave alike:

- a string written to a ``String(n)`` column may not be longer than ``n`` (PostgreSQL refuses it,
  SQLite would silently keep it): the write becomes a 422 naming the column, on both;
- no string parameter holds a NUL or a lone surrogate (PostgreSQL refuses NUL even in a filter;
  neither encodes a lone surrogate);
- a JSON parameter follows :func:`~datamint.server.common.values.json_problem` (PostgreSQL's JSONB
  refuses NaN and ``\\u0000``; SQLite would keep them and every later read would fail).

It never fires for values that passed the edge; when it does, the request fails with a 4xx
instead of a database error, and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, ExecutionContext

from datamint.server.common.values import MAX_JSON_DEPTH, json_problem, storable_text_problem
from datamint.server.errors import ValidationFailedError

_BIND_SUFFIX = re.compile(r"_\d+$")


def install(engine: Engine) -> None:
    """Check every statement's parameters on ``engine`` (see the module docstring)."""
    event.listen(engine, "before_cursor_execute", _check_parameters)


def _check_parameters(conn: Connection, cursor: Any, statement: str, parameters: Any, context: ExecutionContext | None,
                      executemany: bool) -> None:
    compiled = getattr(context, "compiled", None)
    rows = getattr(context, "compiled_parameters", None)
    if compiled is None or not rows:
        return
    lengths: dict[str, int] = {}
    if getattr(context, "isinsert", False) or getattr(context, "isupdate", False):
        for key, bind in compiled.binds.items():
            length = getattr(bind.type, "length", None)
            if isinstance(length, int):
                lengths[key] = length
    texts: list[str] = []
    documents: list[Any] = []
    for row in rows:
        for key, value in row.items():
            kind = type(value)
            if kind is str:
                texts.append(value)
                if key in lengths and len(value) > lengths[key]:
                    raise _refused(key, f"is longer than {lengths[key]} characters")
            elif kind is dict or kind is list:
                documents.append(value)
    # One pass over all the text and one walk over all the JSON of the statement; the value at
    # fault is looked for only when something is wrong.
    text_problem = texts and storable_text_problem("".join(texts))
    if text_problem or (documents and json_problem(documents, max_depth=MAX_JSON_DEPTH + 1)):
        _find_and_raise(rows)


def _find_and_raise(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                problem = storable_text_problem(value)
            elif isinstance(value, (dict, list)):
                problem = json_problem(value)
            else:
                continue
            if problem is not None:
                raise _refused(key, problem)


def _refused(key: str, problem: str) -> ValidationFailedError:
    return ValidationFailedError(f"Invalid '{_BIND_SUFFIX.sub('', key)}': {problem}")

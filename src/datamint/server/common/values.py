"""What a value must be to enter the server: one set of rules, applied once at the edge.

Every value a client sends ends up in a database column, a JSON document, a header or a log line
that every later read must be able to hold. SQLite and PostgreSQL differ in what they accept (NUL
characters and over-long strings pass SQLite and fail PostgreSQL; lone UTF-16 surrogates, NaN and
Infinity fail both, or pass on write and break every later read), so the rules here are the
intersection, applied on every backend alike:

- **text** holds no lone surrogate and no NUL; a single-line value (names, identifiers, emails,
  filters, path and query parameters) holds no control character at all (CR/LF end up in headers
  such as ``Content-Disposition``); multi-line text (descriptions, messages) may hold tab, CR and LF.
- **JSON** documents (metadata, geometry, label specs) are at most :data:`MAX_JSON_DEPTH` deep, hold
  finite numbers only, integers within 64 bits (what JavaScript clients and orjson read back), and
  their strings (keys too) hold no NUL and no lone surrogate (other control characters are escaped
  in JSON and harmless).
- **lengths** are those of the columns the values land in (PostgreSQL enforces them; the ORM guard
  in :mod:`datamint.server.db.values` enforces the same on SQLite).

How each edge uses them: request bodies are :class:`RequestBody` models whose fields are
:data:`Line`, :data:`Text` and :data:`JsonObject`; every query and path parameter of every route goes
through :func:`check_request_values` (an application-wide dependency); form fields and JSON sent
inside form fields use :func:`check_text` and :func:`parse_json`; times go through
:func:`datamint.server.common.times.parse_time`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from datamint.server.errors import ValidationFailedError

#: Deepest nesting of a JSON document (``{"a": {"b": ...}}`` is 2 deep).
MAX_JSON_DEPTH = 32
#: Longest single-line value, unless its field says less (the longest text column is 2000).
MAX_LINE = 2000
#: Longest multi-line text (descriptions, review messages), unless its field says less.
MAX_TEXT = 20000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_WHITESPACE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def small_number(text: str, max_digits: int = 9) -> int | None:
    """``text`` as a non-negative integer when it is 1 to ``max_digits`` decimal digits, else ``None``.

    ``str.isdigit()`` before ``int()`` is not enough: ``isdigit`` takes ``'²'``, which ``int``
    refuses, and ``int`` refuses more than 4,300 digits; both raised past the checks (a 500).
    """
    return int(text) if text.isdecimal() and len(text) <= max_digits else None


def text_problem(value: str, *, single_line: bool = True) -> str | None:
    """What makes ``value`` unacceptable as text, or ``None`` when it is fine.

    Args:
        value: The text.
        single_line: Refuse every control character (True), or allow tab, CR and LF (False).
    """
    if _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    if "\x00" in value:
        return "contains a NUL character"
    if (_ANY_CONTROL if single_line else _CONTROL_EXCEPT_WHITESPACE).search(value):
        return "contains control characters" + (" (line breaks are not allowed here)" if single_line else "")
    return None


def storable_text_problem(value: str) -> str | None:
    """What makes ``value`` unstorable, or ``None``: text columns and strings inside JSON may hold
    any character except NUL (PostgreSQL refuses it, in JSONB as ``\\u0000`` too) and lone
    surrogates (not Unicode; no driver encodes them)."""
    if not value.isascii() and _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def check_text(value: str | None, field: str, *, max_length: int = MAX_LINE, single_line: bool = True) -> str | None:
    """Return ``value`` if it is acceptable text of at most ``max_length`` characters.

    Raises:
        ValidationFailedError: It is not (the message names ``field`` and the reason).
    """
    if value is None:
        return None
    problem = text_problem(value, single_line=single_line)
    if problem is None and len(value) > max_length:
        problem = f"is longer than {max_length} characters"
    if problem is not None:
        raise ValidationFailedError(f"Invalid '{field}': {problem}")
    return value


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What makes ``value`` (parsed JSON) unacceptable, or ``None`` when it is fine (see the module
    docstring). Walks the document level by level without recursion, so any depth is safe to
    inspect; the strings and keys of a level are checked together, in one pass over their text."""
    level: list[Any] = [value]
    depth = 0
    while level:
        following: list[Any] = []
        texts: list[str] = []
        for item in level:
            kind = type(item)
            if kind is str:
                texts.append(item)
            elif kind is dict:
                if depth >= max_depth:
                    return f"it is nested deeper than {max_depth} levels"
                if not all(type(key) is str for key in item):
                    return "an object key is not a string"
                texts.extend(item)
                following.extend(item.values())
            elif kind is list or kind is tuple:
                if depth >= max_depth:
                    return f"it is nested deeper than {max_depth} levels"
                following.extend(item)
            elif kind is float:
                if not math.isfinite(item):
                    return "NaN and Infinity are not JSON numbers"
            elif kind is int:
                if not INT64_MIN <= item <= INT64_MAX:
                    return "an integer is outside the 64-bit range"
            elif item is None or kind is bool:
                continue
            elif isinstance(item, str):  # str subclasses (enums)
                texts.append(str(item))
            else:
                return f"a {kind.__name__} is not a JSON value"
        problem = storable_text_problem("".join(texts)) if texts else None
        if problem:
            return f"a string {problem}"
        level = following
        depth += 1
    return None


def check_json(value: Any, field: str) -> Any:
    """Return ``value`` if it is a JSON document every backend can hold.

    Raises:
        ValidationFailedError: It is not.
    """
    problem = json_problem(value)
    if problem is not None:
        raise ValidationFailedError(f"Invalid '{field}': {problem}")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: str | bytes, field: str) -> Any:
    """Parse JSON text sent inside a form field or a file, with the rules of :func:`check_json`.

    Raises:
        ValidationFailedError: Not JSON (the message says where), or not acceptable.
    """
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationFailedError(f"Invalid '{field}': it is nested deeper than {MAX_JSON_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailedError(f"The '{field}' field is not valid JSON: {exc}")
    return check_json(value, field)


def storable_json(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` (JSON-like data *derived from a file*: DICOM or NIfTI header fields) that
    every backend can hold: NUL characters dropped from strings (DICOM pads text with them), lone
    surrogates replaced by U+FFFD, NaN and infinite numbers (a NIfTI ``scl_slope`` of NaN) and
    integers beyond 64 bits turned into ``None`` and strings. What a client *sends* is refused
    instead (:func:`check_json`); what a file says is kept as well as it can be. Containers deeper
    than :data:`MAX_JSON_DEPTH` become ``None``."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", "")) if storable_text_problem(value) else value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list, tuple)) and _depth >= MAX_JSON_DEPTH:
        return None
    # Plain ASCII text without NUL, most of a DICOM header's values, is kept as it is without a call each.
    if isinstance(value, dict):
        return {(k if type(k) is str and k.isascii() and "\x00" not in k else storable_json(str(k))):
                (v if type(v) is str and v.isascii() and "\x00" not in v else storable_json(v, _depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) is str and v.isascii() and "\x00" not in v else storable_json(v, _depth + 1)
                for v in value]
    return value


# -- pydantic types ------------------------------------------------------------------------------


def _single_line(value: str) -> str:
    problem = text_problem(value, single_line=True)
    if problem:
        raise ValueError(f"Value {problem}")
    return value


def _multi_line(value: str) -> str:
    problem = text_problem(value, single_line=False)
    if problem:
        raise ValueError(f"Text {problem}")
    return value


def _json_document(value: Any) -> Any:
    problem = json_problem(value)
    if problem:
        raise ValueError(f"JSON value refused: {problem}")
    return value


def line(max_length: int = MAX_LINE, min_length: int = 0) -> Any:
    """The type of one line of text (names, identifiers, emails, ids, filters): no control
    characters, ``min_length`` to ``max_length`` characters (the column's length)."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length),
                     AfterValidator(_single_line)]


def text(max_length: int = MAX_TEXT) -> Any:
    """The type of free text that may span lines (descriptions, messages): tab, CR and LF allowed."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_multi_line)]


#: One line of at most :data:`MAX_LINE` characters.
Line = line(MAX_LINE)
#: Multi-line text of at most :data:`MAX_TEXT` characters.
Text = text(MAX_TEXT)
#: Any JSON value (see :func:`json_problem`).
JsonValue = Annotated[Any, AfterValidator(_json_document)]
#: A JSON object (see :func:`json_problem`).
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_document)]


class RequestBody(BaseModel):
    """Base of every JSON request body: its whole input is checked by :func:`json_problem` before
    its fields are (so no string anywhere in it holds a NUL or a lone surrogate, no number is NaN),
    and float fields refuse NaN and Infinity."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _whole_document(cls, data: Any) -> Any:
        problem = json_problem(data) if isinstance(data, (dict, list)) else None  # others: the fields say
        if problem:
            raise ValueError(f"JSON value refused: {problem}")
        return data


# -- query and path parameters ---------------------------------------------------------------------


def check_request_values(request: Request) -> None:
    """Application-wide dependency: every query parameter (names and values) and path parameter of
    every route is one line of text (they reach SQL filters, headers and logs).

    Raises:
        ValidationFailedError: One is not; the message names it.
    """
    for name, value in request.query_params.multi_items():
        problem = text_problem(name) or text_problem(value)
        if problem:
            raise ValidationFailedError(f"Invalid query parameter '{_printable(name)}': {problem}")
    for name, value in request.path_params.items():
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise ValidationFailedError(f"Invalid path parameter '{name}': {problem}")


def _printable(text: str) -> str:
    """``text`` with control characters and surrogates escaped, for error messages and logs."""
    return _SURROGATE.sub("\ufffd", _ANY_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))[:100]

"""``storable_json`` (what a file's header fields become before they are stored) keeps plain ASCII
text without a call per value: the result must be what the plain recursive rule gives, value for
value and type for type, on text with NUL, surrogates and other scripts, str subclasses (pydicom's
UIDs), numbers out of range, NaN, non-text keys and containers nested past the depth limit."""

from __future__ import annotations

import math
from typing import Any

from pydicom.uid import UID

from datamint.server.common.values import _SURROGATE, INT64_MAX, MAX_JSON_DEPTH, storable_json, storable_text_problem


def _reference(value: Any, depth: int = 0) -> Any:
    """The rule as it was written before the shortcut: one recursive call per value."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", "")) if storable_text_problem(value) else value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {_reference(str(k)): _reference(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reference(v, depth + 1) for v in value]
    return value


def _typed(value: Any) -> Any:
    """``value`` with the type of every part, so that ``1 == 1.0 == True`` and ``UID == str`` differ."""
    if isinstance(value, dict):
        return {_typed(k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value if not (isinstance(value, float) and math.isnan(value)) else "nan")


class _Text(str):
    """A str subclass, as pydicom's values are."""


_TEXTS = ["", "CT", "A\x00", "\x00", "é", "é\x00", "\ud800", "a\udfffb", "1.2.3", UID("1.2.840.10008.1.2"),
          _Text("1.2\x00"), "日本"]
_LEAVES = [*_TEXTS, 0, 1, -5, 2**63, -(2**63) - 1, 2**63 - 1, 1.5, float("nan"), float("inf"), True, False, None,
           b"raw", 3 + 0j]


def test_every_value_is_made_storable_as_the_plain_rule_makes_it() -> None:
    documents: list[Any] = [*_LEAVES, list(_LEAVES), tuple(_LEAVES),
                            {str(i): leaf for i, leaf in enumerate(_LEAVES)},
                            {text: text for text in _TEXTS if isinstance(text, str)},
                            {1: "a", 2.5: "b", None: "c", UID("1.2"): ["x\x00", {"k\x00": "v"}]},
                            {"meta": {"Modality": "CT", "ImagePositionPatient": [-250.0, 0.0, 1.25],
                                      "PatientName": "Doe^Jane\x00", "SeriesNumber": 1}}]
    nested: Any = "deep"
    for _ in range(MAX_JSON_DEPTH + 3):
        nested = {"d": nested, "l": ["x\x00", "y"]} if len(documents) % 2 else ["x", nested]
        documents.append(nested)
    for document in documents:
        assert _typed(storable_json(document)) == _typed(_reference(document)), document

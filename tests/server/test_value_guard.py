"""The statement-parameter guard (db/values.py): both databases refuse what PostgreSQL cannot hold,
before the statement is sent, as a 422 naming the column; and the value rules it shares with the
edge (common/values.py)."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from datamint.server.common.values import check_json, json_problem, parse_json, text_problem
from datamint.server.db.base import JsonType
from datamint.server.db.session import make_engine
from datamint.server.errors import ValidationFailedError

from conftest import BACKENDS, fresh_pg_database

METADATA = sa.MetaData()
NOTES = sa.Table("guard_notes", METADATA, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(5)), sa.Column("body", sa.Text), sa.Column("doc", JsonType))


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    if request.param == "postgresql":
        with fresh_pg_database() as url:
            eng = make_engine(url)
            METADATA.create_all(eng)
            yield eng
            eng.dispose()
    else:
        eng = make_engine(f"sqlite:///{tmp_path / 'guard.sqlite3'}")
        METADATA.create_all(eng)
        yield eng
        eng.dispose()


@pytest.mark.parametrize(("values", "message"), [
    ({"name": "abcdef"}, "Invalid 'name': is longer than 5 characters"),
    ({"body": "a\x00b"}, "Invalid 'body': contains a NUL character"),
    ({"body": "a\ud800b"}, "Invalid 'body': contains a lone UTF-16 surrogate"),
    ({"doc": {"a": math.nan}}, "Invalid 'doc': NaN and Infinity are not JSON numbers"),
    ({"doc": {"a": "\x00"}}, "Invalid 'doc': a string contains a NUL character"),
    ({"doc": {"a": 2**64}}, "Invalid 'doc': an integer is outside the 64-bit range"),
])
def test_writes_postgresql_would_refuse_are_refused_on_both(engine, values, message):
    with pytest.raises(ValidationFailedError) as caught, engine.begin() as conn:
        conn.execute(NOTES.insert().values(id=1, **values))
    assert caught.value.message.startswith(message)
    assert caught.value.status_code == 422
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(NOTES)).scalar_one() == 0


def test_acceptable_values_are_written_and_long_filters_only_match_nothing(engine):
    with engine.begin() as conn:
        conn.execute(NOTES.insert().values(id=1, name="abcde", body="line 1\r\nline\t2 \x1b", doc={"deep": [[1.5]]}))
        conn.execute(NOTES.update().where(NOTES.c.id == 1).values(name="vwxyz"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(NOTES.c.name, NOTES.c.body)).one() == ("vwxyz", "line 1\r\nline\t2 \x1b")
        # A filter longer than the column is no write: it simply matches nothing.
        assert conn.execute(sa.select(NOTES.c.id).where(NOTES.c.name == "x" * 50)).all() == []
    with pytest.raises(ValidationFailedError, match="NUL"), engine.connect() as conn:
        conn.execute(sa.select(NOTES.c.id).where(NOTES.c.name == "a\x00"))


def test_errors_never_carry_the_statement_parameters(engine):
    with engine.begin() as conn:
        conn.execute(NOTES.insert().values(id=1, name="x"))
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(NOTES.insert().values(id=1, name="s3cr3"))
    assert "s3cr3" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


@pytest.mark.parametrize(("text", "single_line", "problem"), [
    ("plain", True, None),
    ("tab\there", True, "contains control characters (line breaks are not allowed here)"),
    ("two\nlines", False, None),
    ("bell\x07", False, "contains control characters"),
    ("nul\x00", False, "contains a NUL character"),
    ("\udfff", False, "contains a lone UTF-16 surrogate (not valid Unicode text)"),
    ("\u202eright-to-left and emoji \U0001f600", True, None),
])
def test_text_rules(text, single_line, problem):
    assert text_problem(text, single_line=single_line) == problem


def test_json_rules():
    assert json_problem({"a": [1, 2.5, None, True, "x\ny"]}) is None
    assert json_problem([[]] * 3) is None
    nested: list = []
    for _ in range(5000):  # far deeper than Python's recursion limit: inspected without recursion
        nested = [nested]
    assert json_problem(nested) == "it is nested deeper than 32 levels"
    assert json_problem({"\ud800": 1}) == "a string contains a lone UTF-16 surrogate (not valid Unicode text)"
    assert json_problem({1: 1}) == "an object key is not a string"
    assert json_problem({"a": b"bytes"}) == "a bytes is not a JSON value"
    assert json_problem({"a": -math.inf}) == "NaN and Infinity are not JSON numbers"
    with pytest.raises(ValidationFailedError, match="'metadata': NaN and Infinity are not JSON numbers"):
        parse_json('{"a": 1e999}', "metadata")  # overflows to infinity
    with pytest.raises(ValidationFailedError, match="'metadata' field is not valid JSON: NaN is not a JSON number"):
        parse_json('{"a": NaN}', "metadata")
    with pytest.raises(ValidationFailedError, match="nested deeper than 32 levels"):
        parse_json("[" * 100_000 + "]" * 100_000, "payload")
    assert check_json({"ok": ["é", 1]}, "doc") == {"ok": ["é", 1]}

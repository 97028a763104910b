"""The one ISO time parser behind every from/to/as_of filter."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from datamint.server.common.times import parse_time
from datamint.server.errors import ValidationFailedError

UTC = timezone.utc


def test_dates_and_date_times():
    assert parse_time(None, "from") is None and parse_time("", "from") is None
    assert parse_time("2026-01-31", "from") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_time(" 2026-01-31 ", "to", whole_day=True) == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_time("2026-01-31T12:30:00Z", "to", whole_day=True) == datetime(2026, 1, 31, 12, 30, tzinfo=UTC)
    assert parse_time("2026-01-31T12:30:00", "x") == datetime(2026, 1, 31, 12, 30, tzinfo=UTC)
    assert parse_time("2026-01-31T14:30:00+02:00", "x") == datetime(2026, 1, 31, 12, 30, tzinfo=UTC)


def test_malformed_values_name_the_parameter():
    with pytest.raises(ValidationFailedError, match="'as_of_timestamp'.*yesterday"):
        parse_time("yesterday", "as_of_timestamp")
    with pytest.raises(ValidationFailedError, match="'to'"):
        parse_time("2026-13-01", "to")

"""ISO 8601 times in query parameters and bodies: one parser for every ``from``/``to``/``as_of`` filter."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from datamint.server.errors import ValidationFailedError


def parse_time(value: str | None, name: str, *, whole_day: bool = False) -> datetime | None:
    """A UTC time from an ISO date (``2026-01-31``) or date-time (``2026-01-31T12:00:00Z``).

    Args:
        value: The text received; ``None`` or empty means "no bound".
        name: The parameter's name, for the error message.
        whole_day: For an upper bound given as a bare date, return the start of the next day so that
            the bound covers the whole day; otherwise a bare date means its midnight.

    Returns:
        A timezone-aware time in UTC (times without an offset are taken as UTC), or ``None``.

    Raises:
        ValidationFailedError: The value is neither an ISO date nor an ISO date-time, or it lies
            outside years 1 to 9999 once converted to UTC.
    """
    if value in (None, ""):
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if whole_day else day, time.min)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailedError(f"Invalid '{name}': {str(value)[:64]!r} is not an ISO date such as 2026-01-31 "
                                    "or a date-time such as 2026-01-31T12:00:00Z")
    except OverflowError:  # the day after 9999-12-31
        raise _out_of_range(name, value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        raise _out_of_range(name, value)


def _out_of_range(name: str, value: str) -> ValidationFailedError:
    return ValidationFailedError(f"Invalid '{name}': {str(value)[:64]!r} is outside the supported range "
                                 "of times (years 1 to 9999, in UTC)")

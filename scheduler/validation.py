"""Small parsers shared by controllers: they turn raw path and query values into typed ones or a 4xx."""

from __future__ import annotations

import datetime as dt
import uuid

from scheduler.errors import InvalidInput, NotFound

# The calendar Carebook works in: far wider than any visit, time off or date of birth, and narrow enough
# that a day's arithmetic and any UTC offset stay inside what `datetime` can hold (years 1 to 9999).
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    """An id from a URL. A malformed id names nothing that exists, so it reads as 404 like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such object.", field=field) from None


def parse_uuid_field(raw: str, field: str) -> uuid.UUID:
    """An id in a request body or query: malformed is bad input (400) naming the field."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidInput("This is not a valid id.", field=field) from None


def check_day(day: dt.date, field: str) -> dt.date:
    """A date inside Carebook's calendar, or a 400 naming the field (year 1 or 9999 is nobody's appointment)."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidInput(f"Use a date from {EARLIEST_DAY.year} to {LATEST_DAY.year}.", field=field)
    return day


def check_instant(value: dt.datetime, field: str) -> dt.datetime:
    """An instant inside Carebook's calendar (judged by its own local date), or a 400 naming the field."""
    check_day(value.date(), field)
    return value

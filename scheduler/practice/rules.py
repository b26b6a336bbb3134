"""The rules of practice set-up as plain functions: ranges, codes, local times, weekly hours, instants.

No framework or database here; each check raises `InvalidInput`/`RuleViolation` naming the field at
fault, so the API and the owner pages report the same thing the same way.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, get_currency_precision

from scheduler.errors import InvalidInput, RuleViolation
from scheduler.format import format_clock, format_clock_range, format_long_day, zone_name
from scheduler.validation import check_day, check_instant

DURATION_MINUTES = (5, 480)
BUFFER_MINUTES = (0, 120)
# Minor units; keeps every price inside a 32-bit column whatever the currency.
PRICE = (0, 100_000_000)
MIN_NOTICE_MINUTES = (0, 10_080)
HORIZON_DAYS = (1, 730)
CANCELLATION_WINDOW_HOURS = (0, 168)
SLOT_GRANULARITIES = (5, 10, 15, 20, 30, 60)
WEEKDAYS = (0, 6)

_CPT_RE = re.compile(r"^\d{5}$")
_NPI_RE = re.compile(r"^\d{10}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::00)?$")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def int_in_range(value: int, bounds: tuple[int, int], field: str) -> int:
    low, high = bounds
    # bool is an int to Python but never a count of minutes.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"Use a whole number from {low} to {high}.", field=field)
    return value


def slot_granularity(value: int, field: str = "slot_granularity_minutes") -> int:
    if isinstance(value, bool) or value not in SLOT_GRANULARITIES:
        allowed = ", ".join(str(v) for v in SLOT_GRANULARITIES)
        raise InvalidInput(f"Use one of {allowed} minutes.", field=field)
    return value


def text(value: str, field: str, *, max_length: int, required: bool = False) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidInput("This cannot be empty.", field=field)
    if len(cleaned) > max_length:
        raise InvalidInput(f"Use at most {max_length} characters.", field=field)
    return cleaned


def price_from_amount(amount: str, currency: str, field: str = "price") -> int:
    """An amount typed in currency units ('120', '120.50') as integer minor units; never through a float."""
    cleaned = amount.strip().replace(",", "")
    precision = get_currency_precision(currency)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput("Enter an amount like 120.00.", field=field) from None
    minor = value.scaleb(precision)
    if not value.is_finite() or minor != minor.to_integral_value():
        raise InvalidInput(f"Use at most {precision} decimal places.", field=field)
    return int_in_range(int(minor), PRICE, field)


def amount_from_price(price: int, currency: str) -> str:
    """Minor units as the plain amount a form shows ('120.00')."""
    precision = get_currency_precision(currency)
    return f"{Decimal(price).scaleb(-precision):.{precision}f}"


def format_price(price: int, currency: str, locale: str = "en_US") -> str:
    return str(format_currency(Decimal(price).scaleb(-get_currency_precision(currency)), currency, locale=locale))


def cpt_code(value: str | None, field: str = "cpt_code") -> str | None:
    """A CPT code is five digits; empty means the service has none."""
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if not _CPT_RE.match(cleaned):
        raise InvalidInput("A CPT code is five digits, e.g. 97124.", field=field)
    return cleaned


def npi_check_digit_ok(npi: str) -> bool:
    """The NPI check digit: Luhn over the number prefixed with 80840 (the US health-industry prefix)."""
    total = 0
    for position, char in enumerate(reversed("80840" + npi)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def npi(value: str | None, field: str = "npi") -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if not _NPI_RE.match(cleaned) or not npi_check_digit_ok(cleaned):
        raise InvalidInput("An NPI is ten digits with a valid check digit.", field=field)
    return cleaned


def ein(value: str, field: str = "ein") -> str:
    """An employer identification number as the IRS prints it, 'NN-NNNNNNN' (the dash optional on input)."""
    digits = re.sub(r"[\s-]", "", value or "")
    if not digits:
        return ""
    if not re.fullmatch(r"[0-9]{9}", digits):
        raise InvalidInput("An EIN is nine digits, e.g. 12-3456789.", field=field)
    return f"{digits[:2]}-{digits[2:]}"


def local_time(value: str, field: str) -> dt.time:
    """A wall-clock time as 'HH:MM' (24-hour)."""
    match = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("Use a 24-hour time like 09:00.", field=field)
    return dt.time(int(match.group(1)), int(match.group(2)))


def hhmm(value: dt.time) -> str:
    """A time of day as the API and form fields carry it: '09:00' (people read `scheduler.format`'s forms)."""
    return value.strftime("%H:%M")


def local_day(value: str, field: str) -> dt.date:
    """A calendar date as 'YYYY-MM-DD'."""
    cleaned = value.strip() if isinstance(value, str) else ""
    if not _DAY_RE.match(cleaned):
        raise InvalidInput("Use a date like 2025-03-14.", field=field)
    try:
        day = dt.date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput("That date does not exist.", field=field) from None
    return check_day(day, field)


def instant(value: dt.datetime, field: str) -> dt.datetime:
    """An instant must say which one: a datetime without a UTC offset is ambiguous and refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("Include a UTC offset, e.g. 2025-03-14T09:00:00-04:00.", field=field)
    return check_instant(value, field).astimezone(dt.UTC)


def parse_instant(value: str, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("Use an ISO 8601 date and time with offset.", field=field) from None
    return instant(parsed, field)


def local_to_utc(day: dt.date, time: dt.time, zone: str, field: str, *, later: bool = False) -> dt.datetime:
    """A local wall time in `zone` as a UTC instant.

    A time that does not exist (the spring-forward gap) is refused. A time that happens twice (the
    autumn fold) is resolved explicitly: the earlier of the two, or the later one with `later=True`.
    """
    tz = ZoneInfo(zone)
    wall = dt.datetime.combine(day, time).replace(tzinfo=tz, fold=1 if later else 0)
    utc = wall.astimezone(dt.UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise InvalidInput(
            f"{format_clock(time)} does not exist on {format_long_day(day)} in {zone_name(tz)}"
            " (the clocks go forward).",
            field=field,
        )
    return utc


def ordered(start: dt.time, end: dt.time, field: str) -> None:
    if start >= end:
        raise InvalidInput("The end must be after the start.", field=field)


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """One interval of a therapist's regular week, in local wall time (weekday 0 = Monday)."""

    weekday: int
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True)
class RawInterval:
    weekday: int
    start: str
    end: str


def weekly_hours(items: Sequence[RawInterval], prefix: str = "items") -> list[WeeklyInterval]:
    """Check a whole week: each interval well-formed, and no two overlapping on the same weekday.

    Touching intervals (09:00-12:00 and 12:00-17:00) are fine; the returned list is sorted.
    """
    parsed: list[tuple[int, WeeklyInterval]] = []
    for index, item in enumerate(items):
        at = f"{prefix}[{index}]"
        weekday = int_in_range(item.weekday, WEEKDAYS, f"{at}.weekday")
        start = local_time(item.start, f"{at}.start")
        end = local_time(item.end, f"{at}.end")
        ordered(start, end, f"{at}.end")
        parsed.append((index, WeeklyInterval(weekday, start, end)))
    by_start = sorted(parsed, key=lambda pair: (pair[1].weekday, pair[1].start, pair[0]))
    for (_, before), (index, after) in itertools.pairwise(by_start):
        if before.weekday == after.weekday and after.start < before.end:
            raise RuleViolation(
                f"Overlaps {format_clock_range(before.start, before.end)} on the same weekday.",
                rule="overlapping_hours",
                field=f"{prefix}[{index}].start",
            )
    return [interval for _, interval in by_start]


def overlaps_any(start: dt.time, end: dt.time, existing: Sequence[tuple[dt.time, dt.time]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in existing)

"""How pages show money, times and zones: integer minor units in, the text a client reads out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from scheduler.web.format import (
    format_day,
    format_day_range,
    format_long_day,
    format_money,
    format_time,
    format_time_range,
    format_when,
    tel_href,
    zone_name,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (12000, "USD", "$120.00"),
        (0, "USD", "$0.00"),
        (5, "USD", "$0.05"),
        (123456789, "USD", "$1,234,567.89"),
        (12050, "EUR", "€120.50"),
        (1200, "JPY", "¥1,200"),  # no minor unit
        (1234, "KWD", "KWD1.234"),  # three decimals (CLDR en_US has no KWD symbol)
    ],
)
def test_money_uses_each_currency_precision(minor: int, currency: str, shown: str) -> None:
    assert format_money(minor, currency) == shown


def test_times_are_shown_in_the_practice_zone() -> None:
    utc = dt.datetime(2027, 3, 2, 14, 0, tzinfo=dt.UTC)
    assert format_time(utc, NEW_YORK) == "9:00 AM"
    assert format_time_range(utc, utc + dt.timedelta(hours=3, minutes=30), NEW_YORK) == "9:00 AM \u2013 12:30 PM"
    assert format_when(utc, NEW_YORK) == "Tuesday, March 2, 2027 at 9:00 AM"


def test_both_halves_of_the_autumn_fold_read_as_the_same_wall_time() -> None:
    first = dt.datetime(2027, 11, 7, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    second = first + dt.timedelta(hours=1)  # 01:30 EST
    assert format_time(first, NEW_YORK) == format_time(second, NEW_YORK) == "1:30 AM"


def test_days_and_weeks() -> None:
    assert format_day(dt.date(2027, 3, 2)) == "Tuesday, March 2"
    assert format_long_day(dt.date(2027, 3, 2)) == "Tuesday, March 2, 2027"
    assert format_day_range(dt.date(2027, 12, 29), dt.date(2028, 1, 4)) == "Dec 29 \u2013 Jan 4, 2028"


def test_zone_and_phone() -> None:
    assert zone_name(NEW_YORK) == "Eastern Time"
    assert tel_href("+1 (718) 555-0142") == "tel:+17185550142"

"""How pages show money, times and zones: integer minor units in, the text a client reads out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from scheduler.format import (
    FILTERS,
    format_axis_time,
    format_clock,
    format_clock_range,
    format_date,
    format_day,
    format_day_range,
    format_long_day,
    format_money,
    format_short_when,
    format_stamp,
    format_time,
    format_time_range,
    format_visit_when,
    format_wall_stamp,
    format_weekday_date,
    format_weekday_day,
    format_weekday_when,
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


@pytest.mark.parametrize(
    ("clock", "shown"),
    [
        (dt.time(0, 0), "12:00 AM"),
        (dt.time(9, 0), "9:00 AM"),
        (dt.time(10, 30), "10:30 AM"),
        (dt.time(12, 0), "12:00 PM"),
        (dt.time(17, 45), "5:45 PM"),
    ],
)
def test_wall_clock_times_read_in_twelve_hours(clock: dt.time, shown: str) -> None:
    assert format_clock(clock) == shown


def test_working_hours_read_as_a_range() -> None:
    assert format_clock_range(dt.time(9), dt.time(17)) == "9:00 AM \u2013 5:00 PM"


@pytest.mark.parametrize(
    ("clock", "shown"),
    [
        (dt.time(0), "12 AM"),
        (dt.time(8), "8 AM"),
        (dt.time(12), "12 PM"),
        (dt.time(18), "6 PM"),
        (dt.time(9, 15), "9:15 AM"),  # off the hour the minutes stay
    ],
)
def test_grid_axis_labels_drop_the_minutes_on_the_hour(clock: dt.time, shown: str) -> None:
    assert format_axis_time(clock) == shown


def test_short_dates() -> None:
    assert format_weekday_day(dt.date(2027, 3, 2)) == "Tue, Mar 2"
    assert format_weekday_date(dt.date(2027, 3, 2)) == "Tue, Mar 2, 2027"
    assert format_date(dt.date(2027, 3, 2)) == "Mar 2, 2027"
    assert format_date(dt.date(2027, 12, 31)) == "Dec 31, 2027"


def test_visits_and_stamps_are_shown_in_the_practice_zone() -> None:
    utc = dt.datetime(2027, 3, 2, 15, 30, tzinfo=dt.UTC)  # 10:30 EST
    visit = format_visit_when(utc, utc + dt.timedelta(hours=1), NEW_YORK)
    assert visit == "Tuesday, March 2, 2027, 10:30 AM \u2013 11:30 AM"
    assert format_short_when(utc, NEW_YORK) == "Tue, Mar 2, 10:30 AM"
    assert format_weekday_when(utc, NEW_YORK) == "Tue, Mar 2, 2027, 10:30 AM"
    # 1:30 AM UTC on Mar 3 is still the evening of Mar 2 in New York.
    assert format_weekday_when(utc + dt.timedelta(hours=10), NEW_YORK) == "Tue, Mar 2, 2027, 8:30 PM"
    assert format_stamp(utc, NEW_YORK) == "Mar 2, 2027, 10:30 AM"
    assert format_stamp(utc, NEW_YORK, with_zone=True) == "Mar 2, 2027, 10:30 AM EST"
    assert format_stamp(utc + dt.timedelta(days=30), NEW_YORK, with_zone=True) == "Apr 1, 2027, 11:30 AM EDT"
    assert format_wall_stamp(dt.datetime(2027, 3, 2, 9, 0)) == "Mar 2, 2027, 9:00 AM"


def test_a_visit_late_in_the_evening_keeps_its_local_day() -> None:
    utc = dt.datetime(2027, 3, 3, 2, 0, tzinfo=dt.UTC)  # 21:00 EST on March 2
    assert format_visit_when(utc, utc + dt.timedelta(hours=1), NEW_YORK) == (
        "Tuesday, March 2, 2027, 9:00 PM \u2013 10:00 PM"
    )


def test_templates_get_the_same_formats_as_filters() -> None:
    assert FILTERS["date"](dt.date(2027, 3, 2)) == "Mar 2, 2027"
    assert FILTERS["axis_time"](dt.time(9)) == "9 AM"
    assert FILTERS["stamp"](dt.datetime(2027, 3, 2, 14, tzinfo=dt.UTC), NEW_YORK) == "Mar 2, 2027, 9:00 AM"


def test_zone_and_phone() -> None:
    assert zone_name(NEW_YORK) == "Eastern Time"
    assert tel_href("+1 (718) 555-0142") == "tel:+17185550142"

"""The pure rules of practice set-up: hours, times, codes, prices, instants and DST."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.errors import InvalidInput, RuleViolation
from scheduler.practice import rules
from scheduler.practice.rules import RawInterval


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("09:00", dt.time(9)), ("00:00", dt.time(0)), ("23:59", dt.time(23, 59)), ("17:30:00", dt.time(17, 30))],
)
def test_local_time_accepts_24_hour_clock_times(raw: str, expected: dt.time) -> None:
    assert rules.local_time(raw, "start") == expected


@pytest.mark.parametrize("raw", ["9:00", "24:00", "12:60", "9am", "", "12:00:30", "12-00", " "])
def test_local_time_refuses_anything_else_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.local_time(raw, "items[1].end")
    assert caught.value.field == "items[1].end"


def test_a_split_day_and_touching_intervals_are_one_valid_week() -> None:
    week = rules.weekly_hours(
        [
            RawInterval(2, "13:00", "17:00"),
            RawInterval(0, "12:00", "17:00"),
            RawInterval(0, "09:00", "12:00"),
            RawInterval(2, "09:00", "12:00"),
        ]
    )
    assert [(i.weekday, i.start.hour, i.end.hour) for i in week] == [(0, 9, 12), (0, 12, 17), (2, 9, 12), (2, 13, 17)]


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("09:00", "12:00"), ("11:59", "13:00")], "items[1].start"),
        ([("11:00", "13:00"), ("09:00", "17:00")], "items[0].start"),
        ([("09:00", "17:00"), ("10:00", "11:00")], "items[1].start"),
        ([("09:00", "17:00"), ("09:00", "17:00")], "items[1].start"),
    ],
)
def test_overlapping_intervals_on_one_weekday_are_refused(items: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        rules.weekly_hours([RawInterval(3, start, end) for start, end in items])
    assert caught.value.field == field
    assert caught.value.rule == "overlapping_hours"


def test_the_same_hours_on_different_weekdays_do_not_overlap() -> None:
    assert len(rules.weekly_hours([RawInterval(day, "09:00", "17:00") for day in range(7)])) == 7


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (RawInterval(7, "09:00", "17:00"), "items[0].weekday"),
        (RawInterval(-1, "09:00", "17:00"), "items[0].weekday"),
        (RawInterval(1, "17:00", "09:00"), "items[0].end"),
        (RawInterval(1, "09:00", "09:00"), "items[0].end"),
        (RawInterval(1, "nine", "17:00"), "items[0].start"),
    ],
)
def test_a_malformed_interval_names_its_field(item: RawInterval, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.weekly_hours([item])
    assert caught.value.field == field


@pytest.mark.parametrize(("raw", "expected"), [("97124", "97124"), (" 97140 ", "97140"), ("", None), (None, None)])
def test_cpt_codes_are_five_digits_or_none(raw: str | None, expected: str | None) -> None:
    assert rules.cpt_code(raw) == expected


@pytest.mark.parametrize("raw", ["9712", "971240", "9712A", "ABCDE"])
def test_other_cpt_codes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        rules.cpt_code(raw)


def test_npi_needs_ten_digits_and_its_check_digit() -> None:
    assert rules.npi("1234567893") == "1234567893"
    assert rules.npi("") is None
    for bad in ("1234567890", "123456789", "12345678930", "12345abc93"):
        with pytest.raises(InvalidInput):
            rules.npi(bad)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("120", "USD", 12000),
        ("120.5", "USD", 12050),
        ("0.01", "USD", 1),
        ("1,200.00", "USD", 120000),
        ("500", "JPY", 500),
    ],
)
def test_prices_typed_in_currency_units_become_minor_units(amount: str, currency: str, minor: int) -> None:
    assert rules.price_from_amount(amount, currency) == minor
    assert rules.price_from_amount(rules.amount_from_price(minor, currency), currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [("1.234", "USD"), ("1.5", "JPY"), ("-1", "USD"), ("abc", "USD")])
def test_prices_that_are_not_whole_minor_units_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.price_from_amount(amount, currency)
    assert caught.value.field == "price"


def test_ranges_refuse_booleans_and_out_of_range_numbers() -> None:
    assert rules.int_in_range(5, rules.DURATION_MINUTES, "duration_minutes") == 5
    for bad in (4, 481, True):
        with pytest.raises(InvalidInput):
            rules.int_in_range(bad, rules.DURATION_MINUTES, "duration_minutes")
    with pytest.raises(InvalidInput):
        rules.slot_granularity(7)


def test_an_instant_without_offset_is_refused_and_others_become_utc() -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.instant(dt.datetime(2030, 7, 1, 9), "start")
    assert caught.value.field == "start"
    local = dt.datetime(2030, 7, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert rules.instant(local, "start") == dt.datetime(2030, 7, 1, 13, tzinfo=dt.UTC)


def test_a_local_time_in_the_spring_gap_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.local_to_utc(dt.date(2030, 3, 10), dt.time(2, 30), "America/New_York", "start_time")
    assert caught.value.field == "start_time"


def test_a_local_time_in_the_autumn_fold_resolves_as_asked() -> None:
    day, time, zone = dt.date(2030, 11, 3), dt.time(1, 30), "America/New_York"
    earlier = rules.local_to_utc(day, time, zone, "start_time")
    later = rules.local_to_utc(day, time, zone, "end_time", later=True)
    assert earlier == dt.datetime(2030, 11, 3, 5, 30, tzinfo=dt.UTC)
    assert later == dt.datetime(2030, 11, 3, 6, 30, tzinfo=dt.UTC)

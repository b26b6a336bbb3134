"""Recurrence: a plan's frequency becomes occurrences at the same local wall time across DST changes.

DST facts used (2027): America/New_York springs forward Sun 14 March and falls back Sun 7 November;
Europe/Berlin changes Sun 28 March and Sun 31 October; Australia/Sydney (southern hemisphere) ends
daylight time Sun 4 April and starts it Sun 3 October.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.booking import recurrence
from scheduler.booking.recurrence import (
    Frequency,
    Recurrence,
    build_rrule,
    expand,
    expand_rule,
    kind_of,
    local_to_utc,
    parse_frequency,
    rrule_for,
    truncate_rrule,
)
from scheduler.errors import InvalidInput, NonexistentLocalTime

WEEKLY_TU = Frequency("weekly", 1, ("TU",))


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# (zone, first Tuesday two weeks before the change, UTC instants of all 8 sessions at 09:00 local)
DST_CASES = [
    pytest.param(
        "America/New_York",
        "2027-03-02T09:00",
        ["2027-03-02T14:00", "2027-03-09T14:00"]
        + [f"2027-03-{d}T13:00" for d in (16, 23, 30)]
        + ["2027-04-06T13:00", "2027-04-13T13:00", "2027-04-20T13:00"],
        id="new-york-march",
    ),
    pytest.param(
        "America/New_York",
        "2027-10-26T09:00",
        ["2027-10-26T13:00", "2027-11-02T13:00"]
        + [f"2027-11-{d:02d}T14:00" for d in (9, 16, 23, 30)]
        + ["2027-12-07T14:00", "2027-12-14T14:00"],
        id="new-york-november",
    ),
    pytest.param(
        "Europe/Berlin",
        "2027-03-16T09:00",
        ["2027-03-16T08:00", "2027-03-23T08:00", "2027-03-30T07:00"]
        + [f"2027-04-{d:02d}T07:00" for d in (6, 13, 20, 27)]
        + ["2027-05-04T07:00"],
        id="berlin-march",
    ),
    pytest.param(
        "Europe/Berlin",
        "2027-10-19T09:00",
        ["2027-10-19T07:00", "2027-10-26T07:00"]
        + [f"2027-11-{d:02d}T08:00" for d in (2, 9, 16, 23, 30)]
        + ["2027-12-07T08:00"],
        id="berlin-october",
    ),
    pytest.param(
        "Australia/Sydney",
        "2027-03-23T09:00",
        # 09:00 AEDT (+11) is 22:00Z the day before; 09:00 AEST (+10) is 23:00Z the day before.
        ["2027-03-22T22:00", "2027-03-29T22:00"]
        + [f"2027-04-{d:02d}T23:00" for d in (5, 12, 19, 26)]
        + ["2027-05-03T23:00", "2027-05-10T23:00"],
        id="sydney-april",
    ),
    pytest.param(
        "Australia/Sydney",
        "2027-09-21T09:00",
        ["2027-09-20T23:00", "2027-09-27T23:00"]
        + [f"2027-10-{d:02d}T22:00" for d in (4, 11, 18, 25)]
        + ["2027-11-01T22:00", "2027-11-08T22:00"],
        id="sydney-october",
    ),
]


@pytest.mark.parametrize(("zone", "first", "expected_utc"), DST_CASES)
def test_weekly_series_keeps_local_time_across_dst(zone: str, first: str, expected_utc: list[str]) -> None:
    plan = Recurrence(WEEKLY_TU, dt.datetime.fromisoformat(first), zone, sessions=8)
    occurrences = expand(plan)
    assert [o.start for o in occurrences] == [_utc(t) for t in expected_utc]
    assert all(o.start.astimezone(ZoneInfo(zone)).time() == dt.time(9, 0) for o in occurrences)
    assert all(o.local.time() == dt.time(9, 0) and o.local.weekday() == 1 for o in occurrences)
    assert [o.index for o in occurrences] == list(range(1, 9))


@pytest.mark.parametrize(
    ("zone", "gap_time"),
    [
        ("America/New_York", "2027-03-14T02:30"),
        ("Europe/Berlin", "2027-03-28T02:30"),
        ("Australia/Sydney", "2027-10-03T02:30"),
    ],
)
def test_plan_starting_in_a_dst_gap_is_rejected(zone: str, gap_time: str) -> None:
    plan = Recurrence(Frequency("weekly"), dt.datetime.fromisoformat(gap_time), zone, sessions=4)
    with pytest.raises(NonexistentLocalTime) as caught:
        expand(plan)
    assert caught.value.field == "first_start"
    assert caught.value.code == "nonexistent_local_time"
    assert gap_time in caught.value.detail


def test_a_later_session_in_the_gap_rejects_the_whole_plan() -> None:
    # Sunday 02:30 exists on 7 March, not on 14 March.
    plan = Recurrence(Frequency("weekly"), dt.datetime(2027, 3, 7, 2, 30), "America/New_York", sessions=3)
    with pytest.raises(NonexistentLocalTime, match="2027-03-14T02:30"):
        expand(plan)


def test_ambiguous_time_in_the_fold_means_its_first_occurrence() -> None:
    # 01:30 on 7 November 2027 happens twice in New York: first in EDT (05:30Z), then in EST (06:30Z).
    start = local_to_utc(dt.datetime(2027, 11, 7, 1, 30), ZoneInfo("America/New_York"))
    assert start == _utc("2027-11-07T05:30")
    plan = Recurrence(Frequency("weekly"), dt.datetime(2027, 10, 31, 1, 30), "America/New_York", sessions=2)
    assert [o.start for o in expand(plan)] == [_utc("2027-10-31T05:30"), _utc("2027-11-07T05:30")]


@pytest.mark.parametrize(
    ("every", "sessions", "reassessments"),
    [(4, 8, [4, 8]), (3, 8, [3, 6]), (None, 8, []), (1, 3, [1, 2, 3]), (10, 8, [])],
)
def test_every_nth_session_is_a_reassessment(every: int | None, sessions: int, reassessments: list[int]) -> None:
    plan = Recurrence(
        WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=sessions, reassess_every=every
    )
    assert [o.index for o in expand(plan) if o.kind == "reassessment"] == reassessments
    assert kind_of(1, 4) == "treatment"


def test_twice_weekly_every_second_week_and_monthly() -> None:
    twice = Recurrence(Frequency("weekly", 1, ("TU", "TH")), dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=4)
    assert [o.local.date().isoformat() for o in expand(twice)] == [
        "2027-03-02",
        "2027-03-04",
        "2027-03-09",
        "2027-03-11",
    ]
    fortnightly = Recurrence(Frequency("weekly", 2), dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=3)
    assert [o.local.day for o in expand(fortnightly)] == [2, 16, 30]
    monthly = Recurrence(Frequency("monthly"), dt.datetime(2027, 1, 31, 9), "America/New_York", sessions=3)
    # Months without a 31st are skipped, as RFC 5545 does.
    assert [o.local.date().isoformat() for o in expand(monthly)] == ["2027-01-31", "2027-03-31", "2027-05-31"]
    weekdays = Recurrence(Frequency("daily", 1, ("MO", "WE", "FR")), dt.datetime(2027, 3, 1, 9), "UTC", sessions=4)
    assert [o.local.day for o in expand(weekdays)] == [1, 3, 5, 8]


def test_until_date_is_inclusive_and_written_as_utc_until() -> None:
    plan = Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", until=dt.date(2027, 3, 23))
    occurrences = expand(plan)
    assert [o.local.day for o in occurrences] == [2, 9, 16, 23]
    rule = rrule_for(plan, occurrences)
    assert rule == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20270323T130000Z"
    assert [o.start for o in expand_rule(rule, plan.first_start, plan.zone)] == [o.start for o in occurrences]


def test_count_rule_round_trips() -> None:
    plan = Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=8, reassess_every=4)
    occurrences = expand(plan)
    rule = rrule_for(plan, occurrences)
    assert rule == "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8"
    assert expand_rule(rule, plan.first_start, plan.zone, 4) == occurrences


def test_truncating_a_series_keeps_count_or_ends_until_at_the_last_kept() -> None:
    plan = Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=8)
    occurrences = expand(plan)
    assert truncate_rrule("FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8", occurrences[:4]) == (
        "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=4"
    )
    assert truncate_rrule("FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20270420T130000Z", occurrences[:2]) == (
        "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20270309T140000Z"
    )
    with pytest.raises(ValueError, match="at least one"):
        truncate_rrule("FREQ=WEEKLY;COUNT=8", [])


def test_build_rrule_needs_exactly_one_end() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_rrule(WEEKLY_TU, dt.datetime(2027, 3, 2, 9))


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 3, 9), "America/New_York", sessions=8), "first_start"),  # a WE
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9, 0, 30), "America/New_York", sessions=8), "first_start"),
        (
            Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9, tzinfo=dt.UTC), "America/New_York", sessions=8),
            "first_start",
        ),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York"), "sessions"),
        (
            Recurrence(
                WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=2, until=dt.date(2027, 4, 1)
            ),
            "sessions",
        ),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=0), "sessions"),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=261), "sessions"),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", until=dt.date(2027, 3, 1)), "until"),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", until=dt.date(2037, 3, 1)), "until"),
        (Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "Mars/Olympus", sessions=8), "timezone"),
        (
            Recurrence(WEEKLY_TU, dt.datetime(2027, 3, 2, 9), "America/New_York", sessions=8, reassess_every=0),
            "reassess_every",
        ),
    ],
)
def test_bad_plans_name_the_field(plan: Recurrence, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        expand(plan)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("weekly", "frequency"),
        ({"freq": "yearly"}, "frequency.freq"),
        ({"freq": "weekly", "interval": 0}, "frequency.interval"),
        ({"freq": "weekly", "interval": True}, "frequency.interval"),
        ({"freq": "weekly", "interval": "2"}, "frequency.interval"),
        ({"freq": "weekly", "weekdays": ["XX"]}, "frequency.weekdays"),
        ({"freq": "weekly", "weekdays": "TU"}, "frequency.weekdays"),
        ({"freq": "weekly", "weekdays": ["TU", "tu"]}, "frequency.weekdays"),
        ({"freq": "monthly", "weekdays": ["TU"]}, "frequency.weekdays"),
        ({"freq": "weekly", "every": 2}, "frequency.every"),
    ],
)
def test_bad_frequency_names_the_member(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_frequency(raw)
    assert caught.value.field == field


def test_frequency_is_normalised() -> None:
    assert parse_frequency({"freq": "weekly", "weekdays": ["th", "TU"]}) == Frequency("weekly", 1, ("TU", "TH"))
    assert parse_frequency({"freq": "daily", "interval": 3}) == Frequency("daily", 3, ())


def test_recurrence_is_pure() -> None:
    tree = ast.parse(Path(recurrence.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name for name in imported if name.split(".")[0] in {"litestar", "sqlalchemy", "advanced_alchemy"}}

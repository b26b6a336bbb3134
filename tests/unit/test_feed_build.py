"""The feed builder against three independent calendar engines, plus the lint rules calendar apps need."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from scheduler.feeds.build import build_calendar, normalise_rrule, plan_series
from scheduler.feeds.ical import EventView, single_event_calendar
from scheduler.feeds.model import FeedCalendar
from tests import feed_fixtures as fx
from tests.feed_oracles import by_ical, by_icaljs, by_recurring_ical_events, lint, node_available

ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney"]
WINDOW = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2028, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("tzid", ZONES)
def test_recurring_ical_events_reads_every_live_occurrence_across_dst(tzid: str) -> None:
    calendar = fx.zone_calendar(tzid)
    body = build_calendar(calendar)
    assert by_recurring_ical_events(body, *WINDOW, ZoneInfo(tzid)) == fx.expected(calendar)


@pytest.mark.parametrize("tzid", ZONES)
def test_strict_ical_parser_reads_every_live_occurrence_across_dst(tzid: str) -> None:
    calendar = fx.zone_calendar(tzid)
    body = build_calendar(calendar)
    assert by_ical(body, *WINDOW, ZoneInfo(tzid)) == fx.expected(calendar)


@pytest.mark.skipif(not node_available(), reason="ical.js not installed: run `make install`")
@pytest.mark.parametrize("tzid", ZONES)
def test_icaljs_reads_every_live_occurrence_through_our_vtimezone(tzid: str) -> None:
    calendar = fx.zone_calendar(tzid)
    body = build_calendar(calendar)
    assert by_icaljs(body, *WINDOW, ZoneInfo(tzid)) == fx.expected(calendar)


@pytest.mark.parametrize("tzid", ZONES)
def test_feed_passes_the_calendar_app_lint_rules(tzid: str) -> None:
    assert lint(build_calendar(fx.zone_calendar(tzid))) == []


def test_unchanged_data_gives_identical_bytes() -> None:
    assert build_calendar(fx.zone_calendar("Europe/Berlin")) == build_calendar(fx.zone_calendar("Europe/Berlin"))


def test_series_is_one_master_with_exdates_an_override_and_a_standalone_event() -> None:
    series = fx.weekly_series("America/New_York", dt.date(2026, 11, 1))
    plan = plan_series(series)
    first = series.dtstart_local
    week = dt.timedelta(weeks=1)
    assert plan.exdates == [first + fx.CANCELLED * week, first + fx.JUMPED * week, first + fx.SKIPPED * week]
    assert [recurrence for recurrence, _ in plan.overrides] == [first + fx.MOVED * week]
    assert [o.uid for o in plan.standalone] == [f"new_york-202611-{fx.JUMPED}@carebook"]
    body = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(series,))).decode()
    assert body.count("BEGIN:VEVENT") == 3
    assert body.count("RRULE:FREQ=WEEKLY;COUNT=8") == 1
    assert "EXDATE;TZID=America/New_York:20261021T090000\r\n" in body
    assert "RECURRENCE-ID;TZID=America/New_York:20261104T090000\r\n" in body
    assert body.count("SEQUENCE:4\r\n") == 3


def test_every_component_of_a_series_carries_its_new_sequence_after_a_change() -> None:
    series = fx.weekly_series("Europe/Berlin", dt.date(2026, 10, 25))
    before = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(series,)))
    moved = list(series.occurrences)
    moved[0] = dataclasses.replace(moved[0], start_utc=moved[0].start_utc + dt.timedelta(hours=1))
    changed = dataclasses.replace(series, occurrences=tuple(moved), sequence=series.sequence + 1)
    after = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(changed,)))
    assert before != after
    assert b"SEQUENCE:4\r\n" not in after
    assert after.count(b"SEQUENCE:5\r\n") == after.count(b"BEGIN:VEVENT")
    assert lint(after) == []


def test_a_local_until_is_published_in_utc() -> None:
    rule = normalise_rrule("FREQ=WEEKLY;UNTIL=20261201T090000", ZoneInfo("America/New_York"), None)
    assert rule == "FREQ=WEEKLY;UNTIL=20261201T140000Z"


def test_an_unbounded_rule_ends_at_the_feed_horizon() -> None:
    horizon = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert normalise_rrule("FREQ=WEEKLY", ZoneInfo("UTC"), horizon) == "FREQ=WEEKLY;UNTIL=20270101T000000Z"


def test_a_series_with_nothing_live_is_left_out() -> None:
    series = fx.weekly_series("Europe/Berlin", dt.date(2026, 10, 25))
    dead = dataclasses.replace(
        series, occurrences=tuple(dataclasses.replace(o, live=False) for o in series.occurrences)
    )
    body = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(dead,)))
    assert b"BEGIN:VEVENT" not in body


def test_calendar_properties_follow_what_subscribers_need() -> None:
    body = build_calendar(fx.zone_calendar("Australia/Sydney")).decode()
    assert "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert "\r\nX-PUBLISHED-TTL:PT1H\r\n" in body
    assert "\r\nNAME:Feed\r\nX-WR-CALNAME:Feed\r\n" in body
    assert "\r\nUID:feed@carebook\r\n" in body
    assert "METHOD" not in body
    assert "RDATE" not in body


def test_long_lines_fold_at_75_octets_without_splitting_characters() -> None:
    series = fx.weekly_series("Europe/Berlin", dt.date(2026, 10, 25))
    long_name = dataclasses.replace(series, summary="Behandlung für Jürgen Übermütiger " * 6)
    body = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(long_name,)))
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert lint(body) == []
    assert {str(e["SUMMARY"]) for e in Calendar.from_ical(body).walk("VEVENT")} == {long_name.summary}


def test_an_occurrence_with_another_title_is_published_as_an_override() -> None:
    series = fx.weekly_series("Europe/Berlin", dt.date(2026, 10, 25))
    occurrences = list(series.occurrences)
    occurrences[-1] = dataclasses.replace(occurrences[-1], summary="Appointment A.B. (Re-assessment)")
    changed = dataclasses.replace(series, occurrences=tuple(occurrences))
    body = build_calendar(FeedCalendar(name="x", uid="x@carebook", tzid=series.tzid, series=(changed,)))
    assert b"SUMMARY:Appointment A.B. (Re-assessment)\r\n" in body
    assert len(plan_series(changed).overrides) == 2
    assert lint(body) == []


def test_single_appointment_download_is_local_time_with_its_zone_and_a_stable_uid() -> None:
    start = dt.datetime(2027, 3, 16, 13, 0, tzinfo=dt.UTC)  # 09:00 in New York, after the March change
    view = EventView(
        uid="0190-abc@carebook",
        start=start,
        end=start + dt.timedelta(hours=1),
        summary="Therapeutic Massage at Demo",
        location="Demo, 1 Main St",
        description="With Tess. To change or cancel, use the link in your confirmation.",
        sequence=2,
        last_modified=dt.datetime(2027, 3, 1, 12, 0, 0, 123, tzinfo=dt.UTC),
        tzid="America/New_York",
    )
    body = single_event_calendar(view)
    assert body == single_event_calendar(view)
    text = body.decode()
    assert "DTSTART;TZID=America/New_York:20270316T090000\r\n" in text
    assert "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n" in text
    assert "UID:0190-abc@carebook\r\nDTSTAMP:20270301T120000Z\r\n" in text
    assert "SEQUENCE:2\r\n" in text
    assert "REFRESH-INTERVAL" not in text
    assert "X-WR-CALNAME" not in text
    assert lint_single(body) == []
    zone = ZoneInfo("America/New_York")
    window = (start - dt.timedelta(days=1), start + dt.timedelta(days=1))
    assert by_recurring_ical_events(body, *window, zone) == by_ical(body, *window, zone)
    cancelled = single_event_calendar(dataclasses.replace(view, cancelled=True, sequence=3))
    assert b"STATUS:CANCELLED\r\n" in cancelled


def lint_single(body: bytes) -> list[str]:
    return [p for p in lint(body) if "REFRESH-INTERVAL" not in p]

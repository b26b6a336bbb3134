"""Series preview rules without a database: each occurrence checked in order, alternatives nearest first."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from scheduler.booking.availability import (
    BookingPolicy,
    Interval,
    ServiceRule,
    TherapistCalendar,
    WeeklyHours,
)
from scheduler.booking.recurrence import Frequency, Occurrence, Recurrence, expand
from scheduler.booking.series import SeriesCalendar, _Sliced, propose

NY = ZoneInfo("America/New_York")
THERAPIST = uuid.UUID(int=1)
SERVICE = uuid.UUID(int=2)
RULE = ServiceRule(duration=dt.timedelta(minutes=60), buffer_after=dt.timedelta(minutes=15), room_ids=frozenset())
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
WEEKDAYS_9_TO_5 = [WeeklyHours(d, dt.time(9), dt.time(17)) for d in range(5)]


def _utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), NY).astimezone(dt.UTC)


def _calendar(busy: list[tuple[dt.datetime, dt.datetime]], time_off: list[Interval] | None = None) -> SeriesCalendar:
    therapist = TherapistCalendar(THERAPIST, WEEKDAYS_9_TO_5, time_off=time_off or [])
    return SeriesCalendar(
        zone=NY,
        therapist=therapist,
        busy=_Sliced(busy),
        rooms={},
        now=NOW,
        check_policy=BookingPolicy(
            min_notice=dt.timedelta(0), horizon=dt.timedelta(days=3650), granularity=dt.timedelta(minutes=1)
        ),
        alternative_policy=BookingPolicy(
            min_notice=dt.timedelta(0), horizon=dt.timedelta(days=3650), granularity=dt.timedelta(minutes=15)
        ),
    )


def _weekly(first: dt.date, sessions: int) -> list[Occurrence]:
    return expand(Recurrence(Frequency("weekly"), dt.datetime.combine(first, dt.time(10)), NY.key, sessions=sessions))


RULES = {"treatment": (SERVICE, RULE), "reassessment": (SERVICE, RULE)}
TUESDAY = dt.date(2027, 3, 2)


def test_a_busy_hour_gets_the_nearest_free_time_the_same_day() -> None:
    busy = [(_utc(TUESDAY, 10), _utc(TUESDAY, 11, 15))]
    (proposal,) = propose(_calendar(busy), _weekly(TUESDAY, 1), RULES)
    assert proposal.conflict is not None
    assert proposal.conflict.reason == "therapist_busy"
    assert proposal.conflict.alternative is not None
    assert proposal.conflict.alternative.start == _utc(TUESDAY, 11, 15)


def test_a_day_off_moves_to_the_later_neighbouring_day_first() -> None:
    off = [Interval(_utc(TUESDAY, 0), _utc(TUESDAY + dt.timedelta(days=1), 0))]
    (proposal,) = propose(_calendar([], off), _weekly(TUESDAY, 1), RULES)
    assert proposal.conflict is not None
    assert proposal.conflict.reason == "time_off"
    assert proposal.conflict.alternative is not None
    assert proposal.conflict.alternative.start == _utc(TUESDAY + dt.timedelta(days=1), 10)


def test_alternatives_never_collide_with_the_series_own_occurrences() -> None:
    # Daily at 10:00 Mon-Fri; Tuesday 10:00-17:00 is taken, so Tuesday's alternative cannot be that
    # day and cannot be Wednesday 10:00 (the series' own next session): it is Wednesday 11:15.
    monday = dt.date(2027, 3, 1)
    busy = [(_utc(monday + dt.timedelta(days=1), 9), _utc(monday + dt.timedelta(days=1), 17))]
    occurrences = expand(
        Recurrence(
            Frequency("daily", 1, ("MO", "TU", "WE", "TH", "FR")),
            dt.datetime.combine(monday, dt.time(10)),
            NY.key,
            sessions=3,
        )
    )
    proposals = propose(_calendar(busy), occurrences, RULES)
    assert [p.conflict is None for p in proposals] == [True, False, True]
    alternative = proposals[1].conflict.alternative if proposals[1].conflict else None
    assert alternative is not None
    assert alternative.start == _utc(monday + dt.timedelta(days=2), 11, 15)

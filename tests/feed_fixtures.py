"""Weekly series across DST changes, each with a cancelled, a skipped, a moved and a "jumped" occurrence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from scheduler.feeds.model import FeedCalendar, FeedEvent, FeedOccurrence, FeedSeries
from tests.feed_oracles import Occurrence, occurrence

STAMP = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
WEEKS = 8
CANCELLED, MOVED, JUMPED, SKIPPED = 1, 3, 4, 6
MOVED_BY = dt.timedelta(days=1, hours=2)  # stays between its neighbours: an override
JUMPED_BY = dt.timedelta(days=8)  # lands past the next occurrence: a standalone event

# (zone, the local date of a DST change): the series starts 18 days before it, so the change falls
# between the third and the fourth occurrence, and the moved and jumped ones are on the far side.
DST_CHANGES = [
    ("America/New_York", dt.date(2026, 11, 1)),
    ("America/New_York", dt.date(2027, 3, 14)),
    ("Europe/Berlin", dt.date(2026, 10, 25)),
    ("Europe/Berlin", dt.date(2027, 3, 28)),
    ("Australia/Sydney", dt.date(2026, 4, 5)),
    ("Australia/Sydney", dt.date(2026, 10, 4)),
]


def _utc(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return wall.replace(tzinfo=zone).astimezone(dt.UTC)


def weekly_series(tzid: str, change: dt.date, *, sequence: int = 4, use_until: bool = False) -> FeedSeries:
    zone = ZoneInfo(tzid)
    first = dt.datetime.combine(change - dt.timedelta(days=18), dt.time(9, 0))
    key = f"{tzid.split('/')[1].lower()}-{change:%Y%m}"
    occurrences = []
    for index in range(WEEKS):
        wall = first + dt.timedelta(weeks=index)
        start = _utc(wall, zone)
        if index == SKIPPED:
            continue
        if index == MOVED:
            start = _utc(wall + MOVED_BY, zone)
        if index == JUMPED:
            start = _utc(wall + JUMPED_BY, zone)
        occurrences.append(
            FeedOccurrence(
                recurrence_id_local=wall,
                start_utc=start,
                end_utc=start + HOUR,
                live=index != CANCELLED,
                uid=f"{key}-{index}@carebook",
            )
        )
    last = first + dt.timedelta(weeks=WEEKS - 1)
    rule = f"FREQ=WEEKLY;UNTIL={_utc(last, zone):%Y%m%dT%H%M%SZ}" if use_until else f"FREQ=WEEKLY;COUNT={WEEKS}"
    return FeedSeries(
        uid=f"{key}@carebook",
        tzid=tzid,
        dtstart_local=first,
        duration=HOUR,
        rrule=rule,
        sequence=sequence,
        summary="Appointment A.B.",
        location="Room 1, Swedish massage",
        last_modified=STAMP,
        occurrences=tuple(occurrences),
    )


def single(tzid: str, wall: dt.datetime, uid: str) -> FeedEvent:
    start = _utc(wall, ZoneInfo(tzid))
    return FeedEvent(uid, start, start + HOUR, "Appointment C.D.", "Room 2", 0, STAMP)


def zone_calendar(tzid: str) -> FeedCalendar:
    changes = [change for zone, change in DST_CHANGES if zone == tzid]
    series = tuple(weekly_series(tzid, change, use_until=i % 2 == 1) for i, change in enumerate(changes))
    events = (single(tzid, dt.datetime.combine(changes[0], dt.time(14, 0)), f"single-{tzid}@carebook"),)
    return FeedCalendar(name="Feed", uid="feed@carebook", tzid=tzid, events=events, series=series)


def expected(calendar: FeedCalendar) -> list[Occurrence]:
    """What the database holds as live: every live occurrence and every single event."""
    zone = ZoneInfo(calendar.tzid)
    found = [occurrence(e.start, e.end, zone) for e in calendar.events if not e.cancelled]
    found += [occurrence(o.start_utc, o.end_utc, zone) for s in calendar.series for o in s.occurrences if o.live]
    return sorted(found)

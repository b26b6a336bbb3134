"""Building a calendar feed: read model (feeds/model.py) in, deterministic iCalendar bytes out.

Pure: imports neither Litestar nor SQLAlchemy. The rules every calendar app needs (spec ical-feeds.md):
- a series is ONE master VEVENT: DTSTART;TZID (local wall time) + RRULE with COUNT or a UTC UNTIL;
- every rule occurrence without a live appointment (cancelled, no-show, skipped) is an EXDATE in the
  master's TZID and wall time;
- a moved occurrence is an override (same UID, RECURRENCE-ID;TZID = its original local start), unless
  the move jumps onto or past a neighbouring occurrence's day — Outlook cannot show that — then it is a
  standalone VEVENT with the appointment's own UID and the original is EXDATEd;
- every component of a UID carries the series' SEQUENCE; DTSTAMP = LAST-MODIFIED from the data;
- one VTIMEZONE in RRULE form per TZID used; no METHOD.
Same read model, same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import vDuration

from scheduler.feeds.contentlines import fold, local, param, text, utc
from scheduler.feeds.model import FeedCalendar, FeedEvent, FeedOccurrence, FeedSeries
from scheduler.feeds.vtimezone import vtimezone

PRODID = "-//Carebook//Carebook Scheduling//EN"
MAX_RULE_OCCURRENCES = 1000  # a series is a treatment plan, not an open-ended agenda


@dataclass(slots=True)
class SeriesPlan:
    """How one series is published."""

    rrule: str  # normalised: UNTIL in UTC with Z, bounded
    rule_starts: list[dt.datetime]  # naive local starts the rule generates
    exdates: list[dt.datetime] = field(default_factory=list)  # naive local
    overrides: list[tuple[dt.datetime, FeedOccurrence]] = field(default_factory=list)
    standalone: list[FeedOccurrence] = field(default_factory=list)

    @property
    def has_live(self) -> bool:
        return len(self.rule_starts) > len(self.exdates) or bool(self.standalone)


def _zone_utc(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return moment.replace(tzinfo=zone).astimezone(dt.UTC)


def normalise_rrule(rrule: str, zone: ZoneInfo, horizon_utc: dt.datetime | None) -> str:
    """The rule with any UNTIL rewritten in UTC ('…Z'); a rule without COUNT/UNTIL ends at the horizon."""
    parts: list[str] = []
    bounded = False
    for part in rrule.strip().removeprefix("RRULE:").split(";"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.upper()
        if name == "UNTIL":
            bounded = True
            if not value.endswith("Z"):
                # A local UNTIL makes consumers drop the last occurrence; RFC 5545 wants UTC with a TZID start.
                naive = dt.datetime.strptime(value if "T" in value else value + "T235959", "%Y%m%dT%H%M%S")  # noqa: DTZ007
                value = utc(_zone_utc(naive, zone))
        elif name == "COUNT":
            bounded = True
        parts.append(f"{name}={value}")
    if not bounded:
        if horizon_utc is None:
            raise ValueError("an unbounded rule needs a horizon")
        parts.append(f"UNTIL={utc(horizon_utc)}")
    return ";".join(parts)


def rule_starts(series: FeedSeries, rrule: str) -> list[dt.datetime]:
    """The naive local starts the (normalised) rule generates, wall time kept across DST changes.

    The rule is expanded on naive wall time (several times faster than on aware datetimes), with its UTC
    UNTIL turned into the zone's wall time first.
    """
    zone = ZoneInfo(series.tzid)
    parts = []
    for part in rrule.split(";"):
        if part.startswith("UNTIL=") and part.endswith("Z"):
            until = dt.datetime.strptime(part[6:], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            part = "UNTIL=" + local(until.astimezone(zone).replace(tzinfo=None))  # noqa: PLW2901
        parts.append(part)
    rule = rrulestr("RRULE:" + ";".join(parts), dtstart=series.dtstart_local)
    return list(islice(rule, MAX_RULE_OCCURRENCES))


def _jumps(index: int, starts: list[dt.datetime], new_local_day: dt.date) -> bool:
    """True when the new day is on or past the previous or next occurrence's original day."""
    if index > 0 and new_local_day <= starts[index - 1].date():
        return True
    return index + 1 < len(starts) and new_local_day >= starts[index + 1].date()


def plan_series(series: FeedSeries, horizon_utc: dt.datetime | None = None) -> SeriesPlan:
    zone = ZoneInfo(series.tzid)
    rrule = normalise_rrule(series.rrule, zone, horizon_utc)
    starts = rule_starts(series, rrule)
    plan = SeriesPlan(rrule=rrule, rule_starts=starts)
    by_recurrence: dict[dt.datetime, FeedOccurrence] = {}
    positions = {start: i for i, start in enumerate(starts)}
    for occurrence in series.occurrences:
        if not occurrence.live:
            continue
        key = occurrence.recurrence_id_local
        if key is None or key not in positions or key in by_recurrence:
            plan.standalone.append(occurrence)  # not (or no longer) an occurrence of this rule
        else:
            by_recurrence[key] = occurrence
    for index, start in enumerate(starts):
        found = by_recurrence.get(start)
        if found is None:
            plan.exdates.append(start)
            continue
        expected_start = _zone_utc(start, zone)
        unchanged = (
            found.start_utc == expected_start
            and found.end_utc == expected_start + series.duration
            and (found.location is None or found.location == series.location)
            and (found.summary is None or found.summary == series.summary)
        )
        if unchanged:
            continue
        if _jumps(index, starts, found.start_utc.astimezone(zone).date()):
            plan.exdates.append(start)
            plan.standalone.append(found)
        else:
            plan.overrides.append((start, found))
    plan.standalone.sort(key=lambda o: (o.start_utc, o.uid))
    return plan


def _when(name: str, moment: dt.datetime, zone: ZoneInfo, tzid: str) -> str:
    """DTSTART/DTEND as local wall time with TZID; in UTC when the wall time would be ambiguous or missing."""
    wall = moment.astimezone(zone).replace(tzinfo=None)
    if (
        _zone_utc(wall, zone) == moment
        and wall.replace(tzinfo=zone, fold=1).utcoffset() == wall.replace(tzinfo=zone).utcoffset()
    ):
        return f"{name};TZID={param(tzid)}:{local(wall)}"
    return f"{name}:{utc(moment)}"


def _vevent(
    uid: str, stamp: dt.datetime, sequence: int, summary: str, location: str, when: list[str], extra: Iterator[str]
) -> Iterator[str]:
    yield "BEGIN:VEVENT"
    yield f"UID:{text(uid)}"
    yield f"DTSTAMP:{utc(stamp)}"
    yield f"LAST-MODIFIED:{utc(stamp)}"
    yield from when
    yield f"SEQUENCE:{sequence}"
    yield f"SUMMARY:{text(summary)}"
    if location:
        yield f"LOCATION:{text(location)}"
    yield from extra
    yield "END:VEVENT"


def series_lines(series: FeedSeries, horizon_utc: dt.datetime | None = None) -> Iterator[str]:
    plan = plan_series(series, horizon_utc)
    if not plan.has_live:
        return
    zone = ZoneInfo(series.tzid)
    tzid = param(series.tzid)
    confirmed = ("STATUS:CONFIRMED", "TRANSP:OPAQUE")

    def master_extra() -> Iterator[str]:
        yield f"RRULE:{plan.rrule}"
        for exdate in plan.exdates:
            yield f"EXDATE;TZID={tzid}:{local(exdate)}"
        yield from confirmed

    yield from _vevent(
        series.uid,
        series.last_modified,
        series.sequence,
        series.summary,
        series.location,
        [
            f"DTSTART;TZID={tzid}:{local(series.dtstart_local)}",
            f"DTEND;TZID={tzid}:{local(series.dtstart_local + series.duration)}",
        ],
        master_extra(),
    )
    for recurrence_id, moved in plan.overrides:
        yield from _vevent(
            series.uid,
            series.last_modified,
            series.sequence,
            moved.summary or series.summary,
            moved.location or series.location,
            [_when("DTSTART", moved.start_utc, zone, series.tzid), _when("DTEND", moved.end_utc, zone, series.tzid)],
            iter((f"RECURRENCE-ID;TZID={tzid}:{local(recurrence_id)}", *confirmed)),
        )
    for alone in plan.standalone:
        yield from _vevent(
            alone.uid,
            series.last_modified,
            series.sequence,
            alone.summary or series.summary,
            alone.location or series.location,
            [_when("DTSTART", alone.start_utc, zone, series.tzid), _when("DTEND", alone.end_utc, zone, series.tzid)],
            iter(confirmed),
        )


def event_lines(event: FeedEvent, tzid: str) -> Iterator[str]:
    zone = ZoneInfo(tzid)
    extra = [f"DESCRIPTION:{text(event.description)}"] if event.description else []
    extra += ["STATUS:CANCELLED" if event.cancelled else "STATUS:CONFIRMED", "TRANSP:OPAQUE"]
    yield from _vevent(
        event.uid,
        event.last_modified,
        event.sequence,
        event.summary,
        event.location,
        [_when("DTSTART", event.start, zone, tzid), _when("DTEND", event.end, zone, tzid)],
        iter(extra),
    )


def _duration(value: dt.timedelta) -> str:
    serialised: bytes = vDuration(value).to_ical()  # type: ignore[no-untyped-call]
    return serialised.decode()


def build_calendar(calendar: FeedCalendar) -> bytes:
    """The whole VCALENDAR, CRLF-terminated and folded, as UTF-8 bytes."""
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if calendar.uid:
        head.append(f"UID:{text(calendar.uid)}")
    if calendar.name:
        head += [f"NAME:{text(calendar.name)}", f"X-WR-CALNAME:{text(calendar.name)}"]
    if calendar.refresh_interval is not None:
        interval = _duration(calendar.refresh_interval)
        head += [f"REFRESH-INTERVAL;VALUE=DURATION:{interval}", f"X-PUBLISHED-TTL:{interval}"]
    out = [fold(line) for line in head]
    body: list[str] = []
    for series in sorted(calendar.series, key=lambda s: (s.dtstart_local, s.uid)):
        body.extend(fold(line) for line in series_lines(series, calendar.horizon_utc))
    for event in sorted(calendar.events, key=lambda e: (e.start, e.uid)):
        body.extend(fold(line) for line in event_lines(event, calendar.tzid))
    zones = {calendar.tzid} if calendar.events else set()
    zones.update(s.tzid for s in calendar.series)
    out.extend(vtimezone(zone) for zone in sorted(zones))
    out.extend(body)
    out.append(fold("END:VCALENDAR"))
    return "".join(out).encode()

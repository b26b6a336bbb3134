"""VTIMEZONE components in RRULE form, derived from the zoneinfo database and cached per zone.

icalendar's `add_missing_timezones()` writes one RDATE per transition and stops at 2038; Outlook
2007-2019 and ical.js misread that form and shift events by an hour. Here the zone's transitions are
found by scanning zoneinfo, consecutive years that follow the same rule ("second Sunday of March at
02:00") are merged into one DAYLIGHT or STANDARD observance with `RRULE:FREQ=YEARLY;…`, and the
newest rule stays open-ended so it covers every later year.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from scheduler.feeds.contentlines import fold, utc

FIRST_YEAR = 2010  # feeds reach 90 days back; older transitions would only grow every feed
LAST_YEAR = 2040  # a rule still in force in this year is published without an end
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_EPOCH_START = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - local wall time of a VTIMEZONE observance


@dataclass(frozen=True, slots=True)
class Transition:
    at_utc: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    is_dst: bool
    name: str

    @property
    def local_before(self) -> dt.datetime:
        """The wall time just before the change, which is what an observance's DTSTART states."""
        return (self.at_utc + self.offset_from).replace(tzinfo=None)


def transitions(tzid: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> list[Transition]:
    """Every UTC-offset change of the zone between the two years (inclusive), found to the second."""
    zone = ZoneInfo(tzid)
    found: list[Transition] = []
    moment = dt.datetime(first_year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(last_year + 1, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=7)  # no zone changes its offset twice within a week
    before = moment.astimezone(zone).utcoffset() or dt.timedelta(0)
    while moment < end:
        probe = moment + step
        after = probe.astimezone(zone).utcoffset() or dt.timedelta(0)
        if after != before:
            low, high = moment, probe  # offset(low) == before, offset(high) == after
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            local_after = high.astimezone(zone)
            found.append(
                Transition(
                    at_utc=high.replace(microsecond=0),
                    offset_from=before,
                    offset_to=after,
                    # By the clock, not by zoneinfo's dst(): Dublin's winter time is its "negative DST".
                    is_dst=after > before,
                    name=local_after.tzname() or tzid,
                )
            )
        before = after
        moment = probe
    return found


def _day_rules(day: dt.datetime) -> set[str]:
    """The yearly rules this date satisfies: nth weekday, last weekday of the month, or the fixed day."""
    weekday = _WEEKDAYS[day.weekday()]
    rules = {f"BYDAY={(day.day - 1) // 7 + 1}{weekday}", f"BYMONTHDAY={day.day}"}
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        rules.add(f"BYDAY=-1{weekday}")
    return rules


def _preferred(rules: set[str]) -> str:
    for prefix in ("BYDAY=-1", "BYDAY=", "BYMONTHDAY="):
        matching = sorted(r for r in rules if r.startswith(prefix))
        if matching:
            return matching[0]
    raise ValueError("no rule")


def _offset(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _observance(kind: str, first: Transition, rrule: str | None) -> str:
    lines = [
        f"BEGIN:{kind}",
        f"DTSTART:{first.local_before.strftime('%Y%m%dT%H%M%S')}",
        f"TZOFFSETFROM:{_offset(first.offset_from)}",
        f"TZOFFSETTO:{_offset(first.offset_to)}",
        f"TZNAME:{first.name}",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines.append(f"END:{kind}")
    return "".join(fold(line) for line in lines)


def _observances(found: list[Transition], last_year: int) -> list[tuple[dt.datetime, str]]:
    """Group the transitions of one kind (DST start or end) into eras that one yearly rule describes."""
    eras: list[tuple[list[Transition], set[str]]] = []
    for t in found:
        rules = _day_rules(t.local_before)
        if eras:
            members, shared = eras[-1]
            previous = members[-1]
            same_shape = (
                previous.local_before.year + 1 == t.local_before.year
                and previous.local_before.month == t.local_before.month
                and previous.local_before.time() == t.local_before.time()
                and (previous.offset_from, previous.offset_to, previous.name) == (t.offset_from, t.offset_to, t.name)
            )
            if same_shape and shared & rules:
                members.append(t)
                eras[-1] = (members, shared & rules)
                continue
        eras.append(([t], rules))
    out: list[tuple[dt.datetime, str]] = []
    for members, shared in eras:
        first, last = members[0], members[-1]
        kind = "DAYLIGHT" if first.is_dst else "STANDARD"
        if len(members) == 1 and last.local_before.year != last_year:
            rrule = None
        else:
            rrule = f"FREQ=YEARLY;BYMONTH={first.local_before.month};{_preferred(shared)}"
            if last.local_before.year != last_year:
                rrule += f";UNTIL={utc(last.at_utc)}"
        out.append((first.at_utc, _observance(kind, first, rrule)))
    return out


@functools.lru_cache(maxsize=64)
def vtimezone(tzid: str) -> str:
    """The VTIMEZONE component (with CRLFs) for an IANA zone; raises ZoneInfoNotFoundError for an unknown one."""
    found = transitions(tzid)
    body: list[tuple[dt.datetime, str]] = []
    if not found:
        offset = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=ZoneInfo(tzid))
        fixed = offset.utcoffset() or dt.timedelta(0)
        only = Transition(
            at_utc=(_EPOCH_START - fixed).replace(tzinfo=dt.UTC),
            offset_from=fixed,
            offset_to=fixed,
            is_dst=False,
            name=offset.tzname() or tzid,
        )
        body.append((only.at_utc, _observance("STANDARD", only, None)))
    else:
        body.extend(_observances([t for t in found if t.is_dst], LAST_YEAR))
        body.extend(_observances([t for t in found if not t.is_dst], LAST_YEAR))
        body.sort(key=lambda item: item[0])
    return fold("BEGIN:VTIMEZONE") + fold(f"TZID:{tzid}") + "".join(text for _, text in body) + fold("END:VTIMEZONE")

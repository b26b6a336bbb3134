"""The read model a calendar feed is built from: plain frozen dataclasses, no ORM, no framework.

A loader (feeds/services.py) fills these from the database; `build.build_calendar` turns them into
bytes. Everything the published calendar says is here, so what is not here cannot leak.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_REFRESH = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FeedOccurrence:
    """One appointment row of a series, keyed by the rule occurrence it stands for."""

    recurrence_id_local: dt.datetime | None  # naive: ORIGINAL local wall-clock start in the series' zone
    start_utc: dt.datetime  # aware
    end_utc: dt.datetime  # aware
    live: bool  # False for cancelled / no-show: the rule occurrence is then EXDATEd
    uid: str  # the appointment's own UID, used when it has to be published standalone
    location: str | None = None  # None: the series' location
    summary: str | None = None  # None: the series' summary (a re-assessment visit may differ)


@dataclass(frozen=True, slots=True)
class FeedSeries:
    uid: str
    tzid: str  # IANA zone; DTSTART, EXDATE and RECURRENCE-ID are all written in it
    dtstart_local: dt.datetime  # naive wall time of the first rule occurrence
    duration: dt.timedelta
    rrule: str  # RFC 5545 RRULE value without DTSTART; UNTIL (if any) in UTC
    sequence: int  # the series' revision: every component of this UID carries it
    summary: str
    location: str
    last_modified: dt.datetime  # aware; also DTSTAMP
    occurrences: tuple[FeedOccurrence, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A single (non-series) appointment."""

    uid: str
    start: dt.datetime  # aware
    end: dt.datetime  # aware
    summary: str
    location: str
    sequence: int
    last_modified: dt.datetime  # aware; also DTSTAMP
    description: str = ""  # only the client's own single-appointment download uses it; never health details
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class FeedCalendar:
    name: str  # NAME / X-WR-CALNAME; empty for a single-appointment download
    uid: str  # stable calendar UID; empty to omit
    tzid: str  # the practice's zone: single events are written in it
    events: tuple[FeedEvent, ...] = ()
    series: tuple[FeedSeries, ...] = ()
    refresh_interval: dt.timedelta | None = DEFAULT_REFRESH  # None for a one-off download
    # Only used to end a rule that has neither COUNT nor UNTIL, so the feed stays bounded.
    horizon_utc: dt.datetime | None = None

"""Recurrence: owns how a treatment plan's frequency becomes dated occurrences and an RFC 5545 RRULE.

Pure: standard library and python-dateutil only (no web framework, no ORM, no I/O).

Time model
----------
* A series is LOCAL wall time + IANA zone + rule. The rule is expanded on naive local wall times
  (dateutil), so a weekly 09:00 America/New_York series is 09:00 local on both sides of a DST change
  and its UTC instant moves by the offset change (14:00Z in winter, 13:00Z in summer).
* A wall time in a spring-forward gap does not exist: the plan is refused with
  :class:`~scheduler.errors.NonexistentLocalTime` naming ``first_start`` and the date it falls on;
  it is never shifted to the jump.
* An ambiguous wall time (fall-back fold) means its FIRST occurrence (``fold=0``, PEP 495), exactly as
  the availability engine reads working hours. This is explicit, never a silent choice.

Rule shape
----------
``frequency`` is ``{"freq": "weekly"|"daily"|"monthly", "interval": n, "weekdays": ["MO", …]}``:

* weekly: on the given weekdays (default: the first start's weekday) every ``interval`` weeks. The
  first start must fall on one of them (RFC 5545 counts DTSTART as the first occurrence; dateutil does
  not — requiring it keeps both readings the same).
* daily: every ``interval`` days, optionally only on the given weekdays.
* monthly: on the first start's day of the month every ``interval`` months (months without that day
  are skipped, as RFC 5545 does); weekdays are refused.

The series ends after ``sessions`` occurrences (COUNT) or on the local date ``until`` (inclusive). In the
RRULE an end date is written as UNTIL = the UTC instant of the last occurrence, with a trailing ``Z``.

Reassessment cadence
--------------------
With ``reassess_every = N`` the N-th, 2N-th, … occurrences (1-based) are reassessments: a weekly plan of
8 sessions with N = 4 reassesses at sessions 4 and 8 ("re-assess at weeks 4 and 8"). The baseline
evaluation happens before the plan exists, so session 1 is a treatment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du

from scheduler.errors import InvalidInput, NonexistentLocalTime

__all__ = [
    "MAX_OCCURRENCES",
    "WEEKDAYS",
    "Frequency",
    "Occurrence",
    "Recurrence",
    "build_rrule",
    "expand",
    "expand_rule",
    "kind_of",
    "local_to_utc",
    "parse_frequency",
    "truncate_rrule",
]

Freq = Literal["weekly", "daily", "monthly"]
Kind = Literal["treatment", "reassessment"]
WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_OCCURRENCES: Final = 260  # five years of weekly sessions
MAX_INTERVAL: Final = 52
_FREQS: Final[dict[str, Literal[0, 1, 2, 3, 4, 5, 6]]] = {"daily": du.DAILY, "weekly": du.WEEKLY, "monthly": du.MONTHLY}
_RRULE_FREQ: Final = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}
_UTC_FORMAT: Final = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Frequency:
    freq: Freq
    interval: int = 1
    weekdays: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"freq": self.freq, "interval": self.interval, "weekdays": list(self.weekdays)}


@dataclass(frozen=True, slots=True)
class Recurrence:
    """What a plan says about when its sessions happen."""

    frequency: Frequency
    first_start: dt.datetime  # naive local wall time
    zone: str  # IANA name
    sessions: int | None = None
    until: dt.date | None = None
    reassess_every: int | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated occurrence: ``index`` is 1-based; ``local`` its naive wall time (the RECURRENCE-ID);
    ``start`` the aware UTC instant."""

    index: int
    local: dt.datetime
    start: dt.datetime
    kind: Kind


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {name!r}.", field="timezone") from None


def parse_frequency(raw: object, *, field: str = "frequency") -> Frequency:
    """A frequency object from JSON, or an InvalidInput naming the member at fault."""
    if not isinstance(raw, dict):
        raise InvalidInput("Give the frequency as {freq, interval, weekdays}.", field=field)
    unknown = set(raw) - {"freq", "interval", "weekdays"}
    if unknown:
        raise InvalidInput(f"Unknown member {sorted(unknown)[0]!r}.", field=f"{field}.{sorted(unknown)[0]}")
    freq = raw.get("freq")
    if freq not in _FREQS:
        raise InvalidInput("freq is one of weekly, daily, monthly.", field=f"{field}.freq")
    interval = raw.get("interval", 1)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        raise InvalidInput(f"interval is a whole number from 1 to {MAX_INTERVAL}.", field=f"{field}.interval")
    weekdays_raw = raw.get("weekdays", [])
    if not isinstance(weekdays_raw, list) or not all(isinstance(d, str) for d in weekdays_raw):
        raise InvalidInput("weekdays is a list like ['TU', 'TH'].", field=f"{field}.weekdays")
    weekdays = [d.upper() for d in weekdays_raw]
    bad = [d for d in weekdays if d not in WEEKDAYS]
    if bad:
        raise InvalidInput(f"{bad[0]!r} is not one of {', '.join(WEEKDAYS)}.", field=f"{field}.weekdays")
    if len(set(weekdays)) != len(weekdays):
        raise InvalidInput("A weekday is listed twice.", field=f"{field}.weekdays")
    if freq == "monthly" and weekdays:
        raise InvalidInput("A monthly plan repeats on the first start's day of the month.", field=f"{field}.weekdays")
    ordered = tuple(sorted(weekdays, key=WEEKDAYS.index))
    return Frequency(freq=freq, interval=interval, weekdays=ordered)


def local_to_utc(local: dt.datetime, zone: ZoneInfo, *, field: str = "first_start") -> dt.datetime:
    """The UTC instant of a naive local wall time: a gap is refused, a fold means its first occurrence."""
    if local.tzinfo is not None:
        raise InvalidInput("A local wall time carries no UTC offset.", field=field)
    first = local.replace(tzinfo=zone)  # fold=0: the first of two readings in a fold
    if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(
            f"{local.isoformat(timespec='minutes')} does not exist in {zone.key}: the clocks skip that hour. "
            "Choose another time.",
            field=field,
            local_time=local.isoformat(timespec="minutes"),
        )
    return first.astimezone(dt.UTC)


def kind_of(index: int, reassess_every: int | None) -> Kind:
    """Occurrence `index` (1-based) is a reassessment when it is a multiple of the cadence."""
    return "reassessment" if reassess_every and index % reassess_every == 0 else "treatment"


def _weekdays(frequency: Frequency, first: dt.datetime) -> tuple[str, ...]:
    if frequency.freq == "weekly" and not frequency.weekdays:
        return (WEEKDAYS[first.weekday()],)
    return frequency.weekdays


def _validate(rec: Recurrence) -> tuple[ZoneInfo, tuple[str, ...]]:
    zone = _zone(rec.zone)
    first = rec.first_start
    if first.tzinfo is not None:
        raise InvalidInput("first_start is a local wall time without a UTC offset.", field="first_start")
    if first.second or first.microsecond:
        raise InvalidInput("Sessions start on a whole minute.", field="first_start")
    if (rec.sessions is None) == (rec.until is None):
        raise InvalidInput("Give either sessions or until, not both.", field="sessions")
    if rec.sessions is not None and not 1 <= rec.sessions <= MAX_OCCURRENCES:
        raise InvalidInput(f"sessions is from 1 to {MAX_OCCURRENCES}.", field="sessions")
    if rec.until is not None and rec.until < first.date():
        raise InvalidInput("until must not be before the first session.", field="until")
    if rec.reassess_every is not None and not 1 <= rec.reassess_every <= MAX_OCCURRENCES:
        raise InvalidInput(f"reassess_every is from 1 to {MAX_OCCURRENCES}.", field="reassess_every")
    weekdays = _weekdays(rec.frequency, first)
    if weekdays and WEEKDAYS[first.weekday()] not in weekdays:
        raise InvalidInput(
            f"The first session ({first.date().isoformat()}, a {WEEKDAYS[first.weekday()]}) is not on one of "
            f"the plan's weekdays ({', '.join(weekdays)}).",
            field="first_start",
        )
    return zone, weekdays


def _walls(
    frequency: Frequency, weekdays: Sequence[str], first: dt.datetime, count: int | None, until: dt.datetime | None
) -> list[dt.datetime]:
    rule = du.rrule(
        _FREQS[frequency.freq],
        dtstart=first,
        interval=frequency.interval,
        byweekday=[WEEKDAYS.index(d) for d in weekdays] or None,
        count=count,
        until=until,
    )
    walls: list[dt.datetime] = []
    for wall in rule:
        if len(walls) == MAX_OCCURRENCES:
            raise InvalidInput(f"A series has at most {MAX_OCCURRENCES} sessions.", field="until")
        walls.append(wall)
    return walls


def _occurrences(
    walls: Sequence[dt.datetime], zone: ZoneInfo, reassess_every: int | None, *, first_index: int = 1
) -> list[Occurrence]:
    found: list[Occurrence] = []
    for offset, wall in enumerate(walls):
        index = first_index + offset
        start = local_to_utc(wall, zone, field="first_start")
        found.append(Occurrence(index=index, local=wall, start=start, kind=kind_of(index, reassess_every)))
    return found


def expand(rec: Recurrence) -> list[Occurrence]:
    """Every occurrence of a plan, in order; refuses a gap time on any of them (field ``first_start``)."""
    zone, weekdays = _validate(rec)
    until = dt.datetime.combine(rec.until, dt.time(23, 59, 59)) if rec.until is not None else None
    walls = _walls(rec.frequency, weekdays, rec.first_start, rec.sessions, until)
    if not walls:
        raise InvalidInput("The plan has no session on or before until.", field="until")
    return _occurrences(walls, zone, rec.reassess_every)


def build_rrule(
    frequency: Frequency, first: dt.datetime, *, count: int | None = None, until: dt.datetime | None = None
) -> str:
    """The RRULE value (no DTSTART): COUNT, or UNTIL as an aware instant written in UTC with ``Z``."""
    if (count is None) == (until is None):
        msg = "exactly one of count and until"
        raise ValueError(msg)
    parts = [f"FREQ={_RRULE_FREQ[frequency.freq]}", f"INTERVAL={frequency.interval}"]
    weekdays = _weekdays(frequency, first)
    if weekdays:
        parts.append("BYDAY=" + ",".join(weekdays))
    if count is not None:
        parts.append(f"COUNT={count}")
    else:
        assert until is not None  # noqa: S101 - checked above
        parts.append("UNTIL=" + until.astimezone(dt.UTC).strftime(_UTC_FORMAT))
    return ";".join(parts)


def rrule_for(rec: Recurrence, occurrences: Sequence[Occurrence]) -> str:
    """The plan's RRULE: COUNT for a number of sessions, UNTIL (the last occurrence's instant) for an end date."""
    if rec.sessions is not None:
        return build_rrule(rec.frequency, rec.first_start, count=rec.sessions)
    return build_rrule(rec.frequency, rec.first_start, until=occurrences[-1].start)


def parse_rrule(value: str) -> tuple[Frequency, int | None, dt.datetime | None]:
    """Read back an RRULE this module wrote: (frequency, COUNT, UNTIL as aware UTC)."""
    parts = dict(part.split("=", 1) for part in value.split(";"))
    freq = {v: k for k, v in _RRULE_FREQ.items()}[parts["FREQ"]]
    weekdays = tuple(parts["BYDAY"].split(",")) if "BYDAY" in parts else ()
    frequency = Frequency(freq=freq, interval=int(parts.get("INTERVAL", "1")), weekdays=weekdays)  # type: ignore[arg-type]
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    until = dt.datetime.strptime(parts["UNTIL"], _UTC_FORMAT).replace(tzinfo=dt.UTC) if "UNTIL" in parts else None
    return frequency, count, until


def expand_rule(
    value: str, dtstart_local: dt.datetime, zone_name: str, reassess_every: int | None = None, *, first_index: int = 1
) -> list[Occurrence]:
    """Every occurrence of a stored series (its RRULE from its local DTSTART in its zone)."""
    zone = _zone(zone_name)
    frequency, count, until = parse_rrule(value)
    weekdays = _weekdays(frequency, dtstart_local)
    if count is not None:
        walls = _walls(frequency, weekdays, dtstart_local, count, None)
    else:
        assert until is not None  # noqa: S101 - a stored rule has COUNT or UNTIL
        # Expand on wall time up to a day past UNTIL's local date, then keep the instants <= UNTIL.
        limit = until.astimezone(zone).replace(tzinfo=None) + dt.timedelta(days=1)
        walls = [w for w in _walls(frequency, weekdays, dtstart_local, None, limit) if local_to_utc(w, zone) <= until]
    return _occurrences(walls, zone, reassess_every, first_index=first_index)


def truncate_rrule(value: str, kept: Sequence[Occurrence]) -> str:
    """The RRULE of a series cut after its `kept` occurrences (at least one): a COUNT rule keeps counting,
    an UNTIL rule ends at the last kept occurrence's instant."""
    if not kept:
        msg = "a truncated series keeps at least one occurrence"
        raise ValueError(msg)
    _frequency, count, _until = parse_rrule(value)
    parts = [p for p in value.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    if count is not None:
        parts.append(f"COUNT={len(kept)}")
    else:
        parts.append("UNTIL=" + kept[-1].start.astimezone(dt.UTC).strftime(_UTC_FORMAT))
    return ";".join(parts)

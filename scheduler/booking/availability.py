"""Availability engine: owns which appointment starts can be offered, and why a requested start is refused.

Pure: standard library only (no web framework, no ORM, no I/O, no clock — ``now`` is an argument).
Callers load calendars, pass them in, and act on the answer.

Time model
----------
* Working hours (:class:`WeeklyHours`, :class:`ExtraHours`) are LOCAL wall times in the practice's
  zone. On each local date the weekly intervals for that weekday and the extra intervals for that
  date are merged (overlapping or touching intervals become one) into *working windows*.
* Candidate starts step from each window's start by ``granularity`` in local wall time, so a
  09:00-17:00 therapist is offered 09:00, 09:15, … on both sides of a DST change.
* A wall time that does not exist (spring-forward gap) is never a candidate.
* An ambiguous wall time (fall-back fold) means its FIRST occurrence (``fold=0``, PEP 495). The
  second occurrence of the repeated hour is never offered: a window 01:00-03:00 on a fall-back day
  offers 01:00, 01:15, … 01:45 (daylight time), then 02:00 (standard time).
* A window boundary W is the first instant at which the local clock reads W or later: an ambiguous W
  is its first occurrence, and a W inside a gap is the instant the clocks jump (a window ending at
  02:30 on a spring-forward day ends at 03:00 daylight time). A start must lie at or after the
  window's opening instant and the service must end by its closing instant.
* From there on everything is absolute time: a 60-minute service lasts 60 real minutes even across
  a DST change, and busy blocks and time off are compared as instants, whatever zone they carry.
* Fast path assumption: a zone does not change its UTC offset twice inside one working window
  (true of the IANA data). Windows whose two ends have the same, unambiguous offset are stepped
  without per-candidate zone look-ups; the rest are checked wall time by wall time.

Offer rules
-----------
:func:`find_slots` offers a candidate only when every rule holds; :func:`check_slot` tests one start
against the same rules in this order and names the first that fails:

1. ``nonexistent_local_time`` (check_slot only): the start's wall time round-trips through its own
   zone (an aware 02:30 on a spring-forward day does not).
2. ``min_notice``: start >= now + min_notice.
3. ``beyond_horizon``: start <= now + horizon.
4. ``outside_hours``: [start, start + duration) lies inside one working window of that local date.
5. ``off_grid``: the start is one of that window's candidates (the second pass of a repeated hour
   never is).
6. ``time_off``: [start, end) overlaps no time off (the buffers may).
7. ``slot_taken``: the block (:func:`block_for`, buffers included) overlaps no therapist busy block.
8. ``no_room``: when the service needs a room, one that can host it has no busy block overlapping the
   block; the first such room by sorted id is chosen.

Rooms are a per-slot check: :func:`find_slots` reports each therapist's slot independently, so two
therapists may both be offered 10:00 with the same single free room. Whoever books first takes it;
the booking path must re-check (:func:`check_slot`) under its own lock or constraint.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import repeat
from typing import Final, Literal, overload
from uuid import UUID
from zoneinfo import ZoneInfo

__all__ = [
    "BookingPolicy",
    "ExtraHours",
    "Interval",
    "RejectionRule",
    "RoomCalendar",
    "ServiceRule",
    "Slot",
    "SlotRejected",
    "TherapistCalendar",
    "WeeklyHours",
    "block_for",
    "check_slot",
    "find_slots",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO: Final = timedelta(0)
_TICK: Final = timedelta(microseconds=1)

_Instant = timedelta  # time since the Unix epoch

# In check_slot's order (callers rank refusals by it).
RejectionRule = Literal[
    "nonexistent_local_time",
    "min_notice",
    "beyond_horizon",
    "outside_hours",
    "off_grid",
    "time_off",
    "slot_taken",
    "no_room",
]


# --------------------------------------------------------------------------------------------------
# Small time helpers. Internally an instant is the timedelta since the Unix epoch (`_Instant`): exact,
# cheap to compute and compare, and immune to Python's wall-clock semantics for same-tzinfo datetimes.
# --------------------------------------------------------------------------------------------------


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")


def _instant(value: datetime) -> _Instant:
    """The instant of an aware datetime (fold-aware; any zone)."""
    return value - _EPOCH


def _local(instant: _Instant, zone: ZoneInfo) -> datetime:
    return (_EPOCH + instant).astimezone(zone)


def _offset(value: datetime) -> timedelta:
    offset = value.utcoffset()
    if offset is None:  # pragma: no cover - ZoneInfo always answers
        raise ValueError(f"no UTC offset for {value!r}")
    return offset


def _is_gap(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive local wall time does not exist in `zone` (PEP 495: fold=0 < fold=1 offset)."""
    return _offset(wall.replace(tzinfo=zone)) < _offset(wall.replace(tzinfo=zone, fold=1))


def _steady(first: datetime, last: datetime, zone: ZoneInfo) -> bool:
    """Whether both wall times exist, are unambiguous, and share one UTC offset."""
    offsets = {
        _offset(first.replace(tzinfo=zone)),
        _offset(first.replace(tzinfo=zone, fold=1)),
        _offset(last.replace(tzinfo=zone)),
        _offset(last.replace(tzinfo=zone, fold=1)),
    }
    return len(offsets) == 1


def _boundary(wall: datetime, zone: ZoneInfo) -> _Instant:
    """The instant a working-window boundary stands for.

    An existing wall time maps to itself; an ambiguous one to its first occurrence (fold=0); one in a
    spring-forward gap to the instant of the jump (found by bisection between the two PEP 495 readings).
    """
    first = wall.replace(tzinfo=zone)
    second = wall.replace(tzinfo=zone, fold=1)
    before, after = _offset(first), _offset(second)
    if before >= after:
        return _instant(first)
    lo, hi = _instant(second), _instant(first)  # lo reads the pre-jump offset, hi the post-jump one
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _offset(_local(mid, zone)) == after:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time [start, end) between two aware datetimes (any zones; compared as instants).

    An empty interval (start == end) overlaps nothing.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        if start.tzinfo is UTC and end.tzinfo is UTC:
            # Fast path for rows read from the database (thousands per availability query): both ends
            # are UTC, so plain comparison is comparison of instants.
            if end < start:
                raise ValueError(f"Interval ends before it starts: {start.isoformat()} > {end.isoformat()}")
            return
        _require_aware(self.start, "Interval.start")
        _require_aware(self.end, "Interval.end")
        if _instant(self.end) < _instant(self.start):
            raise ValueError(f"Interval ends before it starts: {self.start.isoformat()} > {self.end.isoformat()}")

    def overlaps(self, other: Interval) -> bool:
        a0, a1 = _instant(self.start), _instant(self.end)
        b0, b1 = _instant(other.start), _instant(other.end)
        return a0 < a1 and b0 < b1 and a0 < b1 and b0 < a1


def _check_wall_span(start: time, end: time, what: str) -> None:
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"{what} are local wall times and must be naive")
    if not start < end:
        raise ValueError(f"{what} must start before they end (no overnight spans): {start} to {end}")


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """One weekly working interval in the practice's LOCAL wall time; weekday 0 = Monday … 6 = Sunday."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) … 6 (Sunday), got {self.weekday}")
        _check_wall_span(self.start, self.end, "weekly hours")


@dataclass(frozen=True, slots=True)
class ExtraHours:
    """One one-off extra working interval on a local date, in LOCAL wall time."""

    day: date
    start: time
    end: time

    def __post_init__(self) -> None:
        _check_wall_span(self.start, self.end, "extra hours")


@dataclass(frozen=True)
class TherapistCalendar:
    """A therapist's working hours, time off (no service may overlap it) and busy blocks (buffers included)."""

    therapist_id: UUID
    weekly: Sequence[WeeklyHours]
    extra: Sequence[ExtraHours] = ()
    time_off: Sequence[Interval] = ()
    busy: Sequence[Interval] = ()


@dataclass(frozen=True)
class RoomCalendar:
    """A room and its busy blocks (buffers included)."""

    room_id: UUID
    busy: Sequence[Interval] = ()


@dataclass(frozen=True, slots=True)
class ServiceRule:
    """What booking a service occupies.

    ``room_ids``: the rooms that can host it; ``None`` = any room given; an empty frozenset = needs no room.
    """

    duration: timedelta
    buffer_before: timedelta = _ZERO
    buffer_after: timedelta = _ZERO
    room_ids: frozenset[UUID] | None = None

    def __post_init__(self) -> None:
        if self.duration <= _ZERO:
            raise ValueError(f"duration must be positive, got {self.duration}")
        if self.buffer_before < _ZERO or self.buffer_after < _ZERO:
            raise ValueError("buffers cannot be negative")

    @property
    def needs_room(self) -> bool:
        return self.room_ids is None or bool(self.room_ids)


@dataclass(frozen=True, slots=True)
class BookingPolicy:
    """How far ahead clients may book (both bounds inclusive) and the step between offered starts."""

    min_notice: timedelta = timedelta(hours=2)
    horizon: timedelta = timedelta(days=90)
    granularity: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.granularity <= _ZERO:
            raise ValueError(f"granularity must be positive, got {self.granularity}")


@dataclass(frozen=True, slots=True)
class Slot:
    """An offerable start for one therapist.

    ``start`` and ``end`` are aware datetimes in the practice's zone; ``end`` is ``duration`` of real
    time later (it may carry fold=1). Python subtracts same-zone datetimes as wall times, so measure
    elapsed time through UTC. ``room_id`` is the first free suitable room by sorted id, or None when
    the service needs no room.
    """

    start: datetime
    end: datetime
    therapist_id: UUID
    room_id: UUID | None


class SlotRejected(Exception):
    """A requested start cannot be booked; ``rule`` is the machine code, ``detail`` says why in words."""

    def __init__(self, rule: RejectionRule, detail: str) -> None:
        super().__init__(rule, detail)  # both in args, so the exception pickles and copies
        self.rule: RejectionRule = rule
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def block_for(start: datetime, service: ServiceRule) -> Interval:
    """What booking `service` at `start` occupies: [start - buffer_before, start + duration + buffer_after).

    Absolute-time arithmetic; the ends are expressed in `start`'s zone.
    """
    _require_aware(start, "start")
    at = start.astimezone(UTC)
    zone = start.tzinfo
    return Interval(
        (at - service.buffer_before).astimezone(zone),
        (at + service.duration + service.buffer_after).astimezone(zone),
    )


# --------------------------------------------------------------------------------------------------
# Indexes
# --------------------------------------------------------------------------------------------------


class _Pairs(Sequence[Interval]):
    """Intervals held as (start, end) pairs of aware UTC datetimes; an :class:`Interval` is made only when read.

    Internal: the loading layer hands the engine thousands of appointment rows this way, and the engine
    reads the pairs directly instead of building and unpacking an Interval per row. Both ends must carry
    one fixed-offset tzinfo (UTC), so that the pairs sort as instants.
    """

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[datetime, datetime]]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: int) -> Interval: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Interval]: ...

    def __getitem__(self, index: int | slice) -> Interval | Sequence[Interval]:
        if isinstance(index, slice):
            return [Interval(start, end) for start, end in self.pairs[index]]
        start, end = self.pairs[index]
        return Interval(start, end)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


def _reversed(start: datetime, end: datetime) -> None:
    raise ValueError(f"Interval ends before it starts: {start.isoformat()} > {end.isoformat()}")


class _Blocks:
    """Busy intervals as sorted, merged, disjoint [start, end) instants; overlap tests by bisection."""

    __slots__ = ("ends", "starts")

    def __init__(self, *sources: Iterable[Interval]) -> None:
        if len(sources) == 1 and isinstance(sources[0], _Pairs):
            self._merge_pairs(sources[0].pairs)
            return
        spans = sorted([(item.start - _EPOCH, item.end - _EPOCH) for source in sources for item in source])
        starts: list[_Instant] = []
        ends: list[_Instant] = []
        reach = _ZERO  # end of the last merged span (meaningless while `ends` is empty)
        for start, end in spans:
            if start >= end:
                continue
            if ends and start <= reach:
                if end > reach:
                    ends[-1] = reach = end
            else:
                starts.append(start)
                ends.append(end)
                reach = end
        self.starts, self.ends = starts, ends

    def _merge_pairs(self, pairs: list[tuple[datetime, datetime]]) -> None:
        """As __init__, for UTC datetime pairs: sort and merge as datetimes, convert only the merged spans."""
        starts: list[datetime] = []
        ends: list[datetime] = []
        spans = iter(sorted(pairs))
        for first, reach in spans:  # the first non-empty span opens the merge
            if first < reach:
                break
            if reach < first:
                _reversed(first, reach)
        else:
            self.starts, self.ends = [], []
            return
        for start, end in spans:
            if start > reach:
                if start < end:
                    starts.append(first)
                    ends.append(reach)
                    first, reach = start, end
                elif end < start:
                    _reversed(start, end)
            elif end > reach:
                reach = end
            elif end < start:
                _reversed(start, end)
        starts.append(first)
        ends.append(reach)
        self.starts = [start - _EPOCH for start in starts]
        self.ends = [end - _EPOCH for end in ends]

    def conflict(self, lo: _Instant, hi: _Instant) -> tuple[_Instant, _Instant] | None:
        """The merged busy span overlapping [lo, hi), if any."""
        index = bisect_right(self.ends, lo)
        if lo < hi and index < len(self.ends) and self.starts[index] < hi:
            return self.starts[index], self.ends[index]
        return None


class _Rooms:
    """The rooms that can host a service, sorted by id, each with its busy index."""

    __slots__ = ("needed", "rooms")

    def __init__(self, service: ServiceRule, rooms: Sequence[RoomCalendar]) -> None:
        self.needed = service.needs_room
        busy: dict[UUID, list[Sequence[Interval]]] = {}
        if self.needed:
            for room in rooms:
                if service.room_ids is None or room.room_id in service.room_ids:
                    busy.setdefault(room.room_id, []).append(room.busy)
        self.rooms: list[tuple[UUID, _Blocks]] = [(room_id, _Blocks(*busy[room_id])) for room_id in sorted(busy)]

    def free(self, lo: _Instant, hi: _Instant) -> UUID | None:
        for room_id, blocks in self.rooms:
            if blocks.conflict(lo, hi) is None:
                return room_id
        return None


_Spans = tuple[tuple[time, time], ...]


def _merge_walls(spans: Iterable[tuple[time, time]]) -> _Spans:
    """Sorted wall-time spans of one day, overlapping or touching ones merged."""
    merged: list[tuple[time, time]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


class _Hours:
    """A therapist's working windows per local date (weekly + extra, merged), as naive wall datetimes."""

    __slots__ = ("extra", "weekly")

    def __init__(self, therapist: TherapistCalendar) -> None:
        weekly: dict[int, list[tuple[time, time]]] = {}
        self.extra: dict[date, list[tuple[time, time]]] = {}
        for hours in therapist.weekly:
            weekly.setdefault(hours.weekday, []).append((hours.start, hours.end))
        for more in therapist.extra:
            self.extra.setdefault(more.day, []).append((more.start, more.end))
        self.weekly: dict[int, _Spans] = {weekday: _merge_walls(spans) for weekday, spans in weekly.items()}

    def spans(self, day: date) -> _Spans:
        """The day's working windows as merged wall-time spans."""
        extra = self.extra.get(day)
        if extra is None:
            return self.weekly.get(day.weekday(), ())
        return _merge_walls([*self.weekly.get(day.weekday(), ()), *extra])

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(datetime.combine(day, start), datetime.combine(day, end)) for start, end in self.spans(day)]


_Candidate = tuple[_Instant, datetime, datetime]  # (start instant, start in zone, end in zone)


def _candidates(
    wall_start: datetime,
    wall_end: datetime,
    *,
    zone: ZoneInfo,
    duration: timedelta,
    granularity: timedelta,
    earliest: _Instant,
    latest: _Instant,
) -> list[_Candidate]:
    """The starts a working window offers within [earliest, latest], before busy/time-off/room checks."""
    window_start = _boundary(wall_start, zone)
    last = min(_boundary(wall_end, zone) - duration, latest)  # a start must be <= last
    found: list[_Candidate] = []
    if _steady(wall_start, wall_end, zone):
        # One UTC offset throughout: wall steps are real steps, and end = start + duration on the wall.
        skip = max(0, -((window_start - earliest) // granularity))  # ceil((earliest - window_start) / step)
        at = window_start + skip * granularity
        local = wall_start.replace(tzinfo=zone) + skip * granularity
        while at <= last:
            found.append((at, local, local + duration))
            at += granularity
            local += granularity
        return found
    # A DST change inside the window: convert each wall time; instants rise with wall time (fold=0).
    wall = wall_start
    while wall < wall_end:
        if not _is_gap(wall, zone):
            local = wall.replace(tzinfo=zone)
            at = _instant(local)
            if at > last:
                break
            if at >= earliest:
                found.append((at, local, _local(at + duration, zone)))
        wall += granularity
    return found


def _ruled_out(
    instants: list[_Instant], blocks: _Blocks, *, back: timedelta, ahead: timedelta
) -> list[tuple[int, int]]:
    """The index ranges [lo, hi) of the sorted `instants` that lie in (start - back, end + ahead) of a busy span.

    The spans are disjoint and sorted, so the ranges come out sorted too."""
    starts, ends, count = blocks.starts, blocks.ends, len(blocks.ends)
    last = instants[-1]
    ranges: list[tuple[int, int]] = []
    index = bisect_right(ends, instants[0] - ahead)
    while index < count and starts[index] - back < last:
        ranges.append((bisect_right(instants, starts[index] - back), bisect_left(instants, ends[index] + ahead)))
        index += 1
    return ranges


def _local_date(instant: _Instant, zone: ZoneInfo, *, beyond: date) -> date:
    """The local date of an instant; `beyond` when the instant is outside datetime's range (a huge horizon)."""
    try:
        return _local(instant, zone).date()
    except OverflowError:
        return beyond


# --------------------------------------------------------------------------------------------------
# The two entry points
# --------------------------------------------------------------------------------------------------


class _Search:
    """One find_slots call: the shared per-window candidates, the sweep, and the room answers.

    The sweep works per working window on index ranges: each busy span or time off rules out one
    contiguous run of the window's (time-ordered) candidates, found by bisection, so the cost follows
    the number of spans rather than the number of candidates. Rooms are then resolved once, for the
    distinct starts that survived, room by room in id order.
    """

    __slots__ = (
        "after",
        "before",
        "candidates",
        "days",
        "duration",
        "earliest",
        "latest",
        "policy",
        "rooms",
        "service",
        "zone",
    )

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        service: ServiceRule,
        rooms: _Rooms,
        policy: BookingPolicy,
        earliest: _Instant,
        latest: _Instant,
    ) -> None:
        self.zone = zone
        self.service = service
        self.rooms = rooms
        self.policy = policy
        self.earliest = earliest
        self.latest = latest
        self.duration = service.duration
        self.before = service.buffer_before
        self.after = service.buffer_after
        # Shared by therapists with equal hours: the window's candidates and their instants.
        self.candidates: dict[tuple[datetime, datetime], tuple[list[_Candidate], list[_Instant]]] = {}
        self.days: dict[tuple[date, _Spans], list[tuple[list[_Candidate], list[_Instant]]]] = {}

    def window(self, window: tuple[datetime, datetime]) -> tuple[list[_Candidate], list[_Instant]]:
        offered = self.candidates.get(window)
        if offered is None:
            found = _candidates(
                *window,
                zone=self.zone,
                duration=self.service.duration,
                granularity=self.policy.granularity,
                earliest=self.earliest,
                latest=self.latest,
            )
            offered = self.candidates[window] = (found, [candidate[0] for candidate in found])
        return offered

    def sweep(
        self,
        therapist: TherapistCalendar,
        days: Sequence[date],
        found: list[tuple[_Candidate, UUID]],
    ) -> None:
        """Append the therapist's candidates on `days` that pass the busy and time-off rules to `found`."""
        therapist_id = therapist.therapist_id
        hours = _Hours(therapist)
        busy, off = _Blocks(therapist.busy), _Blocks(therapist.time_off)
        before, duration = self.before, self.duration
        # A busy span [s, e) rules out the starts in (s - reach, e + before); time off [s, e) rules out
        # those in (s - duration, e).
        reach = duration + self.after
        window_of, day_cache = self.window, self.days
        for day in days:
            spans = hours.spans(day)
            if not spans:
                continue
            windows = day_cache.get((day, spans))
            if windows is None:
                windows = day_cache[day, spans] = [
                    window_of((datetime.combine(day, start), datetime.combine(day, end))) for start, end in spans
                ]
            for offered, instants in windows:
                if not offered:
                    continue
                ruled_out = _ruled_out(instants, busy, back=reach, ahead=before)
                if off.ends:
                    more = _ruled_out(instants, off, back=duration, ahead=_ZERO)
                    if more:
                        ruled_out = sorted(ruled_out + more) if ruled_out else more
                if not ruled_out:
                    found.extend(zip(offered, repeat(therapist_id)))
                    continue
                position = 0
                for lo, hi in ruled_out:
                    if lo > position:
                        found.extend(zip(offered[position:lo], repeat(therapist_id)))
                    position = max(position, hi)
                if position < len(offered):
                    found.extend(zip(offered[position:], repeat(therapist_id)))

    def room_for(self, instants: list[_Instant]) -> list[UUID | None]:
        """The first free suitable room (by sorted id) for each of the sorted, distinct starts `instants`."""
        answers: list[UUID | None] = [None] * len(instants)
        if not instants:
            return answers
        before = self.before
        reach = self.duration + self.after
        pending = (1 << len(instants)) - 1  # bit i: no room found yet for instants[i]
        for room_id, blocks in self.rooms.rooms:
            taken = 0
            for lo, hi in _ruled_out(instants, blocks, back=reach, ahead=before):
                if hi > lo:
                    taken |= ((1 << (hi - lo)) - 1) << lo
            free = pending & ~taken
            if free:
                bits = bin(free)[:1:-1]  # bit i at position i
                position = bits.find("1")
                while position >= 0:
                    answers[position] = room_id
                    position = bits.find("1", position + 1)
                pending &= taken
                if not pending:
                    break
        return answers


def find_slots(
    *,
    zone: ZoneInfo,
    date_from: date,
    date_to: date,
    service: ServiceRule,
    therapists: Sequence[TherapistCalendar],
    rooms: Sequence[RoomCalendar],
    policy: BookingPolicy,
    now: datetime,
) -> list[Slot]:
    """Every offerable slot on the local dates date_from … date_to (inclusive), sorted by (start, therapist_id)."""
    _require_aware(now, "now")
    earliest = _instant(now) + policy.min_notice
    latest = _instant(now) + policy.horizon
    room_index = _Rooms(service, rooms)
    if earliest > latest or (room_index.needed and not room_index.rooms):
        return []
    first_day = max(date_from, _local_date(earliest, zone, beyond=date.min))
    last_day = min(date_to, _local_date(latest, zone, beyond=date.max))
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    search = _Search(zone=zone, service=service, rooms=room_index, policy=policy, earliest=earliest, latest=latest)
    found: list[tuple[_Candidate, UUID]] = []
    for therapist in sorted(therapists, key=lambda calendar: calendar.therapist_id):
        search.sweep(therapist, days, found)
    found.sort(key=_first)  # stable: equal starts keep the therapist-id order of the loop
    if not room_index.needed:
        return [Slot(start, end, therapist_id, None) for (_, start, end), therapist_id in found]
    instants = sorted({candidate[0] for candidate, _ in found})
    room_of = dict(zip(instants, search.room_for(instants), strict=True))
    return [
        Slot(start, end, therapist_id, room_id)
        for (at, start, end), therapist_id in found
        if (room_id := room_of[at]) is not None
    ]


def _first(item: tuple[_Candidate, UUID]) -> _Instant:
    return item[0][0]


def check_slot(
    *,
    zone: ZoneInfo,
    start: datetime,
    service: ServiceRule,
    therapist: TherapistCalendar,
    rooms: Sequence[RoomCalendar],
    policy: BookingPolicy,
    now: datetime,
) -> UUID | None:
    """Validate one requested start exactly as :func:`find_slots` would, naming the first rule it breaks.

    Returns the room the booking would take (first free suitable room by sorted id), or None when the
    service needs no room. Raises :class:`SlotRejected`. There is no date range here: only `policy`
    limits how near or far the start may be.
    """
    _require_aware(start, "start")
    _require_aware(now, "now")
    zone_of_start = start.tzinfo
    if start.astimezone(UTC).astimezone(zone_of_start).replace(tzinfo=None) != start.replace(tzinfo=None):
        raise SlotRejected(
            "nonexistent_local_time",
            f"{start.replace(tzinfo=None).isoformat()} does not exist in {zone_of_start} (the clocks skip it)",
        )
    at = _instant(start)
    local = start.astimezone(zone)
    if at < _instant(now) + policy.min_notice:
        raise SlotRejected("min_notice", f"starts must be at least {policy.min_notice} after {now.isoformat()}")
    if at > _instant(now) + policy.horizon:
        raise SlotRejected("beyond_horizon", f"starts may be at most {policy.horizon} after {now.isoformat()}")

    duration = service.duration
    window_start: datetime | None = None
    for wall_start, wall_end in _Hours(therapist).windows(local.date()):
        if _boundary(wall_start, zone) <= at and at + duration <= _boundary(wall_end, zone):
            window_start = wall_start
            break
    if window_start is None:
        raise SlotRejected(
            "outside_hours",
            f"{local.isoformat()} + {service.duration} is not inside the therapist's working hours",
        )
    if local.fold == 1 and _offset(local.replace(fold=0)) != _offset(local):
        raise SlotRejected(
            "off_grid",
            f"{local.isoformat()} is the second occurrence of a repeated local time; only the first is offered",
        )
    since = local.replace(tzinfo=None) - window_start
    if since < _ZERO or since % policy.granularity != _ZERO:
        raise SlotRejected(
            "off_grid",
            f"starts are every {policy.granularity} from {window_start.time().isoformat()} local time",
        )

    clash = _Blocks(therapist.time_off).conflict(at, at + duration)
    if clash is not None:
        raise SlotRejected("time_off", f"the therapist is off {_describe(clash, zone)}")
    block = block_for(start, service)
    lo, hi = _instant(block.start), _instant(block.end)
    clash = _Blocks(therapist.busy).conflict(lo, hi)
    if clash is not None:
        raise SlotRejected("slot_taken", f"the therapist is busy {_describe(clash, zone)}")
    if not service.needs_room:
        return None
    room_index = _Rooms(service, rooms)
    room_id = room_index.free(lo, hi)
    if room_id is None:
        raise SlotRejected(
            "no_room",
            f"none of the {len(room_index.rooms)} room(s) that can host this service is free "
            f"{_describe((lo, hi), zone)}",
        )
    return room_id


def _describe(span: tuple[_Instant, _Instant], zone: ZoneInfo) -> str:
    return f"{_local(span[0], zone).isoformat()} to {_local(span[1], zone).isoformat()}"

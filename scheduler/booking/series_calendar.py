"""The calendar a series is checked against: loaded once for the whole series window, sliced per occurrence.

`SeriesCalendar.check` decides one start exactly as a single staff booking is decided (`check_slot`);
`SeriesCalendar.alternative` finds the nearest free start with the same therapist: same local day first
(closest wall time; the earlier of two equally close), then ±1 … ±ALTERNATIVE_DAYS days (at equal
distance the later day: a postponed session keeps the plan's spacing better), inside the letter of
medical necessity's window, and never onto the series' own accepted occurrences (`accept`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.availability import (
    BookingPolicy,
    Interval,
    RoomCalendar,
    ServiceRule,
    TherapistCalendar,
    _Pairs,
    block_for,
    check_slot,
    find_slots,
)
from scheduler.booking.services import _load_calendars, utcnow
from scheduler.plans.models import LetterOfMedicalNecessity
from scheduler.practice.models import Practice

ALTERNATIVE_DAYS = 3
Reason = Literal["therapist_busy", "room_busy", "outside_hours", "time_off", "outside_lmn_window", "in_the_past"]
# The engine's rule → the reason a series occurrence reports.
REASONS: dict[str, Reason] = {
    "slot_taken": "therapist_busy",
    "no_room": "room_busy",
    "outside_hours": "outside_hours",
    "off_grid": "outside_hours",
    "beyond_horizon": "outside_hours",
    "time_off": "time_off",
    "min_notice": "in_the_past",
    "nonexistent_local_time": "outside_hours",
}
_Pair = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Alternative:
    start: dt.datetime
    end: dt.datetime
    room_id: uuid.UUID | None


@dataclass(frozen=True)
class OccurrenceConflict:
    reason: Reason
    detail: str
    alternative: Alternative | None


class _Sliced:
    """Busy pairs sorted by start, so that the pairs touching a short window are found by bisection."""

    __slots__ = ("longest", "pairs", "starts")

    def __init__(self, pairs: Sequence[_Pair]) -> None:
        self.pairs = sorted(pairs)
        self.starts = [start for start, _ in self.pairs]
        self.longest = max((end - start for start, end in self.pairs), default=dt.timedelta(0))

    def around(self, lo: dt.datetime, hi: dt.datetime) -> list[_Pair]:
        first = bisect_left(self.starts, lo - self.longest)
        last = bisect_left(self.starts, hi)
        return [pair for pair in self.pairs[first:last] if pair[1] > lo]


def _pairs_of(busy: Sequence[Interval]) -> list[_Pair]:
    if isinstance(busy, _Pairs):
        return busy.pairs
    return [(i.start.astimezone(dt.UTC), i.end.astimezone(dt.UTC)) for i in busy]


@dataclass
class SeriesCalendar:
    """One therapist's calendar and the rooms over a series window, plus the series' own accepted blocks."""

    zone: ZoneInfo
    therapist: TherapistCalendar
    busy: _Sliced
    rooms: dict[uuid.UUID, _Sliced]
    now: dt.datetime
    check_policy: BookingPolicy
    alternative_policy: BookingPolicy
    lmn: LetterOfMedicalNecessity | None = None
    own: list[tuple[dt.datetime, dt.datetime, uuid.UUID | None]] = field(default_factory=list)

    def _views(self, lo: dt.datetime, hi: dt.datetime) -> tuple[TherapistCalendar, list[RoomCalendar]]:
        own = [(s, e, r) for s, e, r in self.own if s < hi and e > lo]
        therapist = replace(self.therapist, busy=_Pairs(self.busy.around(lo, hi) + [(s, e) for s, e, _ in own]))
        rooms = [
            RoomCalendar(room_id, _Pairs(sliced.around(lo, hi) + [(s, e) for s, e, r in own if r == room_id]))
            for room_id, sliced in self.rooms.items()
        ]
        return therapist, rooms

    def accept(self, start: dt.datetime, rule: ServiceRule, room_id: uuid.UUID | None) -> None:
        block = block_for(start, rule)
        self.own.append((block.start.astimezone(dt.UTC), block.end.astimezone(dt.UTC), room_id))

    def in_lmn_window(self, start: dt.datetime) -> bool:
        if self.lmn is None:
            return True
        return self.lmn.signed_on <= start.astimezone(self.zone).date() <= self.lmn.expires_on

    def check(self, start: dt.datetime, rule: ServiceRule) -> uuid.UUID | None:
        """The room the start would take; raises SlotRejected like a single staff booking."""
        therapist, rooms = self._views(start - dt.timedelta(days=1), start + dt.timedelta(days=1))
        return check_slot(
            zone=self.zone,
            start=start,
            service=rule,
            therapist=therapist,
            rooms=rooms,
            policy=self.check_policy,
            now=self.now,
        )

    def alternative(self, start: dt.datetime, rule: ServiceRule) -> Alternative | None:
        local = start.astimezone(self.zone)
        wanted = local.hour * 60 + local.minute
        for distance in range(ALTERNATIVE_DAYS + 1):
            best: tuple[tuple[int, int, int], Alternative] | None = None
            for sign in (1, -1) if distance else (1,):
                day = local.date() + dt.timedelta(days=sign * distance)
                lo = dt.datetime.combine(day, dt.time(0), self.zone) - dt.timedelta(days=1)
                therapist, rooms = self._views(lo.astimezone(dt.UTC), (lo + dt.timedelta(days=3)).astimezone(dt.UTC))
                for slot in find_slots(
                    zone=self.zone,
                    date_from=day,
                    date_to=day,
                    service=rule,
                    therapists=[therapist],
                    rooms=rooms,
                    policy=self.alternative_policy,
                    now=self.now,
                ):
                    if not self.in_lmn_window(slot.start):
                        continue
                    minutes = slot.start.hour * 60 + slot.start.minute
                    key = (abs(minutes - wanted), 0 if sign > 0 else 1, minutes)
                    if best is None or key < best[0]:
                        best = (
                            key,
                            Alternative(slot.start.astimezone(dt.UTC), slot.end.astimezone(dt.UTC), slot.room_id),
                        )
            if best is not None:
                return best[1]
        return None


async def load_series_calendar(
    session: AsyncSession,
    practice: Practice,
    therapist_id: uuid.UUID,
    rules: Sequence[ServiceRule],
    starts: Sequence[dt.datetime],
    *,
    exclude: Sequence[uuid.UUID] = (),
    lmn: LetterOfMedicalNecessity | None = None,
    now: dt.datetime | None = None,
) -> SeriesCalendar:
    """Load the therapist's calendar and the rooms any of `rules` may use, once, over every start ± the
    alternative days. `exclude` names appointments being moved: their own time counts as free."""
    room_sets = [rule.room_ids for rule in rules]
    room_ids = None if any(r is None for r in room_sets) else frozenset().union(*[r for r in room_sets if r])
    loading = ServiceRule(rules[0].duration, room_ids=room_ids if room_ids is None or room_ids else frozenset())
    margin = dt.timedelta(days=ALTERNATIVE_DAYS + 2)
    window = Interval(min(starts) - margin, max(starts) + margin)
    calendars, rooms = await _load_calendars(session, practice, [therapist_id], loading, window, exclude=list(exclude))
    granularity = dt.timedelta(minutes=practice.slot_granularity_minutes)
    horizon = dt.timedelta(days=3650)
    return SeriesCalendar(
        zone=ZoneInfo(practice.timezone),
        therapist=calendars[0],
        busy=_Sliced(_pairs_of(calendars[0].busy)),
        rooms={room.room_id: _Sliced(_pairs_of(room.busy)) for room in rooms},
        now=now or utcnow(),
        check_policy=BookingPolicy(min_notice=dt.timedelta(0), horizon=horizon, granularity=dt.timedelta(minutes=1)),
        alternative_policy=BookingPolicy(min_notice=dt.timedelta(0), horizon=horizon, granularity=granularity),
        lmn=lmn,
    )

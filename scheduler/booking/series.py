"""Recurring series from a treatment plan: preview every occurrence against the calendars, then commit.

The availability engine decides each occurrence exactly as it decides a single staff booking
(`check_slot`: hours, time off, buffers, rooms). The calendars are loaded ONCE for the whole series
window (plus the days alternatives may use) and each occurrence is checked against a slice of them,
so a 52-week series costs one load, not 52.

A conflicting occurrence gets an alternative: the nearest free start with the same therapist on the
same local day (closest wall time), then on the days ±1, ±2 … ±ALTERNATIVE_DAYS (at equal distance the
later day first: a session postponed keeps the plan's spacing better than one pulled forward; within
a day the earlier of two equally close times). Alternatives stay inside the letter of medical
necessity's window when the plan has one, and never collide with the series' own other occurrences.

Commit re-runs the preview inside the write transaction (the preview the user saw may be stale) and
writes the series and all its appointments in one savepoint: on SQLite under `begin_write`'s lock,
on PostgreSQL under the exclusion constraints (a concurrent booking that wins turns the whole commit
into `slot_taken`, nothing saved).
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.availability import (
    BookingPolicy,
    Interval,
    RoomCalendar,
    ServiceRule,
    SlotRejected,
    TherapistCalendar,
    _Pairs,
    block_for,
    check_slot,
    find_slots,
)
from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus, SeriesStatus
from scheduler.booking.recurrence import Occurrence, expand, rrule_for
from scheduler.booking.services import (
    Actor,
    _load_calendars,
    _record,
    _service_with_rule,
    _written_or_slot_taken,
    therapists_for,
    utcnow,
)
from scheduler.db import begin_write
from scheduler.errors import AlreadyExists, InvalidInput, InvalidTransition, SeriesConflicts
from scheduler.plans.models import LetterOfMedicalNecessity, PlanStatus, TreatmentPlan
from scheduler.plans.services import lmn_for, recurrence_of
from scheduler.practice.models import Practice

ALTERNATIVE_DAYS = 3
Reason = Literal["therapist_busy", "room_busy", "outside_hours", "time_off", "outside_lmn_window", "in_the_past"]
# The engine's rule → the reason a series occurrence reports.
_REASONS: dict[str, Reason] = {
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


@dataclass(frozen=True)
class Proposal:
    """One proposed occurrence (index 1-based; `local` is its RECURRENCE-ID wall time)."""

    index: int
    local: dt.datetime
    start: dt.datetime
    end: dt.datetime
    room_id: uuid.UUID | None
    kind: str
    service_id: uuid.UUID
    conflict: OccurrenceConflict | None


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


def propose(
    calendar: SeriesCalendar,
    occurrences: Sequence[Occurrence],
    rules: dict[str, tuple[uuid.UUID, ServiceRule]],
) -> list[Proposal]:
    """Check every occurrence in order (each accepted one then blocks the later ones), then find an
    alternative for each conflict, avoiding every accepted occurrence and earlier alternative."""
    proposals: list[Proposal] = []
    for occurrence in occurrences:
        service_id, rule = rules[occurrence.kind]
        start = occurrence.start
        end = start + rule.duration
        conflict: OccurrenceConflict | None = None
        room_id: uuid.UUID | None = None
        if not calendar.in_lmn_window(start):
            conflict = OccurrenceConflict("outside_lmn_window", "outside the letter of medical necessity", None)
        else:
            try:
                room_id = calendar.check(start, rule)
            except SlotRejected as exc:
                conflict = OccurrenceConflict(_REASONS.get(exc.rule, "outside_hours"), exc.detail, None)
            else:
                calendar.accept(start, rule, room_id)
        proposals.append(
            Proposal(occurrence.index, occurrence.local, start, end, room_id, occurrence.kind, service_id, conflict)
        )
    for position, proposal in enumerate(proposals):
        if proposal.conflict is None or proposal.conflict.reason == "outside_lmn_window":
            continue
        _, rule = rules[proposal.kind]
        alternative = calendar.alternative(proposal.start, rule)
        if alternative is not None:
            calendar.accept(alternative.start, rule, alternative.room_id)
        proposals[position] = replace(proposal, conflict=replace(proposal.conflict, alternative=alternative))
    return proposals


async def _plan_rules(session: AsyncSession, plan: TreatmentPlan) -> dict[str, tuple[uuid.UUID, ServiceRule]]:
    service, rule = await _service_with_rule(session, plan.service_id, online=False)
    await therapists_for(session, service, plan.therapist_id)
    rules = {"treatment": (service.id, rule), "reassessment": (service.id, rule)}
    if plan.reassessment_service_id is not None:
        other, other_rule = await _service_with_rule(session, plan.reassessment_service_id, online=False)
        await therapists_for(session, other, plan.therapist_id)
        rules["reassessment"] = (other.id, other_rule)
    return rules


async def preview_series(
    session: AsyncSession, practice: Practice, plan: TreatmentPlan, *, now: dt.datetime | None = None
) -> list[Proposal]:
    """Every occurrence the plan asks for, each with its conflict (reason and alternative) or None."""
    occurrences = expand(recurrence_of(plan, practice))
    rules = await _plan_rules(session, plan)
    calendar = await load_series_calendar(
        session,
        practice,
        plan.therapist_id,
        [rule for _, rule in rules.values()],
        [o.start for o in occurrences],
        lmn=await lmn_for(session, plan.id),
        now=now,
    )
    return propose(calendar, occurrences, rules)


ConflictPolicy = Literal["fail", "skip", "shift", "decide"]
Action = Literal["skip", "shift", "keep"]


@dataclass
class SeriesBooked:
    series: AppointmentSeries
    appointments: list[Appointment]
    skipped: list[Proposal]
    shifted: list[Proposal]


def conflict_report(proposals: Sequence[Proposal]) -> list[dict[str, object]]:
    """The conflicts as plain JSON for a 409 problem document."""
    report: list[dict[str, object]] = []
    for p in proposals:
        if p.conflict is None:
            continue
        alternative = p.conflict.alternative
        report.append(
            {
                "index": p.index,
                "start": p.start.isoformat(),
                "reason": p.conflict.reason,
                "alternative": None
                if alternative is None
                else {"start": alternative.start.isoformat(), "end": alternative.end.isoformat()},
            }
        )
    return report


def _resolve(
    proposals: Sequence[Proposal], policy: ConflictPolicy, decisions: dict[int, Action]
) -> tuple[list[tuple[Proposal, dt.datetime, dt.datetime, uuid.UUID | None]], list[Proposal], list[Proposal]]:
    """What to write for each proposal under the policy; raises SeriesConflicts for what it cannot resolve."""
    unknown = sorted(set(decisions) - {p.index for p in proposals})
    if unknown:
        raise InvalidInput(f"There is no occurrence {unknown[0]}.", field="decisions")
    written: list[tuple[Proposal, dt.datetime, dt.datetime, uuid.UUID | None]] = []
    skipped: list[Proposal] = []
    shifted: list[Proposal] = []
    unresolved: list[Proposal] = []
    for p in proposals:
        if p.conflict is None:
            written.append((p, p.start, p.end, p.room_id))
            continue
        action: Action | None = {"skip": "skip", "shift": "shift"}.get(policy)  # type: ignore[assignment]
        if policy == "decide":
            action = decisions.get(p.index)
        if action == "keep" and p.conflict.reason == "outside_lmn_window":
            written.append((p, p.start, p.end, p.room_id))
        elif action == "skip":
            skipped.append(p)
        elif action == "shift" and p.conflict.alternative is not None:
            alt = p.conflict.alternative
            written.append((p, alt.start, alt.end, alt.room_id))
            shifted.append(p)
        else:
            unresolved.append(p)
    if unresolved:
        raise SeriesConflicts(
            f"{len(unresolved)} occurrence(s) conflict and were not resolved; nothing was saved.",
            field="conflict_policy",
            conflicts=conflict_report(unresolved),
        )
    if not written:
        raise SeriesConflicts(
            "Every occurrence was left out; nothing was saved.", field="conflict_policy", conflicts=[]
        )
    return written, skipped, shifted


async def book_series(
    session: AsyncSession,
    practice: Practice,
    plan: TreatmentPlan,
    *,
    policy: ConflictPolicy,
    decisions: dict[int, Action],
    actor: Actor,
    now: dt.datetime | None = None,
) -> SeriesBooked:
    """Book the plan's series in one transaction: all its appointments, or nothing."""
    actor.require_therapist(plan.therapist_id)
    if plan.status != PlanStatus.ACTIVE:
        raise InvalidTransition(f"A {plan.status.value} plan books no series.", field="plan_id")
    await begin_write(session)
    existing = await session.scalar(
        select(AppointmentSeries.id).where(
            AppointmentSeries.plan_id == plan.id, AppointmentSeries.status == SeriesStatus.ACTIVE.value
        )
    )
    if existing is not None:
        raise AlreadyExists("This plan already has an active series.", field="plan_id", series_id=str(existing))
    recurrence = recurrence_of(plan, practice)
    occurrences = expand(recurrence)
    proposals = await preview_series(session, practice, plan, now=now)
    written, skipped, shifted = _resolve(proposals, policy, decisions)
    treatment_rule = (await _service_with_rule(session, plan.service_id, online=False))[1]
    rooms = {room for _, _, _, room in written}
    series = AppointmentSeries(
        plan_id=plan.id,
        client_id=plan.client_id,
        therapist_id=plan.therapist_id,
        service_id=plan.service_id,
        room_id=rooms.pop() if len(rooms) == 1 else None,
        timezone=practice.timezone,
        dtstart_local=occurrences[0].local,
        duration_minutes=int(treatment_rule.duration.total_seconds() // 60),
        rrule=rrule_for(recurrence, occurrences),
        sequence=0,
        status=SeriesStatus.ACTIVE.value,
    )
    rules = await _plan_rules(session, plan)
    appointments: list[Appointment] = []
    zone = ZoneInfo(practice.timezone)
    async with _written_or_slot_taken(session, zone, written[0][1], written[-1][2]):
        session.add(series)
        await session.flush()
        for proposal, start, end, room_id in written:
            block = block_for(start, rules[proposal.kind][1])
            appointment = Appointment(
                client_id=plan.client_id,
                therapist_id=plan.therapist_id,
                service_id=proposal.service_id,
                room_id=room_id,
                start_at=start,
                end_at=end,
                block_start=block.start.astimezone(dt.UTC),
                block_end=block.end.astimezone(dt.UTC),
                status=AppointmentStatus.BOOKED,
                source="staff",
                series_id=series.id,
                recurrence_id=proposal.local,
                kind=proposal.kind,
                plan_id=plan.id,
            )
            session.add(appointment)
            appointments.append(appointment)
        await session.flush()
    for appointment, (proposal, start, _, _) in zip(appointments, written, strict=True):
        detail: dict[str, object] = {"start": start.isoformat(), "series_id": str(series.id), "index": proposal.index}
        if start != proposal.start:
            detail["shifted_from"] = proposal.start.isoformat()
        _record(session, appointment, actor, "booked", **detail)
    await session.flush()
    return SeriesBooked(series, appointments, skipped, shifted)

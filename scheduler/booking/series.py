"""Recurring series from a treatment plan: preview every occurrence against the calendars, then commit.

The availability engine decides each occurrence exactly as it decides a single staff booking
(`check_slot`: hours, time off, buffers, rooms). The calendars are loaded ONCE for the whole series
window (plus the days alternatives may use; see `series_calendar`) and each occurrence is checked
against a slice of them, so a 52-week series costs one load, not 52. Each conflict gets the nearest
free alternative (`SeriesCalendar.alternative`).

Commit re-runs the preview inside the write transaction (the preview the user saw may be stale) and
writes the series and all its appointments in one savepoint under the practice's calendar lock
(`begin_calendar_write`), with PostgreSQL's exclusion constraints as the safety net (a concurrent
booking that wins turns the whole commit into `slot_taken`, nothing saved).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import notices
from scheduler.booking.availability import ServiceRule, SlotRejected, block_for
from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus, SeriesStatus
from scheduler.booking.recurrence import Occurrence, expand, rrule_for
from scheduler.booking.series_calendar import (
    ALTERNATIVE_DAYS,
    REASONS,
    Alternative,
    OccurrenceConflict,
    SeriesCalendar,
    load_series_calendar,
)
from scheduler.booking.services import (
    Actor,
    _record,
    _service_with_rule,
    _written_or_slot_taken,
    lock_calendar,
    therapists_for,
)
from scheduler.errors import AlreadyExists, InvalidInput, InvalidTransition, SeriesConflicts
from scheduler.plans.models import PlanStatus, TreatmentPlan
from scheduler.plans.services import lmn_for, recurrence_of
from scheduler.practice.models import Practice

__all__ = [
    "ALTERNATIVE_DAYS",
    "Alternative",
    "OccurrenceConflict",
    "Proposal",
    "SeriesBooked",
    "SeriesCalendar",
    "book_series",
    "preview_series",
    "propose",
]


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
                conflict = OccurrenceConflict(REASONS.get(exc.rule, "outside_hours"), exc.detail, None)
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
    base_url: str | None = None,
) -> SeriesBooked:
    """Book the plan's series in one transaction: all its appointments, or nothing.

    The client gets one e-mail listing the upcoming visits it booked, queued with them.
    """
    actor.require_therapist(plan.therapist_id)
    if plan.status != PlanStatus.ACTIVE:
        raise InvalidTransition(f"A {plan.status.value} plan books no series.", field="plan_id")
    await lock_calendar(session)
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
    await notices.series_booked(session, practice, series, appointments, base_url=base_url)
    return SeriesBooked(series, appointments, skipped, shifted)

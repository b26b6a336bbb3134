"""Edits to a committed series: move or cancel THIS occurrence, THIS AND FOLLOWING (split), ALL, or
cancel the remaining series.

Every edit re-checks conflicts the way a booking does (the same engine, under the same write lock or
exclusion constraints) and bumps the SEQUENCE of every series it touches.

* THIS: the occurrence moves or is cancelled like a single appointment (`services.reschedule` /
  `services.cancel`); it keeps its RECURRENCE-ID and its series.
* THIS AND FOLLOWING from occurrence k: the old series ends before k (its RRULE is cut: COUNT
  becomes the number kept, or UNTIL the last kept instant) and becomes "ended"; a new series with
  `parent_series_id` = the old one starts at the new local time with the new (or the same) rule, and
  the old series' booked occurrences from k on become its occurrences, in order.
* ALL: the same re-timing in place, for a series none of whose occurrences has happened yet
  (arrived, completed or no-show); once it has, use THIS AND FOLLOWING.
* Cancel remaining: every booked occurrence from now (or from a given occurrence) is cancelled; past
  ones stay as they are.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import hooks, notices
from scheduler.booking.availability import ServiceRule, SlotRejected, block_for
from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus, SeriesStatus
from scheduler.booking.recurrence import (
    Frequency,
    Occurrence,
    Recurrence,
    build_rrule,
    expand,
    expand_rule,
    parse_rrule,
    truncate_rrule,
)
from scheduler.booking.series_calendar import REASONS, SeriesCalendar, load_series_calendar
from scheduler.booking.services import Actor, _record, _service_with_rule, _written_or_slot_taken, lock_calendar, utcnow
from scheduler.db import begin_write
from scheduler.errors import InvalidInput, InvalidTransition, NotFound, SeriesConflicts
from scheduler.practice.models import Practice

Scope = Literal["following", "all"]
_MOVABLE = (AppointmentStatus.BOOKED, AppointmentStatus.PENDING_PAYMENT)
_HAPPENED = (AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)


async def get_series(session: AsyncSession, series_id: uuid.UUID, actor: Actor | None = None) -> AppointmentSeries:
    series = await session.scalar(select(AppointmentSeries).where(AppointmentSeries.id == series_id))
    if series is None or (actor is not None and actor.own_therapist_id not in (None, series.therapist_id)):
        raise NotFound("No such series.", field="series_id")
    return series


async def occurrences_of(session: AsyncSession, series: AppointmentSeries) -> list[Appointment]:
    return list(
        await session.scalars(
            select(Appointment)
            .where(Appointment.series_id == series.id)
            .order_by(Appointment.recurrence_id, Appointment.start_at)
        )
    )


async def occurrence(session: AsyncSession, series: AppointmentSeries, appointment_id: uuid.UUID) -> Appointment:
    appointment = await session.scalar(
        select(Appointment).where(Appointment.id == appointment_id, Appointment.series_id == series.id)
    )
    if appointment is None:
        raise NotFound("No such occurrence in this series.", field="appointment_id")
    return appointment


@dataclass
class SeriesEdited:
    series: list[AppointmentSeries]  # the series touched: the old one first, then a new one after a split
    moved: list[Appointment]


def _from_where(every: list[Appointment], scope: Scope, from_appointment_id: uuid.UUID | None) -> Appointment:
    """The occurrence the change starts from."""
    if scope == "all":
        if any(a.status in _HAPPENED for a in every):
            raise InvalidTransition(
                "Some sessions of this series have already happened; change this and following instead.",
                field="scope",
            )
        first = next((a for a in every if a.status in _MOVABLE), None)
        if first is None:
            raise InvalidTransition("The series has no booked session left.", field="scope")
        return first
    if from_appointment_id is None:
        raise InvalidInput("Name the occurrence the change starts from.", field="from_appointment_id")
    first = next((a for a in every if a.id == from_appointment_id), None)
    if first is None:
        raise NotFound("No such occurrence in this series.", field="from_appointment_id")
    if first.status not in _MOVABLE:
        raise InvalidTransition(
            f"A {first.status.value.replace('_', ' ')} occurrence cannot be moved.", field="from_appointment_id"
        )
    return first


_Placed = tuple[Appointment, dt.datetime, dt.datetime, uuid.UUID | None, dt.datetime]


def _place_all(
    calendar: SeriesCalendar,
    following: list[Appointment],
    new_occurrences: list[Occurrence],
    rules: dict[uuid.UUID, ServiceRule],
) -> list[_Placed]:
    """Each following occurrence at its new time, or SeriesConflicts listing every one that cannot go there."""
    placed: list[_Placed] = []
    conflicts: list[dict[str, object]] = []
    for index, (appointment, new) in enumerate(zip(following, new_occurrences, strict=True), start=1):
        rule = rules[appointment.service_id]
        try:
            room_id = calendar.check(new.start, rule)
        except SlotRejected as exc:
            alternative = calendar.alternative(new.start, rule)
            conflicts.append(
                {
                    "index": index,
                    "appointment_id": str(appointment.id),
                    "start": new.start.isoformat(),
                    "reason": REASONS.get(exc.rule, "outside_hours"),
                    "alternative": None
                    if alternative is None
                    else {"start": alternative.start.isoformat(), "end": alternative.end.isoformat()},
                }
            )
            continue
        calendar.accept(new.start, rule, room_id)
        placed.append((appointment, new.start, new.start + rule.duration, room_id, new.local))
    if conflicts:
        raise SeriesConflicts(
            f"{len(conflicts)} occurrence(s) would conflict at the new time; nothing was changed.",
            field="first_start",
            conflicts=conflicts,
        )
    return placed


def _split(
    series: AppointmentSeries, cut: dt.datetime, earlier: int, first_start: dt.datetime, rule: str
) -> AppointmentSeries:
    """End `series` before the local time `cut` and return its continuation (not yet added)."""
    old_frequency, _, _ = parse_rrule(series.rrule)
    kept = [o for o in expand_rule(series.rrule, series.dtstart_local, series.timezone) if o.local < cut]
    series.rrule = (
        truncate_rrule(series.rrule, kept) if kept else build_rrule(old_frequency, series.dtstart_local, count=earlier)
    )
    series.status = SeriesStatus.ENDED.value
    return AppointmentSeries(
        plan_id=series.plan_id,
        client_id=series.client_id,
        therapist_id=series.therapist_id,
        service_id=series.service_id,
        room_id=series.room_id,
        timezone=series.timezone,
        dtstart_local=first_start,
        duration_minutes=series.duration_minutes,
        rrule=rule,
        sequence=0,
        status=SeriesStatus.ACTIVE.value,
        parent_series_id=series.id,
    )


async def _write_moves(
    session: AsyncSession, target: AppointmentSeries, placed: list[_Placed], rules: dict[uuid.UUID, ServiceRule]
) -> None:
    async with _written_or_slot_taken(session, ZoneInfo(target.timezone), placed[0][1], placed[-1][2]):
        session.add(target)
        await session.flush()
        # Step aside first: moving occurrence 5 onto where 6 was would otherwise meet 6's row in the
        # exclusion constraint before 6 has moved on.
        held = {a.id: a.status for a, *_ in placed}
        for appointment, *_ in placed:
            appointment.status = AppointmentStatus.CANCELLED
        await session.flush()
        for appointment, start, end, room_id, local in placed:
            block = block_for(start, rules[appointment.service_id])
            appointment.start_at, appointment.end_at = start, end
            appointment.block_start = block.start.astimezone(dt.UTC)
            appointment.block_end = block.end.astimezone(dt.UTC)
            appointment.room_id = room_id
            appointment.series_id = target.id
            appointment.recurrence_id = local
            appointment.status = held[appointment.id]
        await session.flush()


async def reschedule_series(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    *,
    scope: Scope,
    first_start: dt.datetime,
    frequency: Frequency | None,
    from_appointment_id: uuid.UUID | None,
    actor: Actor,
    now: dt.datetime | None = None,
    base_url: str | None = None,
) -> SeriesEdited:
    """Re-time the series' booked occurrences from one of them (`following`) or all of them (`all`).

    The client gets one e-mail listing the upcoming visits that moved, queued with the change.
    """
    actor.require_therapist(series.therapist_id)
    await lock_calendar(session)
    await session.refresh(series)
    if series.status != SeriesStatus.ACTIVE.value:
        raise InvalidTransition(f"An {series.status} series cannot be changed.", series_status=series.status)
    every = await occurrences_of(session, series)
    first = _from_where(every, scope, from_appointment_id)
    cut = first.recurrence_id
    assert cut is not None  # noqa: S101 - series occurrences carry one
    earlier = [a for a in every if a.recurrence_id is not None and a.recurrence_id < cut]
    following = [a for a in every if a.recurrence_id is not None and a.recurrence_id >= cut and a.status in _MOVABLE]
    rule_frequency = frequency or parse_rrule(series.rrule)[0]
    new_occurrences = expand(
        Recurrence(rule_frequency, first_start, series.timezone, sessions=len(following), reassess_every=None)
    )
    rules: dict[uuid.UUID, ServiceRule] = {}
    for appointment in following:
        if appointment.service_id not in rules:
            rules[appointment.service_id] = (await _service_with_rule(session, appointment.service_id, online=False))[1]
    calendar = await load_series_calendar(
        session,
        practice,
        series.therapist_id,
        list(rules.values()),
        [o.start for o in new_occurrences] + [a.start_at for a in following],
        exclude=[a.id for a in following],
        now=now or utcnow(),
    )
    placed = _place_all(calendar, following, new_occurrences, rules)
    new_rule = build_rrule(rule_frequency, first_start, count=len(following))
    target = series
    if scope == "all" or not earlier:
        series.dtstart_local, series.rrule = first_start, new_rule
    else:
        target = _split(series, cut, len(earlier), first_start, new_rule)
    series.sequence += 1
    previous = {a.id: a.start_at for a, *_ in placed}
    await _write_moves(session, target, placed, rules)
    for appointment, start, *_ in placed:
        _record(
            session,
            appointment,
            actor,
            "rescheduled",
            previous={"start": previous[appointment.id].isoformat()},
            start=start.isoformat(),
            series_id=str(target.id),
            scope=scope,
        )
    await session.flush()
    moved = [a for a, *_ in placed]
    await notices.series_rescheduled(session, practice, target, moved, previous_starts=previous, base_url=base_url)
    return SeriesEdited([series] if target is series else [series, target], moved)


async def cancel_series(
    session: AsyncSession,
    practice: Practice,
    series: AppointmentSeries,
    *,
    reason: str,
    actor: Actor,
    from_appointment_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
    base_url: str | None = None,
) -> tuple[AppointmentSeries, list[Appointment]]:
    """Cancel the booked occurrences from now on (or from a named occurrence on); past ones stay intact.

    The client gets one e-mail listing the upcoming visits that were cancelled, queued with the change.
    """
    actor.require_therapist(series.therapist_id)
    now = now or utcnow()
    await begin_write(session)
    await session.refresh(series)
    if series.status == SeriesStatus.CANCELLED.value:
        raise InvalidTransition("The series is already cancelled.", series_status=series.status)
    every = await occurrences_of(session, series)
    if from_appointment_id is not None:
        first = next((a for a in every if a.id == from_appointment_id), None)
        if first is None or first.recurrence_id is None:
            raise NotFound("No such occurrence in this series.", field="from_appointment_id")
        cut = first.recurrence_id
        remaining = [a for a in every if a.recurrence_id is not None and a.recurrence_id >= cut]
    else:
        remaining = [a for a in every if a.start_at >= now]
    cancelled = [a for a in remaining if a.status in _MOVABLE]
    kept_ids = {a.id for a in every} - {a.id for a in remaining}
    kept_locals = sorted(a.recurrence_id for a in every if a.id in kept_ids and a.recurrence_id is not None)
    for appointment in cancelled:
        previous = appointment.status
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancel_reason = reason.strip()[:500]
        appointment.cancelled_at = now
        _record(session, appointment, actor, "cancelled", reason=appointment.cancel_reason, series_id=str(series.id))
        # The same extension point as a single cancel (billing: a series cancelled by the practice owes no fee,
        # but a package or plan policy may still react).
        await hooks.status_changed(session, appointment, previous, AppointmentStatus.CANCELLED)
    if kept_locals:
        kept = [
            o for o in expand_rule(series.rrule, series.dtstart_local, series.timezone) if o.local <= kept_locals[-1]
        ]
        if kept:
            series.rrule = truncate_rrule(series.rrule, kept)
    series.status = SeriesStatus.CANCELLED.value
    series.sequence += 1
    await session.flush()
    await notices.series_cancelled(session, practice, series, cancelled, base_url=base_url)
    return series, cancelled

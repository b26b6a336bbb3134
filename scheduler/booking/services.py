"""Booking use cases: availability, booking, rescheduling, cancelling and the visit's status.

The rules themselves (hours, buffers, notice, rooms, DST) live in the pure `availability` module;
this module loads what they need, holds the write lock while it checks and writes, and records who
did what. PostgreSQL's exclusion constraints are the last word on double booking; a violation here
becomes `SlotTaken`, never a 500.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import (
    TIMESTAMP,
    Date,
    Integer,
    Time,
    and_,
    cast,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import hooks, notices
from scheduler.booking.availability import (
    BookingPolicy,
    Interval,
    RejectionRule,
    RoomCalendar,
    ServiceRule,
    Slot,
    SlotRejected,
    TherapistCalendar,
    WeeklyHours,
    _Pairs,
    block_for,
    check_slot,
    find_slots,
)
from scheduler.booking.availability import (
    ExtraHours as ExtraHoursRule,
)
from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentEvent, AppointmentSeries, AppointmentStatus
from scheduler.clients import services as client_services
from scheduler.clients.models import Client
from scheduler.clients.services import ClientDetails
from scheduler.db import begin_calendar_write, lock_calendar_within_write
from scheduler.errors import (
    InvalidInput,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RuleViolation,
    SlotTaken,
    VisitNotStarted,
)
from scheduler.mail import services as mail
from scheduler.practice.models import (
    ExtraHours,
    Practice,
    Role,
    Room,
    Service,
    ServiceRoom,
    StaffUser,
    Therapist,
    TherapistService,
    TimeOff,
    WorkingHours,
)
from scheduler.practice.services import hash_token
from scheduler.validation import check_day, check_instant

MAX_RANGE_DAYS = 62
# Staff may enter a visit after the fact or far ahead, at any whole minute; the hours, time off,
# buffers and rooms still apply.
STAFF_POLICY = BookingPolicy(
    min_notice=-dt.timedelta(days=3650), horizon=dt.timedelta(days=3650), granularity=dt.timedelta(minutes=1)
)

_RULE_MESSAGES = {
    "min_notice": "That time is too soon to book online.",
    "beyond_horizon": "That time is too far ahead to book yet.",
    "outside_hours": "The therapist does not work at that time.",
    "time_off": "The therapist is away at that time.",
    "slot_taken": "That time is no longer available.",
    "no_room": "No suitable room is free at that time.",
    "nonexistent_local_time": "That local time does not exist (the clocks change).",
    "off_grid": "Appointments start on the practice's booking grid.",
}


# RejectionRule lists the rules in check_slot's order: a later rule means the start passed every earlier one.
_RULE_ORDER: tuple[str, ...] = get_args(RejectionRule)


@dataclass(frozen=True)
class Actor:
    kind: str  # staff | client | system
    user_id: uuid.UUID | None = None
    # A therapist acts on their own schedule only.
    own_therapist_id: uuid.UUID | None = None

    @classmethod
    def staff(cls, user_id: uuid.UUID) -> Actor:
        return cls("staff", user_id)

    @classmethod
    def for_staff(cls, staff: StaffUser) -> Actor:
        return cls("staff", staff.id, _own_therapist(staff))

    def require_therapist(self, therapist_id: uuid.UUID) -> None:
        if self.own_therapist_id is not None and therapist_id != self.own_therapist_id:
            raise PermissionDenied("Therapists book and move visits on their own schedule only.", field="therapist_id")


CLIENT = Actor("client")


def practice_policy(practice: Practice) -> BookingPolicy:
    return BookingPolicy(
        min_notice=dt.timedelta(minutes=practice.min_notice_minutes),
        horizon=dt.timedelta(days=practice.horizon_days),
        granularity=dt.timedelta(minutes=practice.slot_granularity_minutes),
    )


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def service_rule(session: AsyncSession, service: Service) -> ServiceRule:
    room_ids = frozenset(await session.scalars(select(ServiceRoom.room_id).where(ServiceRoom.service_id == service.id)))
    return ServiceRule(
        duration=dt.timedelta(minutes=service.duration_minutes),
        buffer_before=dt.timedelta(minutes=service.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=service.buffer_after_minutes),
        room_ids=room_ids or None,
    )


async def get_service(session: AsyncSession, service_id: uuid.UUID, *, online: bool) -> Service:
    service = await session.scalar(select(Service).where(Service.id == service_id, Service.is_active.is_(True)))
    if service is None or (online and not service.bookable_online):
        raise NotFound("No such service.", field="service_id")
    return service


async def _service_with_rule(
    session: AsyncSession, service_id: uuid.UUID, *, online: bool
) -> tuple[Service, ServiceRule]:
    """`get_service` and `service_rule` in one round trip: the service outer-joined to its rooms."""
    rows = (
        await session.execute(
            select(Service, ServiceRoom.room_id)
            .outerjoin(ServiceRoom, ServiceRoom.service_id == Service.id)
            .where(Service.id == service_id, Service.is_active.is_(True))
        )
    ).all()
    if not rows or (online and not rows[0][0].bookable_online):
        raise NotFound("No such service.", field="service_id")
    service = rows[0][0]
    room_ids = frozenset(room_id for _, room_id in rows if room_id is not None)
    return service, ServiceRule(
        duration=dt.timedelta(minutes=service.duration_minutes),
        buffer_before=dt.timedelta(minutes=service.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=service.buffer_after_minutes),
        room_ids=room_ids or None,
    )


async def therapists_for(session: AsyncSession, service: Service, therapist_id: uuid.UUID | None) -> list[Therapist]:
    stmt = (
        select(Therapist)
        .join(TherapistService, TherapistService.therapist_id == Therapist.id)
        .where(TherapistService.service_id == service.id, Therapist.is_active.is_(True))
        .order_by(Therapist.last_name, Therapist.first_name)
    )
    if therapist_id is not None:
        therapist = await session.scalar(
            select(Therapist).where(Therapist.id == therapist_id, Therapist.is_active.is_(True))
        )
        if therapist is None:
            raise NotFound("No such therapist.", field="therapist_id")
        stmt = stmt.where(Therapist.id == therapist_id)
        performs = list(await session.scalars(stmt))
        if not performs:
            raise RuleViolation(
                f"{therapist.display_name} does not perform {service.name}.",
                rule="service_not_performed",
                field="therapist_id",
            )
        return performs
    return list(await session.scalars(stmt))


def _busy_columns(session: AsyncSession) -> tuple[Any, ...]:
    """The busy query's columns. On PostgreSQL asyncpg already returns UUIDs (a uuid.UUID subclass) and
    aware UTC datetimes, so the portable types' per-value processing is skipped for these thousands of
    rows; SQLite needs it (UUIDs are bytes there)."""
    columns = (Appointment.therapist_id, Appointment.room_id, Appointment.block_start, Appointment.block_end)
    if session.bind.dialect.name != "postgresql":
        return columns
    return (
        type_coerce(Appointment.therapist_id, PG_UUID(as_uuid=True)),
        type_coerce(Appointment.room_id, PG_UUID(as_uuid=True)),
        type_coerce(Appointment.block_start, TIMESTAMP(timezone=True)),
        type_coerce(Appointment.block_end, TIMESTAMP(timezone=True)),
    )


async def _busy_blocks(
    session: AsyncSession,
    therapist_ids: Sequence[uuid.UUID],
    room_ids: Sequence[uuid.UUID],
    window: Interval,
    exclude: uuid.UUID | Collection[uuid.UUID] | None,
) -> tuple[dict[uuid.UUID, Sequence[Interval]], dict[uuid.UUID, Sequence[Interval]]]:
    """Live appointment blocks over `window`, per therapist and per room, read in one query.

    The blocks are kept as the rows' (start, end) UTC pairs (`_Pairs`, a sequence of Intervals made on
    demand) so that the thousands of rows of a month's availability are not each made into an object."""
    # Rows also land under therapists or rooms not asked about (the row matched the other side); only
    # the ids asked about are read back.
    by_therapist: defaultdict[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    by_room: defaultdict[uuid.UUID | None, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    if therapist_ids or room_ids:
        stmt = select(*_busy_columns(session)).where(
            or_(Appointment.therapist_id.in_(therapist_ids), Appointment.room_id.in_(room_ids)),
            Appointment.status.in_(LIVE_STATUSES),
            not_an_expired_hold(utcnow()),
            Appointment.block_start < window.end,
            Appointment.block_end > window.start,
        )
        if isinstance(exclude, uuid.UUID):
            stmt = stmt.where(Appointment.id != exclude)
        elif exclude:
            stmt = stmt.where(Appointment.id.not_in(exclude))
        for therapist_id, room_id, start, end in (await session.execute(stmt)).all():
            block = (start, end)
            by_therapist[therapist_id].append(block)
            by_room[room_id].append(block)
    return (
        {i: _Pairs(by_therapist.get(i, [])) for i in therapist_ids},
        {i: _Pairs(by_room.get(i, [])) for i in room_ids},
    )


def not_an_expired_hold(now: dt.datetime) -> Any:
    """An unpaid online hold past its expiry reads as free (it is released by the next booking)."""
    return or_(
        Appointment.status != AppointmentStatus.PENDING_PAYMENT,
        Appointment.hold_expires_at.is_(None),
        Appointment.hold_expires_at > now,
    )


HOLD_EXPIRED = "hold expired"
# Putting a released hold back when its deposit arrives late: the practice's hours, time off, rooms and
# other visits apply as when it was booked; the notice, horizon and grid were met when the client booked.
REINSTATE_POLICY = BookingPolicy(
    min_notice=dt.timedelta(0), horizon=dt.timedelta(days=3650), granularity=dt.timedelta(minutes=1)
)
SYSTEM = Actor("system")


async def lock_calendar(session: AsyncSession) -> None:
    """Take the practice's calendar lock (`begin_calendar_write`) and release the unpaid holds whose time ran
    out. Every check reads an expired hold as free, so what is written next may take its time; released first,
    it cannot be paid into a double booking afterwards (a late deposit re-checks), and PostgreSQL's exclusion
    constraints stop counting it."""
    await begin_calendar_write(session)
    await release_expired_holds(session, utcnow())


async def release_hold(session: AsyncSession, appointment: Appointment, now: dt.datetime) -> None:
    """Release one unpaid online hold (its checkout closed, or its time ran out), with its audit event, and tell
    the status hooks (billing voids its invoice); the bulk form for every expired hold is `release_expired_holds`."""
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancel_reason = HOLD_EXPIRED
    appointment.cancelled_at = now
    _record(session, appointment, SYSTEM, "hold_released")
    await session.flush()
    await hooks.status_changed(session, appointment, AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.CANCELLED)


async def release_expired_holds(session: AsyncSession, now: dt.datetime) -> None:
    """Cancel the unpaid holds whose time ran out, so their time can be booked again (the database's
    no-double-booking constraint still counts them live until this runs), and tell the status hooks of each.

    Their held confirmations stay held, never sent: the client's checkout may still be paid, and then
    `reinstate_released_hold` sends them if the time is still free (billing drops them otherwise)."""
    released = list(
        await session.scalars(
            update(Appointment)
            .where(
                Appointment.status == AppointmentStatus.PENDING_PAYMENT,
                Appointment.hold_expires_at.is_not(None),
                Appointment.hold_expires_at <= now,
            )
            .values(status=AppointmentStatus.CANCELLED, cancel_reason=HOLD_EXPIRED, cancelled_at=now)
            .returning(Appointment.id)
            .execution_options(synchronize_session=False)
        )
    )
    for appointment_id in released:
        appointment = await session.get_one(Appointment, appointment_id, populate_existing=True)
        await hooks.status_changed(session, appointment, AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.CANCELLED)


async def load_calendars(
    session: AsyncSession,
    practice: Practice,
    therapists: Sequence[Therapist],
    rule: ServiceRule,
    window: Interval,
    exclude: uuid.UUID | None = None,
) -> tuple[list[TherapistCalendar], list[RoomCalendar]]:
    """Everything the availability rules need about these therapists and the rooms, over `window`.

    Two round trips: the therapists' weekly hours, extra hours and time off and the usable rooms come back
    as one UNION ALL of column selects (a `kind` column tells the rows apart), then the busy blocks."""
    return await _load_calendars(session, practice, [t.id for t in therapists], rule, window, exclude)


async def _load_calendars(
    session: AsyncSession,
    practice: Practice,
    therapists: list[uuid.UUID] | Service,
    rule: ServiceRule,
    window: Interval,
    exclude: uuid.UUID | Collection[uuid.UUID] | None = None,
) -> tuple[list[TherapistCalendar], list[RoomCalendar]]:
    """`load_calendars` for these therapist ids, or for every active therapist who performs a service
    (what `therapists_for(session, service, None)` returns, found inside the same union)."""
    zone = ZoneInfo(practice.timezone)
    ids: Any
    if isinstance(therapists, Service):
        ids = (
            select(TherapistService.therapist_id)
            .join(Therapist, Therapist.id == TherapistService.therapist_id)
            .where(TherapistService.service_id == therapists.id, Therapist.is_active.is_(True))
        )
    else:
        ids = therapists
    weekly: dict[uuid.UUID, list[WeeklyHours]] = {}
    extra: dict[uuid.UUID, list[ExtraHoursRule]] = {}
    off: dict[uuid.UUID, list[Interval]] = {}
    branches: list[Any] = []
    if isinstance(therapists, Service):
        branches.append(select(literal(_THERAPIST, Integer), ids.subquery().c.therapist_id, *_NO_HOURS, *_NO_OFF))
    if isinstance(therapists, Service) or therapists:
        first_day = window.start.astimezone(zone).date() - dt.timedelta(days=1)
        last_day = window.end.astimezone(zone).date() + dt.timedelta(days=1)
        # Column selects, not entities: these run on every availability query and need no ORM objects.
        branches += [
            select(
                literal(_WEEKLY, Integer),
                WorkingHours.therapist_id,
                WorkingHours.weekday,
                cast(null(), Date),
                WorkingHours.start_time,
                WorkingHours.end_time,
                *_NO_OFF,
            ).where(WorkingHours.therapist_id.in_(ids)),
            select(
                literal(_EXTRA, Integer),
                ExtraHours.therapist_id,
                cast(null(), Integer),
                ExtraHours.day,
                ExtraHours.start_time,
                ExtraHours.end_time,
                *_NO_OFF,
            ).where(ExtraHours.therapist_id.in_(ids), ExtraHours.day >= first_day, ExtraHours.day <= last_day),
            select(literal(_OFF, Integer), TimeOff.therapist_id, *_NO_HOURS, TimeOff.start_at, TimeOff.end_at).where(
                TimeOff.therapist_id.in_(ids), TimeOff.start_at < window.end, TimeOff.end_at > window.start
            ),
        ]
    room_stmt = select(literal(_ROOM, Integer), Room.id, *_NO_HOURS, *_NO_OFF).where(Room.is_active.is_(True))
    if rule.room_ids is not None:
        room_stmt = room_stmt.where(Room.id.in_(rule.room_ids))
    branches.append(room_stmt)
    # The first select fixes the result types; the NULLs are cast so that PostgreSQL can match them up.
    stmt = union_all(*branches) if len(branches) > 1 else room_stmt
    room_ids: list[uuid.UUID] = []
    for kind, owner, weekday, day, start, end, start_at, end_at in await session.execute(stmt):
        if kind == _WEEKLY:
            weekly.setdefault(owner, []).append(WeeklyHours(weekday, start, end))
        elif kind == _EXTRA:
            extra.setdefault(owner, []).append(ExtraHoursRule(day, start, end))
        elif kind == _OFF:
            off.setdefault(owner, []).append(Interval(start_at, end_at))
        elif kind == _ROOM:
            room_ids.append(owner)
        else:
            weekly.setdefault(owner, [])
    room_ids.sort()
    therapist_ids = sorted(weekly) if isinstance(therapists, Service) else therapists
    busy, room_busy = await _busy_blocks(session, therapist_ids, room_ids, window, exclude)
    calendars = [
        TherapistCalendar(
            therapist_id=i, weekly=weekly.get(i, []), extra=extra.get(i, []), time_off=off.get(i, []), busy=busy[i]
        )
        for i in therapist_ids
    ]
    rooms = [RoomCalendar(room_id=r, busy=room_busy[r]) for r in room_ids]
    return calendars, rooms


# The `kind` column of _load_calendars' union, and the NULL columns a branch does not use.
_WEEKLY, _EXTRA, _OFF, _ROOM, _THERAPIST = 0, 1, 2, 3, 4
# Labelled, so that a select standing alone (only the rooms branch) keeps every column: SQLAlchemy
# folds identical unlabelled expressions like two CAST(NULL AS TIME) into one.
_NO_HOURS = (
    cast(null(), Integer).label("weekday"),
    cast(null(), Date).label("day"),
    cast(null(), Time).label("start_time"),
    cast(null(), Time).label("end_time"),
)
_NO_OFF = (cast(null(), TimeOff.start_at.type).label("start_at"), cast(null(), TimeOff.end_at.type).label("end_at"))


def _local_day_window(zone: ZoneInfo, date_from: dt.date, date_to: dt.date) -> Interval:
    start = dt.datetime.combine(date_from, dt.time(0), zone) - dt.timedelta(days=1)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), zone) + dt.timedelta(days=1)
    return Interval(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def validate_range(date_from: dt.date, date_to: dt.date) -> None:
    if date_to < date_from:
        raise InvalidInput("date_to must not be before date_from.", field="date_to")
    if (date_to - date_from).days >= MAX_RANGE_DAYS:
        raise InvalidInput(f"Ask for at most {MAX_RANGE_DAYS} days at a time.", field="date_to")
    check_day(date_from, "date_from")
    check_day(date_to, "date_to")


async def availability(
    session: AsyncSession,
    practice: Practice,
    *,
    service_id: uuid.UUID,
    date_from: dt.date,
    date_to: dt.date,
    therapist_id: uuid.UUID | None = None,
    online: bool = True,
    now: dt.datetime | None = None,
    moving: uuid.UUID | None = None,
) -> list[Slot]:
    """Free starts over local dates [date_from, date_to]. `moving` names an appointment being moved:
    its own time counts as free, so a 10:00 visit can move to 10:30 (but is not offered 10:00 again)."""
    validate_range(date_from, date_to)
    service, rule = await _service_with_rule(session, service_id, online=online)
    # Everyone who performs the service is found inside load_calendars' own query (one round trip less).
    therapists: list[uuid.UUID] | Service = service
    if therapist_id is not None:
        therapists = [t.id for t in await therapists_for(session, service, therapist_id)]
    zone = ZoneInfo(practice.timezone)
    calendars, rooms = await _load_calendars(
        session, practice, therapists, rule, _local_day_window(zone, date_from, date_to), exclude=moving
    )
    slots = find_slots(
        zone=zone,
        date_from=date_from,
        date_to=date_to,
        service=rule,
        therapists=calendars,
        rooms=rooms,
        policy=practice_policy(practice) if online else STAFF_POLICY,
        now=now or utcnow(),
    )
    if moving is not None:
        # The time the visit already has is no place to move it to.
        current = await get_appointment(session, moving)
        slots = [s for s in slots if not (s.start == current.start_at and s.therapist_id == current.therapist_id)]
    return slots


def _require_aware(start: dt.datetime, field: str = "start") -> dt.datetime:
    if start.tzinfo is None or start.utcoffset() is None:
        raise InvalidInput("Give the time with its UTC offset, e.g. 2027-03-02T09:00:00-05:00.", field=field)
    if start.second or start.microsecond:
        raise InvalidInput("Appointments start on a whole minute.", field=field)
    return check_instant(start, field).astimezone(dt.UTC)


def _reject(exc: SlotRejected, start: dt.datetime, end: dt.datetime) -> Exception:
    if exc.rule == "slot_taken":
        return SlotTaken(_RULE_MESSAGES["slot_taken"], field="start", start=start.isoformat(), end=end.isoformat())
    if exc.rule == "no_room":
        return SlotTaken(
            _RULE_MESSAGES["no_room"], field="start", start=start.isoformat(), end=end.isoformat(), reason="no_room"
        )
    return RuleViolation(_RULE_MESSAGES.get(exc.rule, exc.detail), rule=exc.rule, field="start")


async def _place(
    session: AsyncSession,
    practice: Practice,
    service: Service,
    therapists: Sequence[Therapist],
    start: dt.datetime,
    policy: BookingPolicy,
    now: dt.datetime,
    exclude: uuid.UUID | None = None,
) -> tuple[Therapist, uuid.UUID | None, ServiceRule]:
    """Pick the first therapist (of those given) and a room that can take this start, or say why not."""
    rule = await service_rule(session, service)
    block = block_for(start, rule)
    window = Interval(block.start - dt.timedelta(days=1), block.end + dt.timedelta(days=1))
    calendars, rooms = await load_calendars(session, practice, therapists, rule, window, exclude)
    zone = ZoneInfo(practice.timezone)
    closest: SlotRejected | None = None
    for therapist, calendar in zip(therapists, calendars, strict=True):
        try:
            room_id = check_slot(
                zone=zone, start=start, service=rule, therapist=calendar, rooms=rooms, policy=policy, now=now
            )
        except SlotRejected as exc:
            # With "any therapist", report the refusal of whoever came closest: "no room free" says
            # more than "this one therapist is busy".
            if closest is None or _RULE_ORDER.index(exc.rule) > _RULE_ORDER.index(closest.rule):
                closest = exc
            continue
        return therapist, room_id, rule
    end = start + rule.duration
    if closest is None:
        raise RuleViolation("Nobody performs this service.", rule="service_not_performed", field="therapist_id")
    raise _reject(closest, start.astimezone(zone), end.astimezone(zone))


# PostgreSQL: 23P01 an exclusion constraint refused the row; 40P01 a deadlock, which is how two transactions
# inserting overlapping rows at the same moment end (each waits for the other's row; one is chosen to fail).
_DOUBLE_BOOKING_SQLSTATES = {"23P01", "40P01"}


def _is_double_booking(exc: DBAPIError) -> bool:
    text = str(exc.orig)
    return "no_double_booking" in text or getattr(exc.orig, "sqlstate", None) in _DOUBLE_BOOKING_SQLSTATES


@asynccontextmanager
async def _written_or_slot_taken(
    session: AsyncSession, zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> AsyncIterator[None]:
    """Write inside a savepoint; a PostgreSQL exclusion violation (or the deadlock of two overlapping inserts)
    there becomes `SlotTaken` for [start, end)."""
    try:
        async with session.begin_nested():
            yield
    except DBAPIError as exc:
        if not _is_double_booking(exc):
            raise
        raise SlotTaken(
            _RULE_MESSAGES["slot_taken"],
            field="start",
            start=start.astimezone(zone).isoformat(),
            end=end.astimezone(zone).isoformat(),
        ) from None


def _record(session: AsyncSession, appointment: Appointment, actor: Actor, action: str, **detail: Any) -> None:
    session.add(
        AppointmentEvent(
            appointment_id=appointment.id,
            actor=actor.kind,
            actor_user_id=actor.user_id,
            action=action,
            detail=detail,
        )
    )


async def touch_series(session: AsyncSession, appointment: Appointment) -> None:
    """A change to a series occurrence is a change to its series: bump the series' SEQUENCE (RFC 5545)."""
    if appointment.series_id is not None:
        await session.execute(
            update(AppointmentSeries)
            .where(AppointmentSeries.id == appointment.series_id)
            .values(sequence=AppointmentSeries.sequence + 1)
            .execution_options(synchronize_session=False)
        )


@dataclass
class Booked:
    appointment: Appointment
    manage_token: str
    checkout_url: str | None = None


async def book_online(
    session: AsyncSession,
    practice: Practice,
    *,
    service_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    start: dt.datetime,
    client: ClientDetails,
    now: dt.datetime | None = None,
    base_url: str | None = None,
) -> Booked:
    """A client books from the public pages: the practice's policy applies; the client is matched by e-mail."""
    start = _require_aware(start)
    await lock_calendar(session)
    known = await client_services.match_or_create(session, client)
    booked = await _book(
        session,
        practice,
        service_id=service_id,
        therapist_id=therapist_id,
        start=start,
        client=known,
        actor=CLIENT,
        online=True,
        now=now,
    )
    appointment = booked.appointment
    hold = await hooks.online_booking_hold(session, practice, appointment, base_url or "")
    if hold is not None:
        appointment.status = AppointmentStatus.PENDING_PAYMENT
        appointment.hold_expires_at = hold.expires_at
        _record(session, appointment, CLIENT, "held_for_payment", until=appointment.hold_expires_at.isoformat())
        await session.flush()
        booked.checkout_url = hold.checkout_url
    await notices.booking_confirmed(session, practice, appointment, booked.manage_token, base_url=base_url)
    return booked


async def book_by_staff(
    session: AsyncSession,
    practice: Practice,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: dt.datetime,
    actor: Actor,
    room_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> Booked:
    """The desk books (or back-enters a visit that already happened): hours and conflicts still apply."""
    start = _require_aware(start)
    actor.require_therapist(therapist_id)
    await lock_calendar(session)
    client = await client_services.get_client(session, client_id)
    return await _book(
        session,
        practice,
        service_id=service_id,
        therapist_id=therapist_id,
        start=start,
        client=client,
        actor=actor,
        online=False,
        room_id=room_id,
        now=now,
    )


_PLACE_ATTEMPTS = 3


async def _book(
    session: AsyncSession,
    practice: Practice,
    *,
    service_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    start: dt.datetime,
    client: Client,
    actor: Actor,
    online: bool,
    room_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> Booked:
    now = now or utcnow()
    service = await get_service(session, service_id, online=online)
    therapists = await therapists_for(session, service, therapist_id)
    if room_id is not None:
        room = await session.scalar(select(Room).where(Room.id == room_id, Room.is_active.is_(True)))
        if room is None:
            raise NotFound("No such room.", field="room_id")
    policy = practice_policy(practice) if online else STAFF_POLICY
    # Between the check and the write a concurrent booking may take the room (or the "any" therapist)
    # chosen here although another is free; PostgreSQL refuses the write once that booking commits.
    # Then look again: the next check sees it and picks what is left, or says the time is gone.
    for attempt in range(_PLACE_ATTEMPTS):
        therapist, chosen_room, rule = await _place(session, practice, service, therapists, start, policy, now)
        if room_id is not None and room_id != chosen_room:
            chosen_room = await _require_room(session, practice, therapist, start, rule, room_id, now)
        token = secrets.token_urlsafe(24)
        block = block_for(start, rule)
        appointment = Appointment(
            client_id=client.id,
            therapist_id=therapist.id,
            service_id=service.id,
            room_id=chosen_room,
            start_at=start,
            end_at=start + rule.duration,
            block_start=block.start,
            block_end=block.end,
            status=AppointmentStatus.BOOKED,
            source="online" if online else "staff",
            manage_token_hash=hash_token(token),
        )
        try:
            async with _written_or_slot_taken(
                session, ZoneInfo(practice.timezone), appointment.start_at, appointment.end_at
            ):
                session.add(appointment)
        except SlotTaken:
            if attempt + 1 == _PLACE_ATTEMPTS:
                raise
            continue
        break
    detail: dict[str, Any] = {"start": start.isoformat(), "therapist_id": str(therapist.id)}
    if start < now:
        detail["back_entered"] = True
    _record(session, appointment, actor, "booked", **detail)
    await session.flush()
    return Booked(appointment, token)


async def _require_room(
    session: AsyncSession,
    practice: Practice,
    therapist: Therapist,
    start: dt.datetime,
    rule: ServiceRule,
    room_id: uuid.UUID,
    now: dt.datetime,
) -> uuid.UUID:
    """Staff asked for a specific room: it must be able to host the service and be free."""
    if rule.room_ids is not None and room_id not in rule.room_ids:
        raise RuleViolation("That room cannot host this service.", rule="room_unsuitable", field="room_id")
    calendars, rooms = await load_calendars(
        session,
        practice,
        [therapist],
        ServiceRule(rule.duration, rule.buffer_before, rule.buffer_after, frozenset({room_id})),
        Interval(start - dt.timedelta(days=1), start + dt.timedelta(days=1)),
    )
    try:
        chosen = check_slot(
            zone=ZoneInfo(practice.timezone),
            start=start,
            service=ServiceRule(rule.duration, rule.buffer_before, rule.buffer_after, frozenset({room_id})),
            therapist=calendars[0],
            rooms=rooms,
            policy=STAFF_POLICY,
            now=now,
        )
    except SlotRejected as exc:
        raise _reject(exc, start, start + rule.duration) from None
    return chosen or room_id


async def get_appointment(session: AsyncSession, appointment_id: uuid.UUID) -> Appointment:
    appointment = await session.scalar(select(Appointment).where(Appointment.id == appointment_id))
    if appointment is None:
        raise NotFound("No such appointment.", field="appointment_id")
    return appointment


async def get_by_manage_token(session: AsyncSession, token: str) -> Appointment:
    appointment = await session.scalar(select(Appointment).where(Appointment.manage_token_hash == hash_token(token)))
    if appointment is None:
        raise NotFound("This link is not valid.")
    return appointment


async def list_appointments(
    session: AsyncSession,
    practice: Practice,
    *,
    date_from: dt.date,
    date_to: dt.date,
    therapist_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> list[Appointment]:
    validate_range(date_from, date_to)
    zone = ZoneInfo(practice.timezone)
    start = dt.datetime.combine(date_from, dt.time(0), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
    stmt = (
        select(Appointment)
        .where(and_(Appointment.start_at >= start, Appointment.start_at < end))
        .order_by(Appointment.start_at, Appointment.therapist_id)
    )
    if therapist_id is not None:
        stmt = stmt.where(Appointment.therapist_id == therapist_id)
    if client_id is not None:
        stmt = stmt.where(Appointment.client_id == client_id)
    return list(await session.scalars(stmt))


def in_cancellation_window(practice: Practice, appointment: Appointment, now: dt.datetime) -> bool:
    """True when the visit is too close for the client to cancel or move it themselves."""
    return appointment.start_at - now < dt.timedelta(hours=practice.cancellation_window_hours)


async def reschedule(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    *,
    start: dt.datetime,
    actor: Actor,
    therapist_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
    base_url: str | None = None,
) -> Appointment:
    start = _require_aware(start)
    now = now or utcnow()
    await lock_calendar(session)
    await session.refresh(appointment)
    if appointment.status not in {AppointmentStatus.BOOKED, AppointmentStatus.PENDING_PAYMENT}:
        raise InvalidTransition(
            f"A {appointment.status.value.replace('_', ' ')} appointment cannot be moved.",
            appointment_status=appointment.status.value,
        )
    online = actor.kind == "client"
    if online and in_cancellation_window(practice, appointment, now):
        raise RuleViolation(
            f"Visits can be moved online up to {practice.cancellation_window_hours} hours before they start. "
            f"Please call {practice.phone or 'the practice'}.",
            rule="inside_cancellation_window",
        )
    actor.require_therapist(therapist_id or appointment.therapist_id)
    service = await get_service(session, appointment.service_id, online=False)
    therapists = await therapists_for(session, service, therapist_id or appointment.therapist_id)
    policy = practice_policy(practice) if online else STAFF_POLICY
    therapist, room_id, rule = await _place(
        session, practice, service, therapists, start, policy, now, exclude=appointment.id
    )
    previous = {"start": appointment.start_at.isoformat(), "therapist_id": str(appointment.therapist_id)}
    block = block_for(start, rule)
    async with _written_or_slot_taken(session, ZoneInfo(practice.timezone), start, start + rule.duration):
        appointment.therapist_id = therapist.id
        appointment.room_id = room_id
        appointment.start_at = start
        appointment.end_at = start + rule.duration
        appointment.block_start = block.start
        appointment.block_end = block.end
    _record(session, appointment, actor, "rescheduled", previous=previous, start=start.isoformat())
    await touch_series(session, appointment)
    await session.flush()
    previous_start = dt.datetime.fromisoformat(previous["start"])
    await notices.visit_rescheduled(session, practice, appointment, previous_start=previous_start, base_url=base_url)
    return appointment


async def cancel(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    *,
    reason: str,
    actor: Actor,
    now: dt.datetime | None = None,
    base_url: str | None = None,
) -> Appointment:
    now = now or utcnow()
    if appointment.status not in {AppointmentStatus.BOOKED, AppointmentStatus.PENDING_PAYMENT}:
        raise InvalidTransition(
            f"A {appointment.status.value.replace('_', ' ')} appointment cannot be cancelled.",
            appointment_status=appointment.status.value,
        )
    late = in_cancellation_window(practice, appointment, now)
    previous = appointment.status
    if actor.kind == "client" and late:
        raise RuleViolation(
            f"Visits can be cancelled online up to {practice.cancellation_window_hours} hours before they "
            f"start. Please call {practice.phone or 'the practice'}.",
            rule="inside_cancellation_window",
        )
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancel_reason = reason.strip()[:500]
    appointment.cancelled_late = late
    appointment.cancelled_at = now
    _record(session, appointment, actor, "cancelled", reason=appointment.cancel_reason, late=late)
    await touch_series(session, appointment)
    await session.flush()
    money = await hooks.status_changed(session, appointment, previous, AppointmentStatus.CANCELLED)
    if previous is AppointmentStatus.PENDING_PAYMENT:
        await mail.drop_held(session, [appointment.id])  # cancelled before it was paid: never confirmed
    await notices.visit_cancelled(session, practice, appointment, base_url=base_url, money=money)
    return appointment


def is_released_hold(appointment: Appointment) -> bool:
    """An online hold cancelled because its time ran out before the deposit was paid."""
    return appointment.status is AppointmentStatus.CANCELLED and appointment.cancel_reason == HOLD_EXPIRED


async def reinstate_released_hold(
    session: AsyncSession, practice: Practice, appointment: Appointment, *, now: dt.datetime | None = None
) -> bool:
    """The deposit of a released hold arrived after all: put the visit back, booked, if its time is still free,
    and let its held confirmation go out. False (nothing changed) when the time is gone or past.

    Runs in the caller's unit of work, which has already written (the payment); the practice's calendar lock
    makes the check and the write one step with respect to bookings, as in `book_online`, and PostgreSQL's
    exclusion constraints refuse an overlap all the same."""
    now = now or utcnow()
    await lock_calendar_within_write(session)
    await session.refresh(appointment)
    if not is_released_hold(appointment):
        return appointment.status is AppointmentStatus.BOOKED
    if appointment.start_at <= now:
        return False
    try:
        service = await get_service(session, appointment.service_id, online=False)
        therapists = await therapists_for(session, service, appointment.therapist_id)
        therapist, room_id, rule = await _place(
            session, practice, service, therapists, appointment.start_at, REINSTATE_POLICY, now, exclude=appointment.id
        )
        block = block_for(appointment.start_at, rule)
        zone = ZoneInfo(practice.timezone)
        async with _written_or_slot_taken(session, zone, appointment.start_at, appointment.end_at):
            appointment.status = AppointmentStatus.BOOKED
            appointment.therapist_id = therapist.id
            appointment.room_id = room_id
            appointment.block_start = block.start
            appointment.block_end = block.end
            appointment.hold_expires_at = None
            appointment.cancel_reason = ""
            appointment.cancelled_at = None
            appointment.cancelled_late = False
    except (SlotTaken, RuleViolation, NotFound):
        await session.refresh(appointment)  # what a refused savepoint left in memory is not what is stored
        return False
    _record(session, appointment, SYSTEM, "reinstated", reason="deposit paid after the hold was released")
    await session.flush()
    await mail.release_held(session, appointment.id)
    return True


async def confirm_held_visit(
    session: AsyncSession, practice: Practice, appointment: Appointment, *, action: str, now: dt.datetime | None = None
) -> bool:
    """What a held online booking waited for has come (a card saved for the practice's `card_required`): the visit
    is booked (`confirm_paid_hold`, auditing `action`). A hold whose time ran out meanwhile is released first and
    re-checked like any late arrival (`reinstate_released_hold`). True when the visit is booked.

    Runs in the caller's unit of work (a webhook's, or the success redirect's), which may have written already;
    idempotent: a second call finds the visit booked and changes nothing."""
    now = now or utcnow()
    status = await confirm_paid_hold(session, appointment, action=action, now=now)
    if is_released_hold(appointment):
        return await reinstate_released_hold(session, practice, appointment, now=now)
    return status is AppointmentStatus.BOOKED


async def confirm_paid_hold(
    session: AsyncSession, appointment: Appointment, *, action: str = "deposit_paid", now: dt.datetime | None = None
) -> AppointmentStatus:
    """What a held online booking waited for was paid (its deposit): the visit is booked — `action` audited, the
    status hooks told, its held confirmation released — in the caller's unit of work (a webhook's, or the success
    redirect's), which may have written already. A hold whose time ran out meanwhile is released first (calendar
    lock first, the order bookings take: every check has read its time as free since) and left cancelled, like a
    visit cancelled before the money came: the caller settles such a late payment (`reinstate_released_hold`, or
    a refund). Answers the visit's status afterwards; idempotent — a booked visit is left as it is."""
    now = now or utcnow()
    await session.refresh(appointment)
    if (
        appointment.status is AppointmentStatus.PENDING_PAYMENT
        and appointment.hold_expires_at is not None
        and appointment.hold_expires_at <= now
    ):
        await lock_calendar_within_write(session)
        await session.refresh(appointment)
        if appointment.status is AppointmentStatus.PENDING_PAYMENT:
            await release_hold(session, appointment, now)
    if appointment.status is AppointmentStatus.PENDING_PAYMENT:
        appointment.status = AppointmentStatus.BOOKED
        appointment.hold_expires_at = None
        _record(session, appointment, SYSTEM, action)
        await session.flush()
        await hooks.status_changed(session, appointment, AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.BOOKED)
        await mail.release_held(session, appointment.id)
    return appointment.status


_TRANSITIONS: dict[str, tuple[set[AppointmentStatus], AppointmentStatus]] = {
    "arrive": ({AppointmentStatus.BOOKED}, AppointmentStatus.ARRIVED),
    "complete": ({AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED}, AppointmentStatus.COMPLETED),
    "no_show": ({AppointmentStatus.BOOKED}, AppointmentStatus.NO_SHOW),
}


# Steps that say the visit took place (or was missed): only once its start has passed. Arriving early is fine.
_NEED_STARTED = frozenset({"complete", "no_show"})


async def transition(
    session: AsyncSession, appointment: Appointment, action: str, actor: Actor, now: dt.datetime | None = None
) -> Appointment:
    """Mark a visit arrived, completed or a no-show; an impossible step is a 409, not a silent change."""
    allowed, target = _TRANSITIONS[action]
    if appointment.status == target:
        return appointment  # repeating the same click changes nothing
    if appointment.status not in allowed:
        raise InvalidTransition(
            f"A {appointment.status.value.replace('_', ' ')} appointment cannot be marked "
            f"{target.value.replace('_', ' ')}.",
            appointment_status=appointment.status.value,
        )
    now = now or utcnow()
    if action in _NEED_STARTED and appointment.start_at > now:
        # Receipts, statements and superbills follow a completed visit: none may name a date still to come.
        raise VisitNotStarted(
            f"This visit has not started yet: it can be marked {target.value.replace('_', ' ')} "
            "once its start time has passed.",
            field="appointment_id",
            starts_at=appointment.start_at.isoformat(),
        )
    previous = appointment.status
    appointment.status = target
    _record(session, appointment, actor, target.value, previous=previous.value)
    await touch_series(session, appointment)
    await session.flush()
    await hooks.status_changed(session, appointment, previous, target)
    return appointment


async def events_for(session: AsyncSession, appointment: Appointment) -> list[AppointmentEvent]:
    return list(
        await session.scalars(
            select(AppointmentEvent)
            .where(AppointmentEvent.appointment_id == appointment.id)
            .order_by(AppointmentEvent.created_at)
        )
    )


def _own_therapist(staff: StaffUser) -> uuid.UUID | None:
    """Therapists see only their own schedule; owners and the desk see everyone's."""
    if staff.role is Role.THERAPIST:
        # A therapist account not linked to a therapist sees nothing rather than everything.
        return staff.therapist_id or uuid.UUID(int=0)
    return None


async def get_for_staff(session: AsyncSession, staff: StaffUser, appointment_id: uuid.UUID) -> Appointment:
    appointment = await get_appointment(session, appointment_id)
    own = _own_therapist(staff)
    if own is not None and appointment.therapist_id != own:
        raise NotFound("No such appointment.", field="appointment_id")
    return appointment


async def list_for_staff(
    session: AsyncSession,
    practice: Practice,
    staff: StaffUser,
    *,
    date_from: dt.date,
    date_to: dt.date,
    therapist_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> list[Appointment]:
    own = _own_therapist(staff)
    if own is not None:
        if therapist_id is not None and therapist_id != own:
            return []
        therapist_id = own
    return await list_appointments(
        session, practice, date_from=date_from, date_to=date_to, therapist_id=therapist_id, client_id=client_id
    )

"""Use cases of practice set-up: therapists, rooms, services, weekly hours, time off, extra hours, policy.

Every write validates its whole input before it changes anything, checks that every id it links to
exists in the session's practice (tenant scoping makes another practice's ids look missing), and
flushes; the request commits. Deleting a therapist, room or service deactivates it: past visits,
receipts and statements keep pointing at it.

Time off over live visits still to come, and deactivating a therapist or room that still has some, is
refused with `AppointmentsInTheWay` listing them, unless the caller opts in with `keep_appointments`
(the visits then stay booked, and the answer lists them). These changes take the calendar lock, as
bookings do, so a visit cannot slip in between the check and the write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.in_the_way import live_visits
from scheduler.db import Base, begin_calendar_write
from scheduler.errors import AlreadyExists, AppointmentsInTheWay, InvalidInput, NotFound, RuleViolation
from scheduler.practice import rules, services
from scheduler.practice.models import (
    ExtraHours,
    Practice,
    Room,
    Service,
    ServiceRoom,
    Therapist,
    TherapistService,
    TimeOff,
    WorkingHours,
)
from scheduler.practice.schemas import (
    ExtraHoursCreate,
    PolicyUpdate,
    RoomCreate,
    RoomUpdate,
    ServiceCreate,
    ServiceUpdate,
    TherapistCreate,
    TherapistUpdate,
    TimeOffCreate,
    WeeklyHours,
)

ModelT = TypeVar("ModelT", bound=Base)

_THERAPIST_TEXT = {
    "first_name": (100, True),
    "last_name": (100, True),
    "credential": (40, False),
    "license_number": (60, False),
    "license_state": (20, False),
    "bio": (5000, False),
}


def _given(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a create or PATCH body actually carries (UNSET ones are left as they are)."""
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


def _unique(raw_ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(raw_ids))


async def _existing_ids(
    session: AsyncSession, model: type[Service] | type[Room], raw_ids: Sequence[str], field: str, what: str
) -> list[uuid.UUID]:
    """Parse and resolve ids a body links to; one that is malformed, unknown or another practice's is refused."""
    wanted: list[uuid.UUID] = []
    for index, raw in enumerate(raw_ids):
        try:
            wanted.append(uuid.UUID(str(raw)))
        except ValueError:
            raise InvalidInput(f"No {what} with id {raw!r}.", field=f"{field}[{index}]") from None
    if not wanted:
        return []
    found = set(await session.scalars(select(model.id).where(model.id.in_(wanted))))
    for index, wanted_id in enumerate(wanted):
        if wanted_id not in found:
            raise InvalidInput(f"No {what} with id {raw_ids[index]!r}.", field=f"{field}[{index}]")
    return list(dict.fromkeys(wanted))


async def _refuse_stranding(
    session: AsyncSession, *, what: str, field: str, keep_appointments: bool, **where: Any
) -> list[dict[str, Any]]:
    """The live visits a change would strand; refused (nothing written yet) unless the caller keeps them."""
    visits = await live_visits(session, **where)
    if visits and not keep_appointments:
        count, them = (
            ("1 booked appointment", "it") if len(visits) == 1 else (f"{len(visits)} booked appointments", "them")
        )
        raise AppointmentsInTheWay(
            f"{count} would be left without {what}. Move or cancel {them} first, or set keep_appointments "
            f"to keep {them} booked anyway.",
            field=field,
            appointments=visits,
        )
    return visits


async def _get(session: AsyncSession, model: type[ModelT], object_id: uuid.UUID, field: str, what: str) -> ModelT:
    found: ModelT | None = await session.scalar(select(model).where(model.id == object_id))
    if found is None:
        raise NotFound(f"No such {what}.", field=field)
    return found


# --- therapists -------------------------------------------------------------------------------------


async def _therapist_service_ids(session: AsyncSession, therapist_id: uuid.UUID) -> list[uuid.UUID]:
    return sorted(
        await session.scalars(select(TherapistService.service_id).where(TherapistService.therapist_id == therapist_id))
    )


async def _link_services(session: AsyncSession, therapist: Therapist, service_ids: list[uuid.UUID]) -> None:
    current = set(await _therapist_service_ids(session, therapist.id))
    dropped = current - set(service_ids)
    if dropped:
        await session.execute(
            delete(TherapistService).where(
                TherapistService.therapist_id == therapist.id, TherapistService.service_id.in_(dropped)
            )
        )
    session.add_all(
        TherapistService(therapist_id=therapist.id, service_id=sid) for sid in service_ids if sid not in current
    )


def _therapist_fields(given: dict[str, Any], current_npi: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, (max_length, required) in _THERAPIST_TEXT.items():
        if name in given:
            fields[name] = rules.text(given[name], name, max_length=max_length, required=required)
    if "npi" in given:
        raw = given["npi"].strip() if isinstance(given["npi"], str) else given["npi"]
        # An NPI already on file is kept as it is; a new or changed one must pass the check digit.
        fields["npi"] = current_npi if raw and raw == current_npi else rules.npi(raw)
    return fields


async def create_therapist(session: AsyncSession, data: TherapistCreate) -> tuple[Therapist, list[uuid.UUID]]:
    fields = _therapist_fields(_given(data))
    service_ids = await _existing_ids(session, Service, _unique(data.service_ids), "service_ids", "service")
    therapist = Therapist(**fields)
    session.add(therapist)
    await session.flush()
    await _link_services(session, therapist, service_ids)
    await session.flush()
    return therapist, sorted(service_ids)


async def update_therapist(
    session: AsyncSession, therapist_id: uuid.UUID, data: TherapistUpdate, *, keep_appointments: bool = False
) -> tuple[Therapist, list[uuid.UUID]]:
    """Change the fields given; `is_active: false` is a deactivation and refused over live visits to come."""
    given = _given(data)
    if given.get("is_active") is False:
        await begin_calendar_write(session)
    therapist = await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    fields = _therapist_fields(given, current_npi=therapist.npi)
    service_ids = None
    if "service_ids" in given:
        service_ids = await _existing_ids(session, Service, _unique(given["service_ids"]), "service_ids", "service")
    if given.get("is_active") is False and therapist.is_active:
        await _refuse_stranding(
            session,
            what="a therapist",
            field="is_active",
            keep_appointments=keep_appointments,
            therapist_id=therapist.id,
        )
    for name, value in fields.items():
        setattr(therapist, name, value)
    if "is_active" in given:
        therapist.is_active = given["is_active"]
    if service_ids is not None:
        await _link_services(session, therapist, service_ids)
    await session.flush()
    return therapist, await _therapist_service_ids(session, therapist.id)


async def deactivate_therapist(
    session: AsyncSession, therapist_id: uuid.UUID, *, keep_appointments: bool = False
) -> list[dict[str, Any]]:
    """Stop new bookings with the therapist. Refused over live visits to come unless `keep_appointments`;
    returns the visits left booked with them."""
    await begin_calendar_write(session)
    therapist = await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    kept: list[dict[str, Any]] = []
    if therapist.is_active:
        kept = await _refuse_stranding(
            session,
            what="a therapist",
            field="therapist_id",
            keep_appointments=keep_appointments,
            therapist_id=therapist.id,
        )
    therapist.is_active = False
    await session.flush()
    return kept


# --- rooms ------------------------------------------------------------------------------------------


def _room_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"There is already a room called {name!r}.", field="name")


async def _room_name(session: AsyncSession, raw: str, room_id: uuid.UUID | None = None) -> str:
    name = rules.text(raw, "name", max_length=100, required=True)
    # Compared here rather than with SQL lower(), which folds only ASCII letters on SQLite (and under the C
    # collation on PostgreSQL): "Salle Ü" and "salle ü" are one name. A practice has a handful of rooms.
    query = select(Room.name)
    if room_id is not None:
        query = query.where(Room.id != room_id)
    if any(other.casefold() == name.casefold() for other in await session.scalars(query)):
        raise _room_taken(name)
    return name


async def create_room(session: AsyncSession, data: RoomCreate) -> Room:
    room = Room(name=await _room_name(session, data.name))
    try:
        # A savepoint: a request that took the name since the check above makes the unique index refuse this.
        async with session.begin_nested():
            session.add(room)
    except IntegrityError:
        raise _room_taken(room.name) from None
    return room


async def update_room(
    session: AsyncSession, room_id: uuid.UUID, data: RoomUpdate, *, keep_appointments: bool = False
) -> Room:
    """Rename; `is_active: false` is a deactivation and refused over live visits to come in the room."""
    given = _given(data)
    if given.get("is_active") is False:
        await begin_calendar_write(session)
    room = await _get(session, Room, room_id, "room_id", "room")
    name = await _room_name(session, given["name"], room.id) if "name" in given else room.name
    if given.get("is_active") is False and room.is_active:
        await _refuse_stranding(
            session, what="a room", field="is_active", keep_appointments=keep_appointments, room_id=room.id
        )
    try:
        async with session.begin_nested():  # as in create_room
            room.name = name
            if "is_active" in given:
                room.is_active = given["is_active"]
    except IntegrityError:
        raise _room_taken(name) from None
    return room


async def deactivate_room(
    session: AsyncSession, room_id: uuid.UUID, *, keep_appointments: bool = False
) -> list[dict[str, Any]]:
    """Stop booking the room. Refused over live visits to come in it unless `keep_appointments`; returns the
    visits left booked in it."""
    await begin_calendar_write(session)
    room = await _get(session, Room, room_id, "room_id", "room")
    kept: list[dict[str, Any]] = []
    if room.is_active:
        kept = await _refuse_stranding(
            session, what="a room", field="room_id", keep_appointments=keep_appointments, room_id=room.id
        )
    room.is_active = False
    await session.flush()
    return kept


# --- services ---------------------------------------------------------------------------------------


def _service_fields(given: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {
        "name": lambda v: rules.text(v, "name", max_length=120, required=True),
        "description": lambda v: rules.text(v, "description", max_length=5000),
        "duration_minutes": lambda v: rules.int_in_range(v, rules.DURATION_MINUTES, "duration_minutes"),
        "price": lambda v: rules.int_in_range(v, rules.PRICE, "price"),
        "cpt_code": rules.cpt_code,
        "buffer_before_minutes": lambda v: rules.int_in_range(v, rules.BUFFER_MINUTES, "buffer_before_minutes"),
        "buffer_after_minutes": lambda v: rules.int_in_range(v, rules.BUFFER_MINUTES, "buffer_after_minutes"),
        "fsa_eligible": bool,
        "bookable_online": bool,
        "is_active": bool,
    }
    return {name: check(given[name]) for name, check in checks.items() if name in given}


async def service_room_ids(session: AsyncSession, service_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Rooms that may host each service; an empty list means any room."""
    rows = await session.execute(
        select(ServiceRoom.service_id, ServiceRoom.room_id).where(ServiceRoom.service_id.in_(list(service_ids)))
    )
    by_service: dict[uuid.UUID, list[uuid.UUID]] = {sid: [] for sid in service_ids}
    for service_id, room_id in rows:
        by_service[service_id].append(room_id)
    return {sid: sorted(ids) for sid, ids in by_service.items()}


async def _link_rooms(session: AsyncSession, service: Service, room_ids: list[uuid.UUID]) -> None:
    current = set((await service_room_ids(session, [service.id]))[service.id])
    dropped = current - set(room_ids)
    if dropped:
        await session.execute(
            delete(ServiceRoom).where(ServiceRoom.service_id == service.id, ServiceRoom.room_id.in_(dropped))
        )
    session.add_all(ServiceRoom(service_id=service.id, room_id=rid) for rid in room_ids if rid not in current)


async def create_service(session: AsyncSession, data: ServiceCreate) -> tuple[Service, list[uuid.UUID]]:
    fields = _service_fields(_given(data))
    room_ids = await _existing_ids(session, Room, _unique(data.room_ids), "room_ids", "room")
    service = Service(**fields)
    session.add(service)
    await session.flush()
    await _link_rooms(session, service, room_ids)
    await session.flush()
    return service, sorted(room_ids)


async def update_service(
    session: AsyncSession, service_id: uuid.UUID, data: ServiceUpdate
) -> tuple[Service, list[uuid.UUID]]:
    service = await _get(session, Service, service_id, "service_id", "service")
    given = _given(data)
    fields = _service_fields(given)
    room_ids = None
    if "room_ids" in given:
        room_ids = await _existing_ids(session, Room, _unique(given["room_ids"]), "room_ids", "room")
    for name, value in fields.items():
        setattr(service, name, value)
    if room_ids is not None:
        await _link_rooms(session, service, room_ids)
    await session.flush()
    return service, (await service_room_ids(session, [service.id]))[service.id]


async def deactivate_service(session: AsyncSession, service_id: uuid.UUID) -> None:
    """Stop new bookings of the service. Visits already booked stay as they are: the therapist and the room
    are still there to give them, so nothing is stranded and nothing is refused."""
    service = await _get(session, Service, service_id, "service_id", "service")
    service.is_active = False
    await session.flush()


async def get_service(session: AsyncSession, service_id: uuid.UUID) -> tuple[Service, list[uuid.UUID]]:
    service = await _get(session, Service, service_id, "service_id", "service")
    return service, (await service_room_ids(session, [service.id]))[service.id]


async def list_services(
    session: AsyncSession, *, include_inactive: bool = False
) -> list[tuple[Service, list[uuid.UUID]]]:
    found = await services.list_services(session, public=False, include_inactive=include_inactive)
    rooms = await service_room_ids(session, [s.id for s in found])
    return [(s, rooms[s.id]) for s in found]


# --- weekly hours -----------------------------------------------------------------------------------


async def get_weekly_hours(session: AsyncSession, therapist_id: uuid.UUID) -> list[rules.WeeklyInterval]:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    rows = await session.scalars(
        select(WorkingHours)
        .where(WorkingHours.therapist_id == therapist_id)
        .order_by(WorkingHours.weekday, WorkingHours.start_time)
    )
    return [rules.WeeklyInterval(r.weekday, r.start_time, r.end_time) for r in rows]


async def replace_weekly_hours(
    session: AsyncSession, therapist_id: uuid.UUID, items: Sequence[WeeklyHours]
) -> list[rules.WeeklyInterval]:
    """Replace the therapist's whole regular week (an empty list means no regular hours)."""
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    week = rules.weekly_hours([rules.RawInterval(i.weekday, i.start, i.end) for i in items])
    await session.execute(delete(WorkingHours).where(WorkingHours.therapist_id == therapist_id))
    session.add_all(
        WorkingHours(therapist_id=therapist_id, weekday=i.weekday, start_time=i.start, end_time=i.end) for i in week
    )
    await session.flush()
    return week


# --- time off ---------------------------------------------------------------------------------------


async def list_time_off(session: AsyncSession, therapist_id: uuid.UUID) -> list[TimeOff]:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    return list(
        await session.scalars(select(TimeOff).where(TimeOff.therapist_id == therapist_id).order_by(TimeOff.start_at))
    )


async def add_time_off(
    session: AsyncSession, therapist_id: uuid.UUID, data: TimeOffCreate
) -> tuple[TimeOff, list[dict[str, Any]]]:
    """Block [start, end) for the therapist. Live visits to come inside it refuse it (field `start`) unless
    `data.keep_appointments`; returns the time off and the visits still booked inside it."""
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    start = rules.instant(data.start, "start")
    end = rules.instant(data.end, "end")
    if start >= end:
        raise InvalidInput("The end must be after the start.", field="end")
    reason = rules.text(data.reason, "reason", max_length=200)
    await begin_calendar_write(session)
    kept = await _refuse_stranding(
        session,
        what="their therapist",
        field="start",
        keep_appointments=data.keep_appointments,
        therapist_id=therapist_id,
        start=start,
        end=end,
    )
    time_off = TimeOff(therapist_id=therapist_id, start_at=start, end_at=end, reason=reason)
    session.add(time_off)
    await session.flush()
    return time_off, kept


async def visits_in_time_off(session: AsyncSession, time_off: TimeOff) -> list[dict[str, Any]]:
    """The live visits still to come inside a saved time off (kept with `keep_appointments`)."""
    return await live_visits(session, therapist_id=time_off.therapist_id, start=time_off.start_at, end=time_off.end_at)


async def remove_time_off(session: AsyncSession, therapist_id: uuid.UUID, time_off_id: uuid.UUID) -> None:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    time_off = await session.scalar(
        select(TimeOff).where(TimeOff.id == time_off_id, TimeOff.therapist_id == therapist_id)
    )
    if time_off is None:
        raise NotFound("No such time off.", field="time_off_id")
    await session.delete(time_off)
    await session.flush()


# --- extra hours ------------------------------------------------------------------------------------


async def list_extra_hours(session: AsyncSession, therapist_id: uuid.UUID) -> list[ExtraHours]:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    return list(
        await session.scalars(
            select(ExtraHours)
            .where(ExtraHours.therapist_id == therapist_id)
            .order_by(ExtraHours.day, ExtraHours.start_time)
        )
    )


async def add_extra_hours(session: AsyncSession, therapist_id: uuid.UUID, data: ExtraHoursCreate) -> ExtraHours:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    day = rules.local_day(data.day, "day")
    start = rules.local_time(data.start, "start")
    end = rules.local_time(data.end, "end")
    rules.ordered(start, end, "end")
    same_day = await session.execute(
        select(ExtraHours.start_time, ExtraHours.end_time).where(
            ExtraHours.therapist_id == therapist_id, ExtraHours.day == day
        )
    )
    if rules.overlaps_any(start, end, [(s, e) for s, e in same_day]):
        raise RuleViolation("Overlaps extra hours already set for that day.", rule="overlapping_hours", field="start")
    extra = ExtraHours(therapist_id=therapist_id, day=day, start_time=start, end_time=end)
    session.add(extra)
    await session.flush()
    return extra


async def remove_extra_hours(session: AsyncSession, therapist_id: uuid.UUID, extra_id: uuid.UUID) -> None:
    await _get(session, Therapist, therapist_id, "therapist_id", "therapist")
    extra = await session.scalar(
        select(ExtraHours).where(ExtraHours.id == extra_id, ExtraHours.therapist_id == therapist_id)
    )
    if extra is None:
        raise NotFound("No such extra hours.", field="extra_id")
    await session.delete(extra)
    await session.flush()


# --- booking policy ---------------------------------------------------------------------------------


async def update_policy(session: AsyncSession, practice_id: uuid.UUID, data: PolicyUpdate) -> Practice:
    practice = await session.get_one(Practice, practice_id)
    given = _given(data)
    checks: dict[str, Any] = {
        "min_notice_minutes": lambda v: rules.int_in_range(v, rules.MIN_NOTICE_MINUTES, "min_notice_minutes"),
        "horizon_days": lambda v: rules.int_in_range(v, rules.HORIZON_DAYS, "horizon_days"),
        "slot_granularity_minutes": rules.slot_granularity,
        "cancellation_window_hours": lambda v: rules.int_in_range(
            v, rules.CANCELLATION_WINDOW_HOURS, "cancellation_window_hours"
        ),
    }
    fields = {name: check(given[name]) for name, check in checks.items() if name in given}
    for name, value in fields.items():
        setattr(practice, name, value)
    await session.flush()
    return practice

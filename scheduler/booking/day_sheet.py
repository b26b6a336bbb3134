"""The front desk's day sheet: which visits fall on a local day, who works when, and the names to show.

A read model for the schedule pages. Visits come from `services.list_for_staff`, so a therapist sees
only their own, exactly as through the API; the rest is looked up in a handful of batch queries. Every
query runs on the request's practice-scoped session.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking import services
from scheduler.booking.availability import Slot
from scheduler.booking.models import Appointment
from scheduler.clients.models import Client
from scheduler.practice import services as practice_services
from scheduler.practice.models import ExtraHours, Practice, Role, StaffUser, TimeOff, WorkingHours


@dataclass(frozen=True)
class Resource:
    """A column of the grid: a therapist or a room."""

    id: str
    name: str


@dataclass(frozen=True)
class Visit:
    """One appointment as the desk sees it: local times and names, no health details."""

    id: str
    start: dt.datetime  # in the practice's zone
    end: dt.datetime
    status: str
    client_id: str
    client_name: str
    client_email: str
    client_phone: str
    service_id: str
    service_name: str
    therapist_id: str
    therapist_name: str
    room_id: str | None
    room_name: str
    source: str
    cancel_reason: str
    cancelled_late: bool
    series_label: str = ""  # "series 3/8" for an occurrence of a recurring series

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass
class DaySheet:
    day: dt.date
    zone: ZoneInfo
    therapists: list[Resource]
    rooms: list[Resource]
    visits: list[Visit]
    working: dict[str, list[tuple[dt.time, dt.time]]] = field(default_factory=dict)
    away: dict[str, list[tuple[dt.datetime, dt.datetime]]] = field(default_factory=dict)


def own_therapist_only(staff: StaffUser) -> bool:
    """Therapists work from their own column; the desk and owners see everyone's."""
    return staff.role is Role.THERAPIST


async def describe(session: AsyncSession, practice: Practice, appointments: Sequence[Appointment]) -> list[Visit]:
    """Attach client, service, therapist and room names to appointments (one query per kind)."""
    zone = ZoneInfo(practice.timezone)
    client_ids = {a.client_id for a in appointments}
    clients: dict[uuid.UUID, Client] = {}
    if client_ids:
        clients = {c.id: c for c in await session.scalars(select(Client).where(Client.id.in_(client_ids)))}
    service_names = {
        s.id: s.name for s in await practice_services.list_services(session, public=False, include_inactive=True)
    }
    therapist_names = {
        t.id: t.display_name for t, _ in await practice_services.list_therapists(session, include_inactive=True)
    }
    room_names = {r.id: r.name for r in await practice_services.list_rooms(session, include_inactive=True)}
    series_labels = await _series_labels(session, appointments)
    visits = []
    for appointment in appointments:
        client = clients.get(appointment.client_id)
        visits.append(
            Visit(
                id=str(appointment.id),
                start=appointment.start_at.astimezone(zone),
                end=appointment.end_at.astimezone(zone),
                status=appointment.status.value,
                client_id=str(appointment.client_id),
                client_name=client.full_name if client else "Unknown client",
                client_email=client.email if client else "",
                client_phone=client.phone if client else "",
                service_id=str(appointment.service_id),
                service_name=service_names.get(appointment.service_id, "Service"),
                therapist_id=str(appointment.therapist_id),
                therapist_name=therapist_names.get(appointment.therapist_id, "Therapist"),
                room_id=str(appointment.room_id) if appointment.room_id else None,
                room_name=room_names.get(appointment.room_id, "") if appointment.room_id else "",
                source=appointment.source,
                cancel_reason=appointment.cancel_reason,
                cancelled_late=appointment.cancelled_late,
                series_label=series_labels.get(appointment.id, ""),
            )
        )
    return visits


async def _series_labels(session: AsyncSession, appointments: Sequence[Appointment]) -> dict[uuid.UUID, str]:
    """'series n/N' per series occurrence: its place among its series' occurrences (one query)."""
    series_ids = {a.series_id for a in appointments if a.series_id is not None}
    if not series_ids:
        return {}
    rows = await session.execute(
        select(Appointment.id, Appointment.series_id)
        .where(Appointment.series_id.in_(series_ids))
        .order_by(Appointment.series_id, Appointment.recurrence_id, Appointment.start_at)
    )
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for appointment_id, series_id in rows:
        members.setdefault(series_id, []).append(appointment_id)
    return {
        appointment_id: f"series {position}/{len(ids)}"
        for ids in members.values()
        for position, appointment_id in enumerate(ids, start=1)
    }


async def visible_therapists(session: AsyncSession, staff: StaffUser) -> list[Resource]:
    """Active therapists this staff member works with, in name order (a therapist: only themselves)."""
    therapists = [t for t, _ in await practice_services.list_therapists(session)]
    if own_therapist_only(staff):
        therapists = [t for t in therapists if t.id == staff.therapist_id]
    return [Resource(str(t.id), t.display_name) for t in therapists]


async def load_day_sheet(session: AsyncSession, practice: Practice, staff: StaffUser, day: dt.date) -> DaySheet:
    zone = ZoneInfo(practice.timezone)
    appointments = await services.list_for_staff(session, practice, staff, date_from=day, date_to=day)
    visits = await describe(session, practice, appointments)
    therapists = await visible_therapists(session, staff)
    shown = {t.id for t in therapists}
    # A visit with a therapist who has since left still gets a column.
    for visit in visits:
        if visit.therapist_id not in shown:
            therapists.append(Resource(visit.therapist_id, visit.therapist_name))
            shown.add(visit.therapist_id)
    rooms = [Resource(str(r.id), r.name) for r in await practice_services.list_rooms(session)]
    room_ids = {r.id for r in rooms}
    for visit in visits:
        if visit.room_id and visit.room_id not in room_ids:
            rooms.append(Resource(visit.room_id, visit.room_name))
            room_ids.add(visit.room_id)
    ids = [uuid.UUID(t.id) for t in therapists]
    return DaySheet(
        day=day,
        zone=zone,
        therapists=therapists,
        rooms=rooms,
        visits=visits,
        working=await _working_windows(session, ids, day),
        away=await _time_away(session, ids, day, zone),
    )


async def _working_windows(
    session: AsyncSession, therapist_ids: Iterable[uuid.UUID], day: dt.date
) -> dict[str, list[tuple[dt.time, dt.time]]]:
    ids = list(therapist_ids)
    windows: dict[str, list[tuple[dt.time, dt.time]]] = {str(i): [] for i in ids}
    if not ids:
        return windows
    weekly = await session.scalars(
        select(WorkingHours).where(WorkingHours.therapist_id.in_(ids), WorkingHours.weekday == day.weekday())
    )
    for hours in weekly:
        windows[str(hours.therapist_id)].append((hours.start_time, hours.end_time))
    extra = await session.scalars(select(ExtraHours).where(ExtraHours.therapist_id.in_(ids), ExtraHours.day == day))
    for more in extra:
        windows[str(more.therapist_id)].append((more.start_time, more.end_time))
    for spans in windows.values():
        spans.sort()
    return windows


async def _time_away(
    session: AsyncSession, therapist_ids: Iterable[uuid.UUID], day: dt.date, zone: ZoneInfo
) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    ids = list(therapist_ids)
    away: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {str(i): [] for i in ids}
    if not ids:
        return away
    start = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
    rows = await session.scalars(
        select(TimeOff)
        .where(TimeOff.therapist_id.in_(ids), TimeOff.start_at < end, TimeOff.end_at > start)
        .order_by(TimeOff.start_at)
    )
    for off in rows:
        away[str(off.therapist_id)].append((off.start_at.astimezone(zone), off.end_at.astimezone(zone)))
    return away


async def move_options(
    session: AsyncSession,
    practice: Practice,
    appointment: Appointment,
    *,
    therapist_id: uuid.UUID,
    day: dt.date,
    now: dt.datetime | None = None,
) -> list[Slot]:
    """Where the desk can move a visit on `day`; the visit's own time counts as free."""
    return await services.availability(
        session,
        practice,
        service_id=appointment.service_id,
        date_from=day,
        date_to=day,
        therapist_id=therapist_id,
        online=False,
        now=now,
        moving=appointment.id,
    )

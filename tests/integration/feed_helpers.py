"""Rows for feed tests: a practice in a zone with a therapist, room, service and client, and weekly series
across that zone's next DST changes, each with a cancelled, a skipped, a moved and a "jumped" occurrence."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentSeries, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import scope_session, session_scope
from scheduler.feeds.vtimezone import transitions
from scheduler.practice.models import Practice, Room, Service, Therapist
from tests.feed_oracles import Occurrence, occurrence
from tests.integration.conftest import Factory

WEEKS = 8
CANCELLED, MOVED, JUMPED, SKIPPED = 1, 3, 4, 6
MOVED_BY = dt.timedelta(days=1, hours=2)
JUMPED_BY = dt.timedelta(days=8)
HOUR = dt.timedelta(hours=1)
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class FeedWorld:
    practice: Practice
    therapist_id: uuid.UUID
    room_id: uuid.UUID
    client_id: uuid.UUID
    service_id: uuid.UUID
    series_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.practice.timezone)


def next_dst_changes(tzid: str, today: dt.date, count: int = 2) -> list[dt.date]:
    """The local dates of the zone's next DST changes, at least three weeks ahead (so series start in the future)."""
    zone = ZoneInfo(tzid)
    upcoming = [t.at_utc.astimezone(zone).date() for t in transitions(tzid, today.year, today.year + 2)]
    return [d for d in upcoming if d >= today + dt.timedelta(days=21)][:count]


async def build_world(factory: Factory, tzid: str, *, client_email: str = "", client_phone: str = "") -> FeedWorld:
    practice = await factory.practice(timezone=tzid)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        therapist = Therapist(first_name="Tess", last_name="Therapist")
        room = Room(name="Room 1")
        service = Service(name="Therapeutic Massage", duration_minutes=60, price=9000)
        client = Client(
            first_name="Ada",
            last_name="Byron",
            email=client_email or f"ada-{uuid.uuid4().hex[:6]}@example.test",
            phone=client_phone,
        )
        session.add_all([therapist, room, service, client])
        await session.flush()
        world = FeedWorld(practice, therapist.id, room.id, client.id, service.id)
    for change in next_dst_changes(tzid, dt.datetime.now(dt.UTC).date()):
        world.series_ids.append(await add_weekly_series(factory, world, change))
    return world


async def add_weekly_series(factory: Factory, world: FeedWorld, change: dt.date, notes: str = "") -> uuid.UUID:
    zone = world.zone
    first = dt.datetime.combine(change - dt.timedelta(days=18), dt.time(9, 0))
    last = first + dt.timedelta(weeks=WEEKS - 1)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, world.practice.id)
        series = AppointmentSeries(
            client_id=world.client_id,
            therapist_id=world.therapist_id,
            service_id=world.service_id,
            room_id=world.room_id,
            timezone=zone.key,
            dtstart_local=first,
            duration_minutes=60,
            rrule=f"FREQ=WEEKLY;UNTIL={last.replace(tzinfo=zone).astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
            sequence=3,
        )
        session.add(series)
        await session.flush()
        for index in range(WEEKS):
            if index == SKIPPED:
                continue
            wall = first + dt.timedelta(weeks=index)
            if index == MOVED:
                wall += MOVED_BY
            if index == JUMPED:
                wall += JUMPED_BY
            start = wall.replace(tzinfo=zone).astimezone(dt.UTC)
            session.add(
                Appointment(
                    client_id=world.client_id,
                    therapist_id=world.therapist_id,
                    service_id=world.service_id,
                    room_id=world.room_id,
                    start_at=start,
                    end_at=start + HOUR,
                    block_start=start,
                    block_end=start + HOUR,
                    status=AppointmentStatus.CANCELLED if index == CANCELLED else AppointmentStatus.BOOKED,
                    series_id=series.id,
                    recurrence_id=first + dt.timedelta(weeks=index),
                    notes=notes,
                )
            )
        return series.id


async def add_single(factory: Factory, world: FeedWorld, start: dt.datetime, notes: str = "") -> uuid.UUID:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, world.practice.id)
        appointment = Appointment(
            client_id=world.client_id,
            therapist_id=world.therapist_id,
            service_id=world.service_id,
            room_id=world.room_id,
            start_at=start,
            end_at=start + HOUR,
            block_start=start,
            block_end=start + HOUR,
            notes=notes,
        )
        session.add(appointment)
        await session.flush()
        return appointment.id


async def live_appointments(
    session: AsyncSession, world: FeedWorld, start: dt.datetime, end: dt.datetime
) -> list[Occurrence]:
    """The expected set: what the database holds as live for the therapist in the window."""
    scope_session(session, world.practice.id)
    rows = await session.execute(
        select(Appointment.start_at, Appointment.end_at).where(
            Appointment.therapist_id == world.therapist_id,
            Appointment.status.in_(LIVE_STATUSES),
            Appointment.start_at < end,
            Appointment.end_at > start,
        )
    )
    return sorted(occurrence(s, e, world.zone) for s, e in rows)

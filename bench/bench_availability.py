"""Availability for 10 therapists x 30 days with 2,000 existing appointments, against the floor of
loading those same appointments with one query."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from bench.harness import Result, latency_target, paired_median_ms, settle
from scheduler.booking import services as booking
from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.practice import services as practice_services
from scheduler.practice.models import Practice, Room, Service, Therapist, TherapistService, WorkingHours
from scheduler.settings import Settings

THERAPISTS = 10
ROOMS = 12
DAYS = 30
APPOINTMENTS = 2000
RUNS = 41
ZONE = ZoneInfo("America/New_York")
FIRST_DAY = dt.date(2027, 3, 1)  # spans the March DST change
NOW = dt.datetime(2027, 2, 27, 12, tzinfo=dt.UTC)


async def _seed(settings: Settings) -> tuple[uuid.UUID, uuid.UUID]:
    config = build_alchemy_config(settings, pooled=False)
    rng = random.Random(7)
    async with session_scope(config) as session:
        practice = await practice_services.create_practice(
            session, slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench", timezone=ZONE.key
        )
        practice.horizon_days = 365
        scope_session(session, practice.id)
        service = Service(name="Massage", duration_minutes=60, price=12000, buffer_after_minutes=15)
        rooms = [Room(name=f"Room {i}") for i in range(ROOMS)]
        therapists = [Therapist(first_name=f"T{i}", last_name="Bench") for i in range(THERAPISTS)]
        client = Client(first_name="Bench", last_name="Client", email="bench@example.test")
        session.add_all([service, client, *rooms, *therapists])
        await session.flush()
        for therapist in therapists:
            session.add(TherapistService(therapist_id=therapist.id, service_id=service.id))
            for weekday in range(7):
                session.add(
                    WorkingHours(
                        therapist_id=therapist.id, weekday=weekday, start_time=dt.time(8), end_time=dt.time(20)
                    )
                )
        # Nine 75-minute blocks fit in a 12-hour day; pick 2,000 of the 2,700 at random.
        cells = [(t, d, k) for t in range(THERAPISTS) for d in range(DAYS) for k in range(9)]
        chosen = rng.sample(cells, APPOINTMENTS)
        room_use: dict[tuple[int, int], int] = {}
        for t, d, k in chosen:
            start = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=d), dt.time(8), ZONE) + dt.timedelta(
                minutes=75 * k
            )
            room_index = room_use.get((d, k), 0)
            room_use[(d, k)] = room_index + 1
            session.add(
                Appointment(
                    client_id=client.id,
                    therapist_id=therapists[t].id,
                    service_id=service.id,
                    room_id=rooms[room_index].id,
                    start_at=start,
                    end_at=start + dt.timedelta(minutes=60),
                    block_start=start,
                    block_end=start + dt.timedelta(minutes=75),
                    status=AppointmentStatus.BOOKED,
                )
            )
        await session.flush()
        ids = (practice.id, service.id)
    await config.get_engine().dispose()
    return ids


async def run(settings: Settings, label: str) -> list[Result]:
    practice_id, service_id = await _seed(settings)
    await settle(settings.database_url)
    config = build_alchemy_config(settings)
    date_to = FIRST_DAY + dt.timedelta(days=DAYS - 1)

    async def ours() -> object:
        async with config.get_session() as session:
            scope_session(session, practice_id)
            practice = await session.get_one(Practice, practice_id)
            return await booking.availability(
                session, practice, service_id=service_id, date_from=FIRST_DAY, date_to=date_to, now=NOW
            )

    async def floor() -> object:
        # The same appointment rows availability needs (every live block of these therapists or of the
        # rooms, over the same window), loaded by one bare query with the same session set-up.
        async with config.get_session() as session:
            scope_session(session, practice_id)
            practice = await session.get_one(Practice, practice_id)
            therapist_ids = list(await session.scalars(select(Therapist.id)))
            room_ids = list(await session.scalars(select(Room.id)))
            window = booking._local_day_window(ZoneInfo(practice.timezone), FIRST_DAY, date_to)
            rows = await session.execute(
                select(
                    Appointment.therapist_id, Appointment.room_id, Appointment.block_start, Appointment.block_end
                ).where(
                    or_(Appointment.therapist_id.in_(therapist_ids), Appointment.room_id.in_(room_ids)),
                    Appointment.status.in_(LIVE_STATUSES),
                    Appointment.block_start < window.end,
                    Appointment.block_end > window.start,
                )
            )
            return rows.all()

    slots = await ours()
    if not (isinstance(slots, list) and slots):
        raise RuntimeError("the workload offers no slots; the benchmark would measure nothing")
    ours_ms, floor_ms = await paired_median_ms(ours, floor, RUNS)
    await config.get_engine().dispose()
    return [
        Result(
            workload=f"availability 10 therapists x 30 days, 2,000 appts ({label})",
            ours_ms=ours_ms,
            floor_ms=floor_ms,
            floor="one SELECT of the same appointment blocks (therapists and rooms), same session set-up",
            target_ratio=2.0,
            target_ms=latency_target(label, 50.0),
        )
    ]

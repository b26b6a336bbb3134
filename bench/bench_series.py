"""Series preview: a 52-week plan checked occurrence by occurrence against 5,000 existing appointments,
against the floor of loading those same appointments with one query."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from bench.harness import Result, paired_median_ms, settle
from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentStatus
from scheduler.booking.series import ALTERNATIVE_DAYS, preview_series
from scheduler.clients.models import Client
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.plans.models import TreatmentPlan
from scheduler.practice import services as practice_services
from scheduler.practice.models import Practice, Room, Service, Therapist, TherapistService, WorkingHours
from scheduler.settings import Settings

THERAPISTS = 5
ROOMS = 6
DAYS = 371
APPOINTMENTS = 5000
OCCURRENCES = 52
RUNS = 21
ZONE = ZoneInfo("America/New_York")
FIRST_DAY = dt.date(2027, 3, 2)  # a Tuesday; the year spans both DST changes
NOW = dt.datetime(2027, 2, 27, 12, tzinfo=dt.UTC)


async def _seed(settings: Settings) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    config = build_alchemy_config(settings, pooled=False)
    rng = random.Random(11)
    async with session_scope(config) as session:
        practice = await practice_services.create_practice(
            session, slug=f"bench-series-{uuid.uuid4().hex[:6]}", name="Bench", timezone=ZONE.key
        )
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
        # Nine 75-minute blocks fit in a 12-hour day; 5,000 of them over the year, at random.
        cells = [(t, d, k) for t in range(THERAPISTS) for d in range(DAYS) for k in range(9)]
        room_use: dict[tuple[int, int], int] = {}
        for t, d, k in rng.sample(cells, APPOINTMENTS):
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
        # Weekly on Tuesdays at 10:30 (the third block of the day), so some weeks conflict.
        plan = TreatmentPlan(
            client_id=client.id,
            therapist_id=therapists[0].id,
            service_id=service.id,
            diagnosis_codes=["M62.830"],
            frequency={"freq": "weekly", "interval": 1, "weekdays": ["TU"]},
            sessions=OCCURRENCES,
            first_start_local=dt.datetime.combine(FIRST_DAY, dt.time(10, 30)),
            reassess_every=4,
        )
        session.add(plan)
        await session.flush()
        ids = (practice.id, plan.id, therapists[0].id)
    await config.get_engine().dispose()
    return ids


async def run(settings: Settings, label: str) -> list[Result]:
    practice_id, plan_id, therapist_id = await _seed(settings)
    await settle(settings.database_url)
    config = build_alchemy_config(settings)

    async def ours() -> object:
        async with config.get_session() as session:
            scope_session(session, practice_id)
            practice = await session.get_one(Practice, practice_id)
            plan = await session.get_one(TreatmentPlan, plan_id)
            return await preview_series(session, practice, plan, now=NOW)

    async def floor() -> object:
        # The appointment rows the preview needs (the therapist's and the rooms' live blocks over the
        # series window and the alternative days), loaded by one bare query with the same session set-up.
        async with config.get_session() as session:
            scope_session(session, practice_id)
            await session.get_one(Practice, practice_id)
            await session.get_one(TreatmentPlan, plan_id)
            room_ids = list(await session.scalars(select(Room.id)))
            margin = dt.timedelta(days=ALTERNATIVE_DAYS + 2)
            first = dt.datetime.combine(FIRST_DAY, dt.time(10, 30), ZONE)
            start, end = first - margin, first + dt.timedelta(weeks=OCCURRENCES) + margin
            rows = await session.execute(
                select(
                    Appointment.therapist_id, Appointment.room_id, Appointment.block_start, Appointment.block_end
                ).where(
                    or_(Appointment.therapist_id == therapist_id, Appointment.room_id.in_(room_ids)),
                    Appointment.status.in_(LIVE_STATUSES),
                    Appointment.block_start < end,
                    Appointment.block_end > start,
                )
            )
            return rows.all()

    proposals = await ours()
    if not isinstance(proposals, list) or len(proposals) != OCCURRENCES:
        raise RuntimeError("the preview did not propose 52 occurrences")
    if not any(p.conflict for p in proposals):
        raise RuntimeError("the workload has no conflicts; alternatives would go unmeasured")
    ours_ms, floor_ms = await paired_median_ms(ours, floor, RUNS)
    await config.get_engine().dispose()
    return [
        Result(
            workload=f"series preview: 52 occurrences vs 5,000 appts ({label})",
            ours_ms=ours_ms,
            floor_ms=floor_ms,
            floor="one SELECT of the same appointment blocks (therapist and rooms), same session set-up",
            target_ratio=2.0,
        )
    ]

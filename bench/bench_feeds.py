"""A therapist's calendar feed with 500 weekly series and 1,000 single appointments, served by
`GET /feeds/<token>.ics` cold (nothing cached: load, build, answer) against the floor of icalendar
serialising the same calendar, already built, to bytes; and warm (If-None-Match → 304: one lookup of the
token with the data fingerprint) against the app's cheapest database request, held to 5 ms."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar

from bench.harness import Result, latency_target, paired_median_ms, settle
from scheduler.app import create_app
from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.feeds import services as feeds
from scheduler.feeds.models import FeedOwnerKind
from scheduler.feeds.tokens import issue_feed_token
from scheduler.practice import services as practice_services
from scheduler.practice.models import Room, Service, Therapist
from scheduler.settings import Settings

SERIES = 500
WEEKS = 19
SINGLES = 1000
MINUTES = 10  # short visits so 500 weekly series fit one therapist's week without overlapping
RUNS = 15
ZONE = ZoneInfo("America/New_York")
SLOTS = [(day, dt.time(6 + m // 6, (m % 6) * 10)) for day in range(7) for m in range(16 * 6)]


def _utc(wall: dt.datetime) -> dt.datetime:
    return wall.replace(tzinfo=ZONE).astimezone(dt.UTC)


async def _seed(settings: Settings) -> str:
    """The practice, 500 series (each with a cancelled and a moved occurrence), 1,000 singles; the feed URL path."""
    config = build_alchemy_config(settings, pooled=False)
    rng = random.Random(11)
    monday = dt.datetime.now(ZONE).date() + dt.timedelta(days=7 - dt.datetime.now(ZONE).weekday())
    async with session_scope(config) as session:
        practice = await practice_services.create_practice(
            session, slug=f"feeds-{uuid.uuid4().hex[:6]}", name="Bench", timezone=ZONE.key
        )
        scope_session(session, practice.id)
        service = Service(name="Massage", duration_minutes=MINUTES, price=5000)
        room = Room(name="Room 1")
        therapist = Therapist(first_name="Tess", last_name="Bench")
        clients = [Client(first_name=f"C{i}", last_name="Bench", email=f"c{i}@example.test") for i in range(50)]
        session.add_all([service, room, therapist, *clients])
        await session.flush()

        def appointment(start: dt.datetime, client: Client, **extra: object) -> Appointment:
            end = start + dt.timedelta(minutes=MINUTES)
            return Appointment(
                client_id=client.id,
                therapist_id=therapist.id,
                service_id=service.id,
                room_id=room.id,
                start_at=start,
                end_at=end,
                block_start=start,
                block_end=end,
                **extra,
            )

        for index, (day, time) in enumerate(SLOTS[:SERIES]):
            client = clients[index % len(clients)]
            first = dt.datetime.combine(monday + dt.timedelta(days=day), time)
            series = AppointmentSeries(
                client_id=client.id,
                therapist_id=therapist.id,
                service_id=service.id,
                room_id=room.id,
                timezone=ZONE.key,
                dtstart_local=first,
                duration_minutes=MINUTES,
                rrule=f"FREQ=WEEKLY;COUNT={WEEKS}",
                sequence=2,
            )
            session.add(series)
            await session.flush()
            for week in range(WEEKS):
                wall = first + dt.timedelta(weeks=week)
                start = _utc(wall + dt.timedelta(days=1) if week == 5 else wall)  # moved a day later
                status = AppointmentStatus.CANCELLED if week == 3 else AppointmentStatus.BOOKED
                session.add(appointment(start, client, series_id=series.id, recurrence_id=wall, status=status))
        later = [(week, slot) for week in range(WEEKS + 2, WEEKS + 40) for slot in SLOTS]
        for week, (day, time) in rng.sample(later, SINGLES):
            wall = dt.datetime.combine(monday + dt.timedelta(weeks=week, days=day), time)
            session.add(appointment(_utc(wall), rng.choice(clients)))
        plain = await issue_feed_token(session, practice, FeedOwnerKind.THERAPIST, therapist.id)
    await config.get_engine().dispose()
    return f"/feeds/{plain}.ics"


async def run(settings: Settings, label: str) -> list[Result]:
    path = await _seed(settings)
    await settle(settings.database_url)
    app = create_app(settings)
    # The app is called in this event loop through httpx's ASGI transport, as a server would call it: no
    # thread hand-off of a test client (Litestar's runs the app on another thread, ~2 ms per request here).
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        first = await client.get(path)
        if first.status_code != 200 or first.content.count(b"BEGIN:VEVENT") < SERIES + SINGLES:
            raise RuntimeError(f"the feed is not what the benchmark means to measure: {first.status_code}")
        etag = first.headers["etag"]
        prebuilt = Calendar.from_ical(first.content)

        async def cold() -> object:
            feeds.CACHE.clear()
            response = await client.get(path)
            assert response.status_code == 200
            return response

        async def warm() -> object:
            response = await client.get(path, headers={"If-None-Match": etag})
            assert response.status_code == 304
            return response

        async def floor() -> object:
            return prebuilt.to_ical()

        async def health() -> object:
            return await client.get("/health")

        cold_ms, floor_ms = await paired_median_ms(cold, floor, RUNS)
        warm_ms, health_ms = await paired_median_ms(warm, health, 200)
    await app.state.alchemy.get_engine().dispose()
    size = f"{len(first.content) // 1024} kB"
    return [
        Result(
            workload=f"therapist feed 500 series + 1,000 singles, cold ({label})",
            ours_ms=cold_ms,
            floor_ms=floor_ms,
            floor=f"icalendar Calendar.to_ical() of the same calendar, already built ({size})",
            target_ratio=1.5,
        ),
        Result(
            workload=f"therapist feed, If-None-Match → 304 ({label})",
            ours_ms=warm_ms,
            floor_ms=health_ms,
            floor="GET /health through the same app (one database round trip)",
            target_ratio=3.0,
            target_ms=latency_target(label, 5.0),
        ),
    ]

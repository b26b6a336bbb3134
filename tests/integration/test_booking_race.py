"""Two clients, one slot: under concurrency exactly one booking wins and the rest get a clean 409.

The races go to the real app served by uvicorn (`live_server`) over sockets, all requests in flight at
once; the in-process test client would serve them one after another and prove nothing about races.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.db import begin_calendar_write, scope_session, session_scope
from scheduler.practice.models import Room, Service, ServiceRoom, Therapist, TherapistService, WorkingHours
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory

RACERS = 50


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=live_server, timeout=120, limits=limits) as racing:
        yield racing


def as_uuid(raw: Any) -> uuid.UUID:
    """A UUID column read with plain SQL: 16 bytes on SQLite, a UUID on PostgreSQL."""
    return uuid.UUID(bytes=raw) if isinstance(raw, bytes) else uuid.UUID(str(raw))


async def _live_appointments(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT therapist_id, room_id, block_start, block_end FROM appointment "
                "WHERE status IN ('pending_payment', 'booked', 'arrived', 'completed')"
            )
        )
        return list(result.all())


def _assert_all_409_slot_taken(responses: list[Any]) -> None:
    for response in responses:
        if response.status_code == 201:
            continue
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["code"] == "slot_taken"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "start" in body


async def test_fifty_clients_racing_for_one_slot_get_one_201_and_49_409(
    client: Client, http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    start = at(weekday_ahead(), 10)
    requests = [
        http.post(
            "/api/v1/practices/demo/bookings",
            json=booking(demo.massage, demo.therapist, start, email=f"racer{i}@example.test"),
        )
        for i in range(RACERS)
    ]
    responses = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (RACERS - 1)
    _assert_all_409_slot_taken(responses)
    assert len(await _live_appointments(engine)) == 1
    async with engine.connect() as conn:
        events = (await conn.execute(text("SELECT count(*) FROM appointment_event"))).scalar_one()
    assert events == 1, "losers leave no audit rows behind"


async def test_partially_overlapping_bookings_never_overlap_once_stored(
    client: Client, http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    # 60-minute massage with a 15-minute buffer after; starts every 15 minutes from 09:00.
    starts = [at(day, 9 + (i * 15) // 60, (i * 15) % 60) for i in range(24)]
    responses = await asyncio.gather(
        *[
            http.post(
                "/api/v1/practices/demo/bookings",
                json=booking(demo.massage, demo.therapist, start, email=f"p{i}@example.test"),
            )
            for i, start in enumerate(starts * 2)
        ]
    )
    won = [r for r in responses if r.status_code == 201]
    assert won, "someone gets a slot"
    _assert_all_409_slot_taken(responses)
    blocks = sorted((row.block_start, row.block_end) for row in await _live_appointments(engine))
    assert len(blocks) == len(won)
    for (_, end), (next_start, _) in itertools.pairwise(blocks):
        assert end <= next_start, "two live appointments of one therapist overlap"


async def test_two_services_competing_for_the_only_suitable_room(
    http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine
) -> None:
    practice = await factory.practice("one-room")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        room = Room(name="Only room")
        spare = Room(name="Chair corner")
        session.add_all([room, spare])
        services = [
            Service(name="Massage", duration_minutes=60, price=10000, bookable_online=True),
            Service(name="Cupping", duration_minutes=45, price=9000, bookable_online=True),
        ]
        session.add_all(services)
        therapists = [Therapist(first_name="A", last_name="One"), Therapist(first_name="B", last_name="Two")]
        session.add_all(therapists)
        await session.flush()
        for service in services:
            session.add(ServiceRoom(service_id=service.id, room_id=room.id))
        for therapist, service in zip(therapists, services, strict=True):
            session.add(TherapistService(therapist_id=therapist.id, service_id=service.id))
            for weekday in range(7):
                session.add(
                    WorkingHours(
                        therapist_id=therapist.id, weekday=weekday, start_time=dt.time(8), end_time=dt.time(18)
                    )
                )
        pairs = [(str(t.id), str(s.id)) for t, s in zip(therapists, services, strict=True)]
        room_id = str(room.id)
    start = at(weekday_ahead(), 11)
    responses = await asyncio.gather(
        *[
            http.post(
                "/api/v1/practices/one-room/bookings",
                json=booking(pairs[i % 2][1], pairs[i % 2][0], start, email=f"r{i}@example.test"),
            )
            for i in range(RACERS)
        ]
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * (RACERS - 1)
    _assert_all_409_slot_taken(responses)
    live = await _live_appointments(engine)
    assert len(live) == 1
    assert as_uuid(live[0].room_id) == uuid.UUID(room_id)


async def test_postgres_itself_refuses_overlapping_live_appointments(
    client: Client, factory: Factory, is_postgres: bool
) -> None:
    """Below every service check, the exclusion constraints hold: the database refuses the overlap."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from scheduler.booking.models import Appointment, AppointmentStatus
    from scheduler.clients.models import Client as ClientRow

    if not is_postgres:
        pytest.skip("exclusion constraints are PostgreSQL's; SQLite relies on BEGIN IMMEDIATE (tested above)")
    practice = await factory.demo()
    demo = await load_demo(client)
    start = dt.datetime.combine(weekday_ahead(), dt.time(10), dt.UTC)

    def visit(client_id: uuid.UUID, status: AppointmentStatus, minutes: int = 0) -> Appointment:
        begin = start + dt.timedelta(minutes=minutes)
        return Appointment(
            client_id=client_id,
            therapist_id=uuid.UUID(demo.therapist),
            service_id=uuid.UUID(demo.massage),
            start_at=begin,
            end_at=begin + dt.timedelta(minutes=60),
            block_start=begin,
            block_end=begin + dt.timedelta(minutes=75),
            status=status,
        )

    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        row = ClientRow(first_name="A", last_name="B", email="ab@example.test")
        session.add(row)
        await session.flush()
        client_id = row.id
        session.add(visit(client_id, AppointmentStatus.BOOKED))
        # A cancelled visit may share the time; it holds nothing.
        session.add(visit(client_id, AppointmentStatus.CANCELLED, minutes=30))

    async def add_overlapping() -> None:
        async with session_scope(factory.alchemy) as session:
            scope_session(session, practice.id)
            session.add(visit(client_id, AppointmentStatus.BOOKED, minutes=70))

    with pytest.raises(IntegrityError, match="no_double_booking_therapist"):
        await add_overlapping()


async def test_calendar_writes_of_one_practice_take_turns(factory: Factory, is_postgres: bool) -> None:
    """The second booking transaction of a practice waits for the first to end before it checks anything.

    On PostgreSQL this is what keeps overlapping inserts from deadlocking (each breaking after a second's
    `deadlock_timeout`); another practice's bookings do not wait.
    """
    practice = await factory.practice("turns")
    other = await factory.practice("other-turns")
    first_done = asyncio.Event()

    async def calendar_write(practice_id: uuid.UUID) -> bool:
        """Takes the calendar lock; says whether the first writer had already finished by then."""
        async with session_scope(factory.alchemy) as session:
            scope_session(session, practice_id)
            await begin_calendar_write(session)
            return first_done.is_set()

    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        await begin_calendar_write(session)
        second = asyncio.create_task(calendar_write(practice.id))
        if is_postgres:
            assert not await asyncio.wait_for(calendar_write(other.id), timeout=30), "another practice waits"
        done, _ = await asyncio.wait({second}, timeout=0.5)
        assert not done, "a second writer of the same practice went ahead while the first was open"
        first_done.set()
    assert await asyncio.wait_for(second, timeout=30), "the second writer ran before the first ended"

"""Online booking follows the practice's rules; every refusal names its rule or field and stores nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.db import scope_session, session_scope
from scheduler.practice.models import Practice, Service, Therapist, TherapistService, TimeOff
from tests.integration.booking_helpers import NEW_YORK, Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory

BOOK = "/api/v1/practices/demo/bookings"


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_client_books_and_gets_manage_and_calendar_links(client: Client, factory: Factory) -> None:
    await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    response = await client.post(BOOK, json=booking(demo.massage, demo.therapist, at(day, 9)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["appointment"]["start"] == at(day, 9)
    assert body["appointment"]["end"] == at(day, 10)
    assert body["appointment"]["status"] == "booked"
    assert body["checkout_url"] is None
    assert body["manage_url"].startswith("http://testserver.local/p/demo/manage/")
    token = body["manage_url"].rsplit("/", 1)[1]
    assert len(token) >= 32
    ics = await client.get(body["calendar_url"].removeprefix("http://testserver.local"))
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ics.content
    assert b"Therapeutic Massage" in ics.content

    slots = await client.get(
        "/api/v1/practices/demo/availability",
        params={
            "service_id": demo.massage,
            "date_from": day.isoformat(),
            "date_to": day.isoformat(),
            "therapist_id": demo.therapist,
        },
    )
    starts = {s["start"] for s in slots.json()["slots"]}
    assert at(day, 9) not in starts, "a booked time is no longer offered"
    assert at(day, 10) not in starts, "nor the buffer after it"
    assert at(day, 10, 15) in starts


async def test_same_email_books_again_as_the_same_client(client: Client, factory: Factory, engine: AsyncEngine) -> None:
    await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    first = await client.post(BOOK, json=booking(demo.massage, demo.therapist, at(day, 9), email="Same@Example.test"))
    second = await client.post(BOOK, json=booking(demo.massage, demo.therapist, at(day, 13), email="same@example.TEST"))
    assert first.status_code == second.status_code == 201
    assert first.json()["appointment"]["client_id"] == second.json()["appointment"]["client_id"]
    assert await _count(engine, "client") == 1


async def test_any_therapist_books_the_first_free_one(client: Client, factory: Factory) -> None:
    await factory.demo()
    demo = await load_demo(client)
    start = at(weekday_ahead(), 11)
    taken = set()
    for i in range(2):
        response = await client.post(BOOK, json=booking(demo.massage, "any", start, email=f"a{i}@example.test"))
        assert response.status_code == 201
        taken.add(response.json()["appointment"]["therapist_id"])
    assert len(taken) == 2
    # Three therapists but two rooms: the third client finds a free therapist and no free room.
    third = await client.post(BOOK, json=booking(demo.massage, None, start, email="a3@example.test"))
    assert third.status_code == 409
    assert third.json()["reason"] == "no_room"


async def _set_policy(factory: Factory, **values: Any) -> None:
    async with session_scope(factory.alchemy) as session:
        await session.execute(update(Practice).where(Practice.slug == "demo").values(**values))


REJECTIONS = [
    ("too_soon", "min_notice", 422),
    ("beyond_horizon", "beyond_horizon", 422),
    ("outside_hours", "outside_hours", 422),
    ("weekend", "outside_hours", 422),
    ("time_off", "time_off", 422),
    ("off_grid", "off_grid", 422),
]


@pytest.mark.parametrize(("case", "rule", "status"), REJECTIONS)
async def test_booking_that_breaks_a_rule_is_refused_naming_it(
    client: Client, factory: Factory, engine: AsyncEngine, case: str, rule: str, status: int
) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    now = dt.datetime.now(NEW_YORK)
    starts = {
        "too_soon": (now + dt.timedelta(minutes=30)).replace(second=0, microsecond=0).isoformat(),
        "beyond_horizon": at(weekday_ahead(120), 10),
        "outside_hours": at(day, 17),
        "weekend": at(weekday_ahead(weekday=5), 10),
        "time_off": at(day, 14),
        "off_grid": at(day, 10, 7),
    }
    if case == "time_off":
        async with session_scope(factory.alchemy) as session:
            scope_session(session, practice.id)
            session.add(
                TimeOff(
                    therapist_id=dt_uuid(demo.therapist),
                    start_at=dt.datetime.combine(day, dt.time(13), NEW_YORK),
                    end_at=dt.datetime.combine(day, dt.time(16), NEW_YORK),
                    reason="dentist",
                )
            )
    before = await _count(engine, "client")
    response = await client.post(BOOK, json=booking(demo.massage, demo.therapist, starts[case]))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == rule
    assert body["field"] == "start"
    assert "dentist" not in response.text
    assert await _count(engine, "appointment") == 0
    assert await _count(engine, "client") == before, "a refused booking leaves no client behind"


async def test_service_the_therapist_does_not_perform_is_refused(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        newcomer = Therapist(first_name="New", last_name="Comer")
        session.add(newcomer)
        await session.flush()
        chair = await session.get_one(Service, dt_uuid(demo.services["chair"]["id"]))
        session.add(TherapistService(therapist_id=newcomer.id, service_id=chair.id))
        newcomer_id = str(newcomer.id)
    response = await client.post(BOOK, json=booking(demo.massage, newcomer_id, at(weekday_ahead(), 10)))
    assert response.status_code == 422
    assert response.json()["code"] == "service_not_performed"
    assert response.json()["field"] == "therapist_id"


MALFORMED = [
    ({"start": "2027-03-02T09:00:00"}, "start"),  # no offset
    ({"start": "tomorrow at nine"}, "start"),
    ({"service_id": "not-an-id"}, "service_id"),
    ({"service_id": "00000000-0000-0000-0000-000000000000"}, "service_id"),
    ({"therapist_id": "00000000-0000-0000-0000-000000000000"}, "therapist_id"),
    ({"client": {"first_name": "", "last_name": "Lee", "email": "a@b.test"}}, "client.first_name"),
    ({"client": {"first_name": "A", "last_name": "Lee", "email": "nope"}}, "client.email"),
    ({"client": {"first_name": "A", "last_name": "Lee", "email": "a@b.test", "phone": "12"}}, "client.phone"),
    ({"client": {"first_name": "A", "last_name": "Lee"}}, "email"),
    ({"extra": "field"}, "extra"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
async def test_malformed_booking_names_the_field_and_stores_nothing(
    client: Client, factory: Factory, engine: AsyncEngine, change: dict[str, Any], field: str
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    body = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10)) | change
    response = await client.post(BOOK, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in (problem.get("field", ""), *[e.get("field", "") for e in problem.get("errors", [])]) or (
        field in problem.get("detail", "")
    ), problem
    assert await _count(engine, "appointment") == 0
    assert await _count(engine, "client") == 0


async def test_availability_rejects_huge_or_backwards_ranges(client: Client, factory: Factory) -> None:
    await factory.demo()
    demo = await load_demo(client)
    for params, field in [
        ({"date_from": "2027-01-10", "date_to": "2027-01-01"}, "date_to"),
        ({"date_from": "2027-01-01", "date_to": "2031-01-01"}, "date_to"),
        ({"date_from": "2027-02-30", "date_to": "2027-03-01"}, "date_from"),
    ]:
        response = await client.get(
            "/api/v1/practices/demo/availability", params={"service_id": demo.massage, **params}
        )
        assert response.status_code == 400, response.text
        assert field in response.text


def dt_uuid(raw: str) -> Any:
    import uuid

    return uuid.UUID(raw)


@pytest.mark.parametrize(
    ("before", "after"),
    [(dt.date(2027, 3, 12), dt.date(2027, 3, 15)), (dt.date(2027, 11, 5), dt.date(2027, 11, 8))],
    ids=["march-spring-forward", "november-fall-back"],
)
async def test_nine_am_is_offered_at_nine_local_on_both_sides_of_dst_changes(
    client: Client, factory: Factory, before: dt.date, after: dt.date
) -> None:
    await factory.demo()
    await _set_policy(factory, horizon_days=400)
    demo = await load_demo(client)
    offsets = set()
    for day in (before, after):
        response = await client.get(
            "/api/v1/practices/demo/availability",
            params={
                "service_id": demo.massage,
                "date_from": day.isoformat(),
                "date_to": day.isoformat(),
                "therapist_id": demo.therapist,
            },
        )
        first = response.json()["slots"][0]["start"]
        assert first.startswith(f"{day.isoformat()}T09:00:00")
        offsets.add(first[-6:])
    assert offsets == {"-05:00", "-04:00"}


async def test_any_therapist_when_nobody_performs_the_service_is_a_clear_refusal(
    client: Client, factory: Factory
) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        await session.execute(update(Therapist).values(is_active=False))
    response = await client.post(BOOK, json=booking(demo.massage, None, at(weekday_ahead(), 10)))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "service_not_performed"
    slots = await client.get(
        "/api/v1/practices/demo/availability",
        params={
            "service_id": demo.massage,
            "date_from": weekday_ahead().isoformat(),
            "date_to": weekday_ahead().isoformat(),
        },
    )
    assert slots.status_code == 200
    assert slots.json() == {"slots": []}

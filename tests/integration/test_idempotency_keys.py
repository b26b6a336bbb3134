"""`Idempotency-Key` on bookings, staff appointments and desk payments: a retry gets the first answer, once.

Concurrent retries go to the real app served by uvicorn (`live_server`), all in flight at once, as in
test_booking_race.py; the rest drive the in-process app.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import Payment
from scheduler.booking.models import Appointment
from scheduler.db import scope_session, session_scope
from scheduler.idempotency import IdempotencyKey
from scheduler.practice.models import Role, Room, Service, ServiceRoom, Therapist, TherapistService, WorkingHours
from tests.integration.billing_helpers import checkout, desk_with_client, fake, invoice, save_card, visit
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.fake_gateway import FakeGateway

__all__ = ["fake"]

BOOKINGS = "/api/v1/practices/demo/bookings"


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def _count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def _age_keys(engine: AsyncEngine, by: dt.timedelta) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(IdempotencyKey.__table__).values(created_at=dt.datetime.now(dt.UTC) - by)  # type: ignore[arg-type]
        )


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["code"] == code
    return body


# --- the public booking ------------------------------------------------------------------------------------------


async def test_a_retried_booking_gets_the_first_answer_and_books_once(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    body = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    first = await client.post(BOOKINGS, json=body, headers=keyed("book-ann-1"))
    assert first.status_code == 201, first.text
    # The same JSON with its members in another order is the same request.
    again = await client.post(BOOKINGS, json=dict(reversed(list(body.items()))), headers=keyed("book-ann-1"))
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(engine, Appointment) == 1


async def test_the_same_key_on_another_booking_is_refused_until_it_is_a_day_old(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    first = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, at(day, 10)), headers=keyed("k1"))
    assert first.status_code == 201, first.text
    other = booking(demo.massage, demo.therapist, at(day, 14))
    reused = await client.post(BOOKINGS, json=other, headers=keyed("k1"))
    problem = _assert_problem(reused, 422, "idempotency_key_reused")
    assert problem["field"] == "Idempotency-Key"
    assert await _count(engine, Appointment) == 1

    await _age_keys(engine, dt.timedelta(hours=24, minutes=1))
    later = await client.post(BOOKINGS, json=other, headers=keyed("k1"))
    assert later.status_code == 201, later.text
    assert later.json()["appointment"]["id"] != first.json()["appointment"]["id"]
    assert await _count(engine, Appointment) == 2
    assert await _count(engine, IdempotencyKey) == 1, "the day-old key was replaced, not kept beside the new one"


async def test_a_key_just_under_a_day_old_still_replays(client: Client, factory: Factory, engine: AsyncEngine) -> None:
    await factory.demo()
    demo = await load_demo(client)
    body = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    first = await client.post(BOOKINGS, json=body, headers=keyed("k-23h"))
    await _age_keys(engine, dt.timedelta(hours=23, minutes=59))
    again = await client.post(BOOKINGS, json=body, headers=keyed("k-23h"))
    assert (again.status_code, again.json()) == (201, first.json())


async def test_day_old_keys_are_purged_as_new_ones_are_claimed(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    day = weekday_ahead()
    for hour, key in ((10, "old-1"), (12, "old-2")):
        made = await client.post(
            BOOKINGS, json=booking(demo.massage, demo.therapist, at(day, hour)), headers=keyed(key)
        )
        assert made.status_code == 201, made.text
    await _age_keys(engine, dt.timedelta(hours=25))
    fresh = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, at(day, 14)), headers=keyed("new"))
    assert fresh.status_code == 201, fresh.text
    assert await _count(engine, IdempotencyKey) == 1


async def test_a_slot_taken_answer_is_replayed_even_once_the_slot_is_free_again(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    start = at(weekday_ahead(), 11)
    winner = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, start, email="bo@example.test"))
    assert winner.status_code == 201, winner.text
    mine = booking(demo.massage, demo.therapist, start)
    lost = await client.post(BOOKINGS, json=mine, headers=keyed("late-ann"))
    _assert_problem(lost, 409, "slot_taken")

    token = winner.json()["manage_url"].rsplit("/", 1)[-1]
    cancelled = await client.post(f"/api/v1/practices/demo/manage/{token}/cancel", json={"reason": "changed plans"})
    assert cancelled.status_code == 200, cancelled.text
    retried = await client.post(BOOKINGS, json=mine, headers=keyed("late-ann"))
    _assert_problem(retried, 409, "slot_taken")
    assert retried.json() == lost.json()
    assert retried.headers["idempotent-replayed"] == "true"
    # A new key is a new attempt, and the freed slot is there for it.
    fresh = await client.post(BOOKINGS, json=mine, headers=keyed("late-ann-2"))
    assert fresh.status_code == 201, fresh.text


async def test_a_failed_validation_is_not_remembered(client: Client, factory: Factory, engine: AsyncEngine) -> None:
    """As at Stripe: a request whose input failed validation started nothing, so the key stays free."""
    await factory.demo()
    demo = await load_demo(client)
    bad = booking("not-a-uuid", demo.therapist, at(weekday_ahead(), 10))
    refused = await client.post(BOOKINGS, json=bad, headers=keyed("typo"))
    assert refused.status_code == 400, refused.text
    good = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    fixed = await client.post(BOOKINGS, json=good, headers=keyed("typo"))
    assert fixed.status_code == 201, fixed.text
    replayed = await client.post(BOOKINGS, json=good, headers=keyed("typo"))
    assert (replayed.headers.get("idempotent-replayed"), replayed.json()) == ("true", fixed.json())


@pytest.mark.parametrize(("key", "why"), [("k" * 256, "at most 255"), ("  ", "empty")])
async def test_an_empty_or_overlong_key_is_refused_naming_the_header(
    client: Client, factory: Factory, engine: AsyncEngine, key: str, why: str
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    response = await client.post(
        BOOKINGS, json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 10)), headers=keyed(key)
    )
    problem = _assert_problem(response, 422, "invalid_idempotency_key")
    assert problem["field"] == "Idempotency-Key"
    assert why in problem["detail"]
    assert await _count(engine, Appointment) == 0
    longest = await client.post(
        BOOKINGS, json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 10)), headers=keyed("k" * 255)
    )
    assert longest.status_code == 201, longest.text


async def _second_practice(factory: Factory) -> tuple[str, str, str]:
    practice = await factory.practice("second")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, practice.id)
        service = Service(name="Massage", duration_minutes=60, price=10000, bookable_online=True)
        therapist = Therapist(first_name="Sam", last_name="Two")
        room = Room(name="Room 1")
        session.add_all([service, therapist, room])
        await session.flush()
        session.add(ServiceRoom(service_id=service.id, room_id=room.id))
        session.add(TherapistService(therapist_id=therapist.id, service_id=service.id))
        for weekday in range(7):
            session.add(
                WorkingHours(therapist_id=therapist.id, weekday=weekday, start_time=dt.time(8), end_time=dt.time(18))
            )
        return practice.slug, str(service.id), str(therapist.id)


async def test_keys_belong_to_one_practice(client: Client, factory: Factory, engine: AsyncEngine) -> None:
    await factory.demo()
    demo = await load_demo(client)
    slug, service_id, therapist_id = await _second_practice(factory)
    start = at(weekday_ahead(), 10)
    at_demo = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, start), headers=keyed("shared"))
    elsewhere = await client.post(
        f"/api/v1/practices/{slug}/bookings", json=booking(service_id, therapist_id, start), headers=keyed("shared")
    )
    assert (at_demo.status_code, elsewhere.status_code) == (201, 201), (at_demo.text, elsewhere.text)
    assert at_demo.json()["appointment"]["id"] != elsewhere.json()["appointment"]["id"]
    replay = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, start), headers=keyed("shared"))
    assert replay.json() == at_demo.json()
    assert await _count(engine, Appointment) == 2


# --- concurrent retries, over sockets -------------------------------------------------------------------------------

RETRIES = 10


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=RETRIES, max_keepalive_connections=RETRIES)
    async with httpx.AsyncClient(base_url=live_server, timeout=120, limits=limits) as racing:
        yield racing


async def test_ten_retries_in_flight_at_once_book_once(
    client: Client, http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine
) -> None:
    await factory.demo()
    demo = await load_demo(client)
    body = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    responses = await asyncio.gather(
        *[http.post(BOOKINGS, json=body, headers=keyed("impatient-ann")) for _ in range(RETRIES)]
    )
    created = [r for r in responses if r.status_code == 201]
    assert created, [r.text for r in responses]
    assert len({r.json()["appointment"]["id"] for r in created}) == 1
    for response in responses:
        if response.status_code != 201:
            _assert_problem(response, 409, "idempotency_key_in_use")
    assert await _count(engine, Appointment) == 1


# --- the desk ---------------------------------------------------------------------------------------------------


async def test_the_desk_retrying_a_staff_booking_books_once(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    demo = await load_demo(client)
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": "Kim", "last_name": "Park", "email": "kim@example.test", "phone": "212-555-0199"},
        headers=desk.headers,
    )
    body = {
        "client_id": created.json()["id"],
        "service_id": demo.massage,
        "therapist_id": demo.therapist,
        "start": at(weekday_ahead(), 15),
    }
    headers = {**desk.headers, **keyed(str(uuid.uuid4()))}
    first = await client.post("/api/v1/appointments", json=body, headers=headers)
    again = await client.post("/api/v1/appointments", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert await _count(engine, Appointment) == 1
    # The same key on the public booking endpoint of the same practice is another request.
    public = await client.post(BOOKINGS, json=booking(demo.massage, demo.therapist, body["start"]), headers=headers)
    _assert_problem(public, 422, "idempotency_key_reused")


async def test_a_retried_cash_tender_records_one_payment(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/payments"
    headers = {**desk.headers, **keyed("cash-1")}
    first = await client.post(url, json={"method": "cash", "amount": 5000}, headers=headers)
    again = await client.post(url, json={"method": "cash", "amount": 5000}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert await _count(engine, Payment) == 1
    assert (await invoice(client, desk, inv["id"]))["paid"] == 5000
    other_amount = await client.post(url, json={"method": "cash", "amount": 4000}, headers=headers)
    _assert_problem(other_amount, 422, "idempotency_key_reused")


async def test_a_retried_card_tender_returns_the_first_answer_and_charges_once(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/payments"
    headers = {**desk.headers, **keyed("card-1")}
    tender = {"method": "card_on_file", "amount": desk.price - 5000}
    first = await client.post(url, json=tender, headers=headers)
    again = await client.post(url, json=tender, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert len(fake.charges) == 1
    assert await _count(engine, Payment) == 1
    # The same key on another invoice's payment is another request.
    other = await checkout(client, desk, await visit(client, desk, hour=14))
    elsewhere = await client.post(f"/api/v1/invoices/{other['id']}/payments", json=tender, headers=headers)
    _assert_problem(elsewhere, 422, "idempotency_key_reused")


async def test_a_declined_card_is_replayed_as_the_same_decline(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    """The payment service commits the decline before answering 402; the stored answer survives that commit."""
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_chargeDeclinedInsufficientFunds")
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/payments"
    headers = {**desk.headers, **keyed("card-declined")}
    tender = {"method": "card_on_file", "amount": desk.price}
    declined = await client.post(url, json=tender, headers=headers)
    _assert_problem(declined, 402, "card_declined")
    await save_card(client, desk, "pm_card_visa")
    again = await client.post(url, json=tender, headers=headers)
    assert (again.status_code, again.json()) == (402, declined.json())
    assert fake.charges == []
    fresh = await client.post(url, json=tender, headers={**desk.headers, **keyed("card-declined-2")})
    assert fresh.status_code == 201, fresh.text


async def test_a_gateway_timeout_is_not_remembered_and_the_retry_charges_once(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    """A 5xx stores nothing: the claim the payment service committed before calling Stripe is dropped, so the
    retry runs again, resends the payment's own Stripe key and records the one charge."""
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/payments"
    headers = {**desk.headers, **keyed("card-timeout")}
    tender = {"method": "card_on_file", "amount": desk.price}
    fake.timeout_after_charge = 1
    lost = await client.post(url, json=tender, headers=headers)
    _assert_problem(lost, 503, "gateway_unavailable")
    assert await _count(engine, IdempotencyKey) == 0
    retry = await client.post(url, json=tender, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"] == "succeeded"
    assert len(fake.charges) == 1
    assert await _count(engine, Payment) == 1
    replayed = await client.post(url, json=tender, headers=headers)
    assert (replayed.headers.get("idempotent-replayed"), replayed.json()) == ("true", retry.json())


async def test_a_claim_left_in_progress_answers_409_until_it_is_abandoned(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    """A claim committed before a process died mid-request blocks retries for minutes, not for the whole day."""
    practice = await factory.demo()
    demo = await load_demo(client)
    body = booking(demo.massage, demo.therapist, at(weekday_ahead(), 10))
    first = await client.post(BOOKINGS, json=body, headers=keyed("stuck"))
    assert first.status_code == 201
    async with engine.begin() as conn:  # as the row stands when its request never answered
        await conn.execute(
            update(IdempotencyKey.__table__).values(status_code=None, media_type=None, sealed_body=None)  # type: ignore[arg-type]
        )
    busy = await client.post(BOOKINGS, json=body, headers=keyed("stuck"))
    problem = _assert_problem(busy, 409, "idempotency_key_in_use")
    assert problem["field"] == "Idempotency-Key"
    await _age_keys(engine, dt.timedelta(minutes=6))
    retried = await client.post(BOOKINGS, json=body, headers=keyed("stuck"))
    _assert_problem(retried, 409, "slot_taken")  # it ran again: the visit it booked the first time holds the slot
    assert practice.slug == "demo"

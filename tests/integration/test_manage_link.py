"""The client's manage link: view, move to another free slot, cancel — only outside the practice's window."""

from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.db import session_scope
from scheduler.practice.models import Practice
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory


async def _book(client: Client, factory: Factory) -> tuple[str, str]:
    await factory.demo()
    demo = await load_demo(client)
    response = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 9))
    )
    assert response.status_code == 201
    token = response.json()["manage_url"].rsplit("/", 1)[1]
    return f"/api/v1/practices/demo/manage/{token}", response.json()["appointment"]["id"]


async def test_client_views_reschedules_and_cancels_through_the_link(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    link, appointment_id = await _book(client, factory)
    view = (await client.get(link)).json()
    assert view["can_change"] is True
    assert view["service_name"].startswith("Therapeutic Massage")
    assert view["practice_phone"]

    new_start = at(weekday_ahead(), 14)
    moved = await client.post(f"{link}/reschedule", json={"start": new_start})
    assert moved.status_code == 200, moved.text
    assert moved.json()["appointment"]["start"] == new_start
    assert moved.json()["appointment"]["id"] == appointment_id, "a move keeps the same appointment"

    cancelled = await client.post(f"{link}/cancel", json={"reason": "feeling better"})
    assert cancelled.status_code == 200
    assert cancelled.json()["appointment"]["status"] == "cancelled"
    assert cancelled.json()["can_change"] is False

    # A used link can neither move nor revive the visit, nor create a second booking.
    again = await client.post(f"{link}/reschedule", json={"start": at(weekday_ahead(), 15)})
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM appointment"))).scalar_one()
        actions = [r[0] for r in await conn.execute(text("SELECT action FROM appointment_event ORDER BY created_at"))]
    assert count == 1
    assert actions == ["booked", "rescheduled", "cancelled"]


async def test_inside_the_window_the_link_says_whom_to_call(client: Client, factory: Factory) -> None:
    link, _ = await _book(client, factory)
    async with session_scope(factory.alchemy) as session:
        await session.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24 * 60))
    view = (await client.get(link)).json()
    assert view["can_change"] is False
    refused = await client.post(f"{link}/cancel", json={})
    assert refused.status_code == 422
    assert refused.json()["code"] == "inside_cancellation_window"
    assert "+1 718 555 0142" in refused.json()["detail"]
    moved = await client.post(f"{link}/reschedule", json={"start": at(weekday_ahead(), 14)})
    assert moved.status_code == 422


async def test_moving_to_a_taken_slot_is_409_and_keeps_the_original(client: Client, factory: Factory) -> None:
    link, _ = await _book(client, factory)
    demo = await load_demo(client)
    other = await client.post(
        "/api/v1/practices/demo/bookings",
        json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 14), email="other@example.test"),
    )
    assert other.status_code == 201
    moved = await client.post(f"{link}/reschedule", json={"start": at(weekday_ahead(), 14, 30)})
    assert moved.status_code == 409
    assert moved.json()["code"] == "slot_taken"
    assert (await client.get(link)).json()["appointment"]["start"] == at(weekday_ahead(), 9)


async def test_unknown_or_other_practice_link_is_404(client: Client, factory: Factory) -> None:
    link, _ = await _book(client, factory)
    await factory.practice("elsewhere")
    assert (await client.get("/api/v1/practices/demo/manage/not-a-real-token")).status_code == 404
    token = link.rsplit("/", 1)[1]
    assert (await client.get(f"/api/v1/practices/elsewhere/manage/{token}")).status_code == 404

"""The practice's `card_required` (issue 14): an online booking with no deposit is held until the client saves a
card on a Checkout Session in setup mode — over HTTP through the real Stripe SDK, the offline sandbox's hosted page
and its webhooks.

- the booking answers `pending_payment` with our card link; the link opens a setup session (no amount);
- saving the card (webhook, or the success redirect first) keeps it on the client's customer and books the visit,
  once, whatever the order;
- a setup page that expires unused releases the hold;
- a client whose card is already on file is booked at once;
- the booking page says a card will be saved, before "Book".
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import CardSetup, StripeCustomer
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.booking.models import AppointmentEvent
from scheduler.clients.models import Client as ClientRow
from scheduler.mail.models import OutboxMessage
from tests.integration.billing_helpers import Desk, desk_with_client
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory

BASE = "http://testserver.local"
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
CARD_LINK_RE = re.compile(r"^http://testserver\.local/p/demo/card/[\w.-]+$")
NOTE = "you will save one on the next page — nothing is charged now"


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # each test delivers the events itself
    return gateway.sandbox


async def _require_a_card(client: Client, factory: Factory) -> Desk:
    desk = await desk_with_client(client, factory)
    policy = await client.put(
        "/api/v1/billing/policy",
        json={"deposit_kind": "none", "card_required": True, "hold_minutes": 20},
        headers=desk.owner.headers,
    )
    assert policy.status_code == 200, policy.text
    assert policy.json()["card_required"] is True
    return desk


async def _book(client: Client, email: str = "ann@example.test") -> dict[str, Any]:
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 11), email)
    )
    assert booked.status_code == 201, booked.text
    return dict(booked.json())


async def _status(client: Client, body: dict[str, Any]) -> str:
    token = body["manage_url"].rsplit("/", 1)[-1]
    answer = await client.get(f"/api/v1/practices/demo/manage/{token}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["appointment"]["status"])


async def _open_card_link(client: Client, link: str) -> str:
    assert CARD_LINK_RE.match(link), link
    opened = await client.get(link.removeprefix(BASE), headers=HTML, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    location = opened.headers["location"]
    assert "/checkout/cs_" in location, location
    return location.rsplit("/", 1)[-1]


async def _save_on_hosted_page(client: Client, session_id: str, card: str = "pm_card_visa") -> Any:
    page = await client.get(f"/sandbox/checkout/{session_id}", headers=HTML)
    assert page.status_code == 200, page.text
    token = CSRF_RE.search(page.text)
    assert token is not None
    return await client.post(
        f"/sandbox/checkout/{session_id}/pay",
        data={"card": card, "_csrf_token": token.group(1)},
        headers=HTML,
        follow_redirects=False,
    )


async def _saved_card(engine: AsyncEngine, email: str = "ann@example.test") -> tuple[Any, ...] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(StripeCustomer.customer_id, StripeCustomer.card_brand, StripeCustomer.card_last4)
                .join(ClientRow, ClientRow.id == StripeCustomer.client_id)
                .where(ClientRow.email == email)
            )
        ).one_or_none()
    return tuple(row) if row is not None else None


async def _held_messages(engine: AsyncEngine, appointment_id: str) -> int:
    """Messages (the booking confirmation) still held back until the card is saved."""
    async with engine.connect() as conn:
        held = await conn.scalars(
            select(OutboxMessage.id).where(OutboxMessage.held_for_appointment_id == uuid.UUID(appointment_id))
        )
        return len(list(held))


async def test_card_required_holds_the_booking_until_the_card_is_saved_then_books_it_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _require_a_card(client, factory)
    body = await _book(client)
    assert body["appointment"]["status"] == "pending_payment"
    assert body["checkout_url"] is not None
    assert await _held_messages(engine, body["appointment"]["id"]) == 1
    session_id = await _open_card_link(client, body["checkout_url"])
    [opened] = sandbox.objects("checkout.session")
    assert (opened["id"], opened["mode"], opened["amount_total"]) == (session_id, "setup", None)
    assert opened["metadata"]["appointment_id"] == body["appointment"]["id"]
    assert opened["customer"] is not None
    # Opening the link again (another tab) reaches the same page.
    assert await _open_card_link(client, body["checkout_url"]) == session_id

    saved = await _save_on_hosted_page(client, session_id)
    assert saved.status_code == 303, saved.text
    assert await _status(client, body) == "pending_payment"  # the webhook is not here yet
    await sandbox.webhooks.release(reverse=True, times=2)

    assert await _status(client, body) == "booked"
    assert await _saved_card(engine) == (opened["customer"], "visa", "4242")
    # The success redirect after the webhook changes nothing, and says so.
    back = await client.get(saved.headers["location"].removeprefix(BASE), headers=HTML)
    assert back.status_code == 200, back.text
    assert "your card is saved" in back.text
    assert "Nothing was charged" in back.text
    assert 'data-testid="visit-confirmed"' in back.text
    async with engine.connect() as conn:
        actions = list(
            await conn.scalars(
                select(AppointmentEvent.action).where(
                    AppointmentEvent.appointment_id == uuid.UUID(body["appointment"]["id"])
                )
            )
        )
    assert actions.count("card_saved") == 1
    assert await _held_messages(engine, body["appointment"]["id"]) == 0  # the confirmation went out
    # The link now leads to the confirmation, not a second setup page.
    again = await client.get(body["checkout_url"].removeprefix(BASE), headers=HTML, follow_redirects=False)
    assert again.status_code == 303
    assert "/p/demo/card-saved?session_id=" in again.headers["location"]


async def test_the_success_redirect_books_the_visit_before_the_webhook_arrives(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _require_a_card(client, factory)
    body = await _book(client)
    session_id = await _open_card_link(client, body["checkout_url"])
    saved = await _save_on_hosted_page(client, session_id, "pm_card_mastercard")
    back = await client.get(saved.headers["location"].removeprefix(BASE), headers=HTML)
    assert back.status_code == 200, back.text
    assert "Mastercard ending 4444" in back.text
    assert await _status(client, body) == "booked"
    await sandbox.webhooks.release()
    assert await _status(client, body) == "booked"
    saved_card = await _saved_card(engine)
    assert saved_card is not None
    assert saved_card[1:] == ("mastercard", "4444")


async def test_an_abandoned_card_setup_releases_the_hold(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _require_a_card(client, factory)
    body = await _book(client)
    session_id = await _open_card_link(client, body["checkout_url"])
    sandbox.expire_checkout(session_id)  # the client walked away and the page closed
    await sandbox.webhooks.release(times=2)

    assert await _status(client, body) == "cancelled"
    async with engine.connect() as conn:
        [status] = list(await conn.scalars(select(CardSetup.status)))
    assert status == "expired"
    assert await _saved_card(engine) in (None, (sandbox.objects("customer")[0]["id"], None, None))
    gone = await client.get(body["checkout_url"].removeprefix(BASE), headers=HTML, follow_redirects=False)
    assert gone.status_code == 410
    # The time is free again.
    again = await _book(client, email="bo@example.test")
    assert again["appointment"]["status"] == "pending_payment"


async def test_a_client_whose_card_is_on_file_is_booked_at_once(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    desk = await _require_a_card(client, factory)
    saved = await client.post(
        f"/api/v1/clients/{desk.client_id}/card", json={"payment_method": "pm_card_visa"}, headers=desk.headers
    )
    assert saved.status_code == 201, saved.text
    body = await _book(client, email="kim@example.test")  # the desk's client, matched by e-mail
    assert body["appointment"]["status"] == "booked"
    assert body["checkout_url"] is None
    assert sandbox.objects("checkout.session") == []


async def test_without_card_required_an_online_booking_is_booked_at_once(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await client.put("/api/v1/billing/policy", json={"deposit_kind": "none"}, headers=desk.owner.headers)
    body = await _book(client)
    assert (body["appointment"]["status"], body["checkout_url"]) == ("booked", None)


async def test_the_booking_page_says_a_card_will_be_saved_before_book(client: Client, factory: Factory) -> None:
    desk = await desk_with_client(client, factory)
    demo = await load_demo(client)
    await client.put("/api/v1/billing/policy", json={"deposit_kind": "none"}, headers=desk.owner.headers)
    query = f"service_id={demo.massage}&therapist_id={demo.therapist}&start={at(weekday_ahead(), 11)}"
    plain = await client.get(f"/p/demo/book/details?{query.replace('+', '%2B')}", headers=HTML)
    assert plain.status_code == 200, plain.text
    assert NOTE not in plain.text

    await client.put("/api/v1/billing/policy", json={"card_required": True}, headers=desk.owner.headers)
    page = await client.get(f"/p/demo/book/details?{query.replace('+', '%2B')}", headers=HTML)
    assert page.status_code == 200, page.text
    assert NOTE in page.text
    assert page.text.index(NOTE) < page.text.index("Book this appointment")

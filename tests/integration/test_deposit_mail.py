"""What a client paying an online deposit hears, and what happens to a deposit that comes too late.

The "Booked" e-mail (manage link, .ics) reaches the client once the deposit is paid, never for a hold that
is released unpaid. A deposit paid after its hold ran out puts the visit back when its time is still free
(and then the confirmation goes out), or is refunded once, however often and in whatever order its events
arrive, with an e-mail saying why. The client's side is read where they would meet it: a tiny SMTP server
standing in for the practice's mail server, the manage link, the checkout return page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

import billing.visits
from billing.models import Payment, Refund, WebhookEvent
from billing.sandbox import DEFAULT_WEBHOOK_SECRET, StripeSandbox, sign
from billing.stripe_gateway import StripeGateway
from scheduler.booking.models import Appointment
from scheduler.mail import services as mail
from scheduler.mail.models import OutboxMessage
from scheduler.settings import Settings
from tests.integration.billing_helpers import Desk, desk_with_client, open_deposit_link
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.test_mail_and_portal import FakeSmtp, Received, with_smtp

ANN = "ann@example.test"
MANAGE_RE = re.compile(r"http://testserver\.local/p/demo/manage/(\S+)")

DOCUMENT_READY = re.compile(r": your [A-Za-z/ -]+ [A-Z]{1,2}-\d{6}$")


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # the test delivers events itself, in the order and number it chooses
    return gateway.sandbox


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    server.start()
    yield server
    server.stop()


async def _mail_to(factory: Factory, settings: Settings, smtp_server: FakeSmtp, address: str) -> list[Received]:
    """Run the outbox sender as the app does, and return everything about the booking the address has received so
    far (the e-mail with each issued document's link, e.g. the deposit's acknowledgement, is tested on its own in
    test_documents_delivery)."""
    await mail.send_pending(factory.alchemy, with_smtp(settings, smtp_server.url()))
    return [
        r for r in smtp_server.received if address in r.rcpt_to and not DOCUMENT_READY.search(str(r.message["Subject"]))
    ]


def _subjects(received: list[Received]) -> list[str]:
    return [str(r.message["Subject"]) for r in received]


def _text(received: Received) -> str:
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def _deliver(client: Client, sandbox: StripeSandbox, event: dict[str, Any], times: int = 1) -> list[int]:
    body = sandbox._payload_of(event["id"])
    headers = {"Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET), "Content-Type": "application/json"}
    answers = await asyncio.gather(
        *(client.post("/webhooks/stripe", content=body, headers=headers) for _ in range(times))
    )
    return [a.status_code for a in answers]


def _completed(sandbox: StripeSandbox, session_id: str) -> dict[str, Any]:
    [event] = [e for e in sandbox.events("checkout.session.completed") if e["data"]["object"]["id"] == session_id]
    return event


async def _book_held(
    client: Client, factory: Factory, hour: int = 11, *, opened: bool = True
) -> tuple[Desk, dict[str, Any], str]:
    """The practice asks a 25 % deposit; Ann books online (hold of 20 minutes) and, when `opened`, follows the
    deposit link to Stripe's checkout (the session id; "" when she never went)."""
    desk = await desk_with_client(client, factory)
    policy = await client.put(
        "/api/v1/billing/policy",
        json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 20},
        headers=desk.owner.headers,
    )
    assert policy.status_code == 200, policy.text
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), hour))
    )
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["appointment"]["status"] == "pending_payment"
    return desk, body, await open_deposit_link(client, body["checkout_url"]) if opened else ""


async def _let_the_hold_run_out(engine: AsyncEngine, appointment_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(appointment_id))
            .values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )


async def _desk_books(client: Client, desk: Desk, start: str) -> dict[str, Any]:
    """The desk books its own client (Kim): booking releases every hold whose time ran out."""
    answer = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": desk.client_id,
            "service_id": desk.service_id,
            "therapist_id": desk.therapist_id,
            "start": start,
        },
        headers=desk.headers,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _status(client: Client, manage_url: str) -> str:
    token = manage_url.rsplit("/", 1)[-1]
    answer = await client.get(f"/api/v1/practices/demo/manage/{token}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["appointment"]["status"])


async def _count(engine: AsyncEngine, model: type, *where: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


# -- the confirmation waits for the deposit ---------------------------------------------------------------


async def test_the_checkout_page_names_the_visit_in_the_practices_own_time(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    """Stripe's page shows what the deposit is for: the visit's local day and time, not a UTC date."""
    _, body, session_id = await _book_held(client, factory, hour=11)
    checkout = sandbox.checkout_session(session_id)
    assert checkout is not None
    start = dt.datetime.fromisoformat(body["appointment"]["start"])
    assert checkout["description"].endswith(f"{start:%b} {start.day}, {start.year}, 11:00 AM"), checkout


async def test_a_booking_held_for_its_deposit_sends_no_booked_email_before_payment(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    await _book_held(client, factory)
    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    # Nor on a later sweep, or through the CLI's count of what waits.
    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    async with factory.alchemy.get_session() as session:
        assert await mail.count_unsent(session) == 0


async def test_paying_the_deposit_sends_one_confirmation_whose_manage_link_works(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    _, booked, session_id = await _book_held(client, factory)
    assert await _mail_to(factory, settings, smtp_server, ANN) == [], "nothing before the deposit is paid"
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id), times=3) == [200] * 3
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert "is confirmed" in returned.text

    received = await _mail_to(factory, settings, smtp_server, ANN)
    assert len(received) == 1, _subjects(received)
    [confirmation] = received
    assert str(confirmation.message["Subject"]).startswith("Booked: Therapeutic Massage (60 min)")
    [ics] = list(confirmation.message.iter_attachments())
    assert ics.get_filename() == "appointment.ics"
    link = MANAGE_RE.search(_text(confirmation))
    assert link is not None
    assert link.group(0) == booked["manage_url"]
    assert await _status(client, link.group(0)) == "booked"
    page = await client.get(link.group(0).removeprefix("http://testserver.local"), headers={"accept": "text/html"})
    assert page.status_code == 200
    # Another sweep, the same events again: nothing more reaches the client.
    assert await _deliver(client, sandbox, _completed(sandbox, session_id)) == [200]
    assert len(await _mail_to(factory, settings, smtp_server, ANN)) == 1


async def test_an_abandoned_checkout_never_sends_the_confirmation(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    desk, booked, session_id = await _book_held(client, factory)
    # The hold runs out and the next booking releases it; later Stripe closes the checkout.
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    await _desk_books(client, desk, at(weekday_ahead(), 15))
    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    sandbox.expire_checkout(session_id)
    [expired] = sandbox.events("checkout.session.expired")
    assert await _deliver(client, sandbox, expired, times=2) == [200, 200]

    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    assert await _status(client, booked["manage_url"]) == "cancelled"
    async with factory.alchemy.get_session() as session:
        assert await mail.count_unsent(session) == 0
    # Once the checkout is closed, no payment can come: the held confirmation is gone for good.
    assert await _count(engine, OutboxMessage, OutboxMessage.kind == "booking_confirmation") == 0


async def test_a_hold_never_taken_to_checkout_is_released_and_its_confirmation_never_sent(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    """No Checkout Session was ever opened, so no `checkout.session.expired` will come: the hold is released
    by the next booking all the same, and the link no longer opens a checkout that could still be paid."""
    desk, booked, _ = await _book_held(client, factory, opened=False)
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    await _desk_books(client, desk, at(weekday_ahead(), 15))
    assert await _status(client, booked["manage_url"]) == "cancelled"
    late = await client.get(booked["checkout_url"].removeprefix("http://testserver.local"), follow_redirects=False)
    assert late.status_code == 410
    assert sandbox.objects("checkout.session") == []
    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    async with factory.alchemy.get_session() as session:
        assert await mail.count_unsent(session) == 0


# -- a deposit paid after its hold was released --------------------------------------------------------------


async def test_a_late_deposit_puts_the_visit_back_when_its_time_is_still_free(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    desk, booked, session_id = await _book_held(client, factory)
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    await _desk_books(client, desk, at(weekday_ahead(), 15))  # releases Ann's hold; her time stays free
    assert await _status(client, booked["manage_url"]) == "cancelled"

    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id), times=2) == [200, 200]
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert "is confirmed" in returned.text

    assert await _status(client, booked["manage_url"]) == "booked"
    received = await _mail_to(factory, settings, smtp_server, ANN)
    assert [s.split(":")[0] for s in _subjects(received)] == ["Booked"]
    link = MANAGE_RE.search(_text(received[0]))
    assert link is not None
    assert await _status(client, link.group(0)) == "booked"
    assert sandbox.objects("refund") == []
    # Her time is taken again: nobody else is offered it.
    demo = await load_demo(client)
    day = weekday_ahead().isoformat()
    slots = await client.get(
        "/api/v1/practices/demo/availability",
        params={"service_id": demo.massage, "date_from": day, "date_to": day, "therapist_id": demo.therapist},
    )
    assert booked["appointment"]["start"] not in [s["start"] for s in slots.json()["slots"]]


async def _late_deposit_for_a_taken_time(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> tuple[dict[str, Any], str]:
    """Ann's hold runs out, the desk books Kim into her time, then Ann pays on the still-open checkout."""
    desk, booked, session_id = await _book_held(client, factory)
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    await _desk_books(client, desk, booked["appointment"]["start"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    return booked, session_id


async def _assert_refunded_once(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
    booked: dict[str, Any],
    session_id: str,
) -> None:
    assert await _status(client, booked["manage_url"]) == "cancelled"
    [refund] = sandbox.objects("refund")
    async with engine.connect() as conn:
        amount, refunded = (await conn.execute(select(Payment.amount, Payment.refunded))).one()
    assert refund["amount"] == amount == refunded
    assert await _count(engine, Refund) == 1
    received = await _mail_to(factory, settings, smtp_server, ANN)
    assert len(received) == 1, _subjects(received)
    assert str(received[0].message["Subject"]).startswith("Not booked, deposit refunded")
    text = _text(received[0])
    assert "refunded the deposit in full" in text
    assert "/manage/" not in text
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert "is confirmed" not in returned.text
    assert "refunded" in returned.text


async def test_a_late_deposit_for_a_taken_time_is_refunded_once_and_the_client_told(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    booked, session_id = await _late_deposit_for_a_taken_time(client, factory, sandbox, engine)
    completed = _completed(sandbox, session_id)
    assert await _deliver(client, sandbox, completed) == [200]
    assert await _deliver(client, sandbox, completed) == [200]
    # The other roads to the same payment, and the refund's own event, change nothing more.
    for event_type in ("payment_intent.succeeded", "charge.refunded"):
        for event in sandbox.events(event_type):
            assert await _deliver(client, sandbox, event, times=2) == [200, 200]
    await _assert_refunded_once(client, factory, settings, smtp_server, sandbox, engine, booked, session_id)


async def test_two_deliveries_of_a_late_deposit_at_once_refund_it_once(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    booked, session_id = await _late_deposit_for_a_taken_time(client, factory, sandbox, engine)
    body = sandbox._payload_of(_completed(sandbox, session_id)["id"])
    headers = {"Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET), "Content-Type": "application/json"}
    answers = await asyncio.gather(
        client.post("/webhooks/stripe", content=body, headers=headers),
        client.post("/webhooks/stripe", content=body, headers=headers),
        client.get("/p/demo/checkout/return", params={"session_id": session_id}),
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    await _assert_refunded_once(client, factory, settings, smtp_server, sandbox, engine, booked, session_id)


async def test_a_late_deposit_racing_a_new_booking_of_its_time_gives_the_time_to_one_of_them(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    desk, booked, session_id = await _book_held(client, factory)
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    await _desk_books(client, desk, at(weekday_ahead(), 15))  # releases Ann's hold
    sandbox.complete_checkout(session_id, "pm_card_visa")
    body = sandbox._payload_of(_completed(sandbox, session_id)["id"])
    headers = {"Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET), "Content-Type": "application/json"}
    demo = await load_demo(client)
    start = booked["appointment"]["start"]
    paid, bo = await asyncio.gather(
        client.post("/webhooks/stripe", content=body, headers=headers),
        client.post(
            "/api/v1/practices/demo/bookings",
            json=booking(demo.massage, demo.therapist, start, email="bo@example.test"),
        ),
    )
    assert paid.status_code == 200, paid.text
    assert bo.status_code in {201, 409}, bo.text
    ann = await _status(client, booked["manage_url"])
    async with engine.connect() as conn:
        live = (
            await conn.execute(
                select(func.count())
                .select_from(Appointment)
                .where(
                    Appointment.start_at == dt.datetime.fromisoformat(start),
                    Appointment.status.in_(["booked", "pending_payment"]),
                )
            )
        ).scalar_one()
    assert live == 1, "one visit holds the time, never two"
    received = await _mail_to(factory, settings, smtp_server, ANN)
    if bo.status_code == 409:
        assert ann == "booked"
        assert sandbox.objects("refund") == []
        assert [s.split(":")[0] for s in _subjects(received)] == ["Booked"]
    else:
        assert ann == "cancelled"
        assert len(sandbox.objects("refund")) == 1
        assert [s.split(":")[0] for s in _subjects(received)] == ["Not booked, deposit refunded"]


async def test_a_refund_lost_on_the_way_is_sent_again_with_the_same_key_when_stripe_retries(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    booked, session_id = await _late_deposit_for_a_taken_time(client, factory, sandbox, engine)
    completed = _completed(sandbox, session_id)
    # The processor refunds but every answer is lost: nothing is recorded, the webhook asks Stripe to retry.
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/refunds")
    assert await _deliver(client, sandbox, completed) == [503]
    assert await _count(engine, Refund) == 0
    assert await _count(engine, WebhookEvent) == 0, "the event is recorded with its effect, or not at all"
    assert await _mail_to(factory, settings, smtp_server, ANN) == []
    # Stripe's retry: the same key replays the refund already made; one refund, one e-mail.
    assert await _deliver(client, sandbox, completed) == [200]
    await _assert_refunded_once(client, factory, settings, smtp_server, sandbox, engine, booked, session_id)


async def test_a_held_visit_moved_then_paid_tells_the_client_booked_then_moved_and_one_cancelled_unpaid_never_booked(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
) -> None:
    _, booked, session_id = await _book_held(client, factory)
    api = "/api/v1/practices/demo/manage/" + booked["manage_url"].rsplit("/", 1)[-1]
    moved = await client.post(f"{api}/reschedule", json={"start": at(weekday_ahead(), 14)})
    assert moved.status_code == 200, moved.text
    assert await _mail_to(factory, settings, smtp_server, ANN) == [], "nothing while the deposit is unpaid"
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id)) == [200]
    received = await _mail_to(factory, settings, smtp_server, ANN)
    assert [s.split(":")[0] for s in _subjects(received)] == ["Booked", "Moved"]
    assert "2:00 PM" in _subjects(received)[1]

    # A second visit, held and then cancelled by the client before paying: only the cancellation arrives.
    demo = await load_demo(client)
    second = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 16))
    )
    assert second.status_code == 201, second.text
    token = second.json()["manage_url"].rsplit("/", 1)[-1]
    cancelled = await client.post(f"/api/v1/practices/demo/manage/{token}/cancel", json={"reason": "changed plans"})
    assert cancelled.status_code == 200, cancelled.text
    later = (await _mail_to(factory, settings, smtp_server, ANN))[len(received) :]
    assert [s.split(":")[0] for s in _subjects(later)] == ["Cancelled"]


# -- paid after the hold ran out, before anything released it ---------------------------------------------


async def test_a_deposit_paid_after_the_hold_ran_out_does_not_book_into_time_off_added_since(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    """An expired hold reads as free, so the owner may block its time; Ann's late payment must not book her
    into that time off. It is refunded, and she is told so, not "Booked"."""
    desk, booked, session_id = await _book_held(client, factory)
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    start = dt.datetime.fromisoformat(booked["appointment"]["start"])
    away = await client.post(
        f"/api/v1/therapists/{desk.therapist_id}/time-off",
        json={
            "start": (start - dt.timedelta(minutes=30)).isoformat(),
            "end": (start + dt.timedelta(hours=2)).isoformat(),
        },
        headers=desk.owner.headers,
    )
    assert away.status_code == 201, away.text
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id)) == [200]

    assert await _status(client, booked["manage_url"]) == "cancelled"
    subjects = _subjects(await _mail_to(factory, settings, smtp_server, ANN))
    assert len(subjects) == 1, subjects
    assert subjects[0].startswith("Not booked, deposit refunded"), subjects
    assert await _count(engine, Refund) == 1


async def test_a_deposit_paid_after_the_hold_ran_out_does_not_double_book_a_visit_moved_onto_its_time(
    client: Client,
    factory: Factory,
    settings: Settings,
    smtp_server: FakeSmtp,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
) -> None:
    """The desk moves Kim onto Ann's expired hold (offered as free); Ann's late payment then leaves Kim's visit
    alone and refunds Ann."""
    desk, booked, session_id = await _book_held(client, factory)
    kim = await _desk_books(client, desk, at(weekday_ahead(), 15))
    await _let_the_hold_run_out(engine, booked["appointment"]["id"])
    moved = await client.post(
        f"/api/v1/appointments/{kim['id']}/reschedule",
        json={"start": booked["appointment"]["start"]},
        headers=desk.headers,
    )
    assert moved.status_code == 200, moved.text
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id)) == [200]

    assert await _status(client, booked["manage_url"]) == "cancelled"
    live = await _count(
        engine,
        Appointment,
        Appointment.status.in_(["booked", "pending_payment"]),
        Appointment.start_at == dt.datetime.fromisoformat(booked["appointment"]["start"]),
    )
    assert live == 1, "one visit holds the time: Kim's"
    assert await _count(engine, Refund) == 1


async def test_a_paid_deposit_link_opened_after_it_expired_still_leads_to_the_confirmation(
    client: Client, factory: Factory, sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, booked, session_id = await _book_held(client, factory)
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _completed(sandbox, session_id)) == [200]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)  # the link expired with the hold, 30 minutes after
    monkeypatch.setattr(billing.visits, "utcnow", lambda: later)
    opened = await client.get(booked["checkout_url"].removeprefix("http://testserver.local"), follow_redirects=False)
    assert opened.status_code == 303, opened.text
    assert f"/checkout/return?session_id={session_id}" in opened.headers["location"]

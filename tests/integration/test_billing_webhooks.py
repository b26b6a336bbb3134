"""Online deposits and Stripe webhooks through the real SDK and the offline sandbox: each effect once,
in any order, however often delivered; bad webhooks change nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import Payment, Refund, WebhookEvent
from billing.sandbox import DEFAULT_WEBHOOK_SECRET, StripeSandbox, sign
from billing.stripe_gateway import StripeGateway
from scheduler.booking.models import Appointment
from tests.integration.billing_helpers import (
    assert_totals_match,
    checkout,
    desk_with_client,
    invoice,
    open_deposit_link,
    pay,
    save_card,
    visit,
)
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # tests deliver events themselves, in the order and number they choose
    return gateway.sandbox


async def _count(engine: AsyncEngine, model: type, *where: Any) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(model)
        for condition in where:
            stmt = stmt.where(condition)
        return int((await conn.execute(stmt)).scalar_one())


async def _deliver(client: Client, sandbox: StripeSandbox, event: dict[str, Any], times: int = 1) -> list[int]:
    body = sandbox._payload_of(event["id"])
    headers = {"Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET), "Content-Type": "application/json"}
    answers = await asyncio.gather(
        *(client.post("/webhooks/stripe", content=body, headers=headers) for _ in range(times))
    )
    return [a.status_code for a in answers]


def _event(sandbox: StripeSandbox, event_type: str) -> dict[str, Any]:
    found = sandbox.events(event_type)
    assert found, f"the sandbox emitted no {event_type}"
    return found[-1]


async def _book_with_deposit(client: Client, factory: Factory) -> tuple[dict[str, Any], str]:
    desk = await desk_with_client(client, factory, email="desk-client@example.test")
    policy = await client.put(
        "/api/v1/billing/policy",
        json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 20},
        headers=desk.owner.headers,
    )
    assert policy.status_code == 200, policy.text
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 11))
    )
    assert booked.status_code == 201, booked.text
    return booked.json(), desk.owner.token


async def test_online_booking_with_a_deposit_is_held_until_paid_and_confirmed_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    booked, owner_token = await _book_with_deposit(client, factory)
    appointment = booked["appointment"]
    assert appointment["status"] == "pending_payment"
    assert booked["checkout_url"].startswith("http://testserver.local/p/demo/deposit/")
    session_id = await open_deposit_link(client, booked["checkout_url"])
    demo = await load_demo(client)
    day = weekday_ahead().isoformat()
    slots = await client.get(
        "/api/v1/practices/demo/availability",
        params={"service_id": demo.massage, "date_from": day, "date_to": day, "therapist_id": demo.therapist},
    )
    assert appointment["start"] not in [s["start"] for s in slots.json()["slots"]]

    sandbox.complete_checkout(session_id, "pm_card_visa")
    completed = _event(sandbox, "checkout.session.completed")
    answers = await _deliver(client, sandbox, completed, times=10)
    assert answers == [200] * 10
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert returned.status_code == 200
    assert "is confirmed" in returned.text

    assert await _count(engine, WebhookEvent, WebhookEvent.event_id == completed["id"]) == 1
    deposits = await _count(engine, Payment, Payment.purpose == "deposit", Payment.status == "succeeded")
    assert deposits == 1
    async with engine.connect() as conn:
        status = (await conn.execute(select(Appointment.status))).scalar_one()
        paid = (await conn.execute(select(Payment.amount, Payment.card_last4))).one()
    assert status == "booked"
    price = next(s["price"] for s in demo.services.values() if str(s["id"]) == demo.massage)
    assert paid == ((price * 2500 + 5000) // 10000, "4242")
    billing = await client.get(
        f"/api/v1/clients/{appointment['client_id']}/billing", headers={"Authorization": f"Bearer {owner_token}"}
    )
    assert billing.json()["has_saved_card"] is True, billing.text
    assert billing.json()["card_last4"] == "4242"


async def test_the_success_redirect_before_the_webhook_confirms_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    booked, _ = await _book_with_deposit(client, factory)
    session_id = await open_deposit_link(client, booked["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    first = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert "is confirmed" in first.text
    for event_type in ("payment_intent.succeeded", "checkout.session.completed"):
        for event in sandbox.events(event_type):
            assert await _deliver(client, sandbox, event, times=3) == [200] * 3
    assert await _count(engine, Payment, Payment.status == "succeeded") == 1


async def test_an_abandoned_checkout_releases_the_hold(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    booked, _ = await _book_with_deposit(client, factory)
    session_id = await open_deposit_link(client, booked["checkout_url"])
    sandbox.expire_checkout(session_id)
    assert await _deliver(client, sandbox, _event(sandbox, "checkout.session.expired")) == [200]
    async with engine.connect() as conn:
        status, reason = (await conn.execute(select(Appointment.status, Appointment.cancel_reason))).one()
    assert (status, reason) == ("cancelled", "hold expired")
    assert await _count(engine, Payment, Payment.status == "failed") == 1


async def test_a_charge_webhook_before_the_synchronous_answer_is_applied_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    lost = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert lost.status_code == 503
    succeeded = _event(sandbox, "payment_intent.succeeded")
    assert await _deliver(client, sandbox, succeeded, times=2) == [200, 200]
    settled = await invoice(client, desk, inv["id"])
    assert (settled["status"], settled["balance"]) == ("paid", 0)
    assert [p["status"] for p in settled["payments"]] == ["succeeded"]
    assert len(sandbox.objects("payment_intent")) == 1
    assert_totals_match(settled)


async def test_charge_refunded_before_payment_intent_succeeded_each_apply_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    paid = (await pay(client, desk, inv["id"], "card_on_file", desk.price)).json()
    refund = await client.post(f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 2000}, headers=desk.headers)
    assert refund.status_code == 201, refund.text
    for event_type in ("charge.refunded", "payment_intent.succeeded", "charge.refunded"):
        for event in sandbox.events(event_type):
            assert await _deliver(client, sandbox, event, times=2) == [200, 200]
    after = await invoice(client, desk, inv["id"])
    assert after["payments"][0]["refunded"] == 2000
    assert await _count(engine, Refund) == 1
    assert (after["total"], after["paid"], after["balance"]) == (desk.price - 2000, desk.price - 2000, 0)
    assert_totals_match(after)


@pytest.mark.parametrize("fault", ["wrong_signature", "stale_timestamp", "not_json", "no_signature"])
async def test_bad_webhooks_are_refused_and_change_nothing(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine, fault: str
) -> None:
    booked, _ = await _book_with_deposit(client, factory)
    session_id = await open_deposit_link(client, booked["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    body = sandbox._payload_of(_event(sandbox, "checkout.session.completed")["id"])
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET)}
    if fault == "wrong_signature":
        headers["Stripe-Signature"] = sign(body, "whsec_someone_else")
    elif fault == "stale_timestamp":
        headers["Stripe-Signature"] = sign(body, DEFAULT_WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
    elif fault == "not_json":
        body = b"not json at all"
        headers["Stripe-Signature"] = sign(body, DEFAULT_WEBHOOK_SECRET)
    else:
        del headers["Stripe-Signature"]
    answer = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_webhook"
    assert await _count(engine, WebhookEvent) == 0
    assert await _count(engine, Payment, Payment.status == "succeeded") == 0
    async with engine.connect() as conn:
        assert (await conn.execute(select(Appointment.status))).scalar_one() == "pending_payment"


async def test_unknown_event_types_are_acknowledged_and_ignored(
    client: Client, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    body = (
        b'{"id": "evt_unknown_1", "object": "event", "type": "customer.updated", "created": 1,'
        b' "data": {"object": {"id": "cus_1"}}}'
    )
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, DEFAULT_WEBHOOK_SECRET)}
    answer = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"


async def test_a_dispute_flags_the_client(client: Client, factory: Factory, sandbox: StripeSandbox) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    paid = (await pay(client, desk, inv["id"], "card_on_file", desk.price)).json()
    intent = sandbox.objects("payment_intent")[-1]["id"]
    sandbox.open_dispute(intent)
    assert await _deliver(client, sandbox, _event(sandbox, "charge.dispute.created"), times=2) == [200, 200]
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    assert billing["disputed"] is True
    assert paid["status"] == "succeeded"


async def test_the_deposit_card_is_saved_whichever_event_settles_the_payment_first(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    booked, owner_token = await _book_with_deposit(client, factory)
    session_id = await open_deposit_link(client, booked["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    assert await _deliver(client, sandbox, _event(sandbox, "payment_intent.succeeded")) == [200]
    assert await _deliver(client, sandbox, _event(sandbox, "checkout.session.completed")) == [200]
    billing = await client.get(
        f"/api/v1/clients/{booked['appointment']['client_id']}/billing",
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert (billing.json()["has_saved_card"], billing.json()["card_last4"]) == (True, "4242")
    assert await _count(engine, Payment, Payment.status == "succeeded") == 1


async def test_reconcile_applies_undelivered_events_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, app: Litestar, settings: Any
) -> None:
    from billing.reconcile import replay_undelivered
    from scheduler.db import build_alchemy_config

    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.webhooks.mode = "off"  # every delivery fails: only reconciliation can tell us
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    assert (await pay(client, desk, inv["id"], "card_on_file", desk.price)).status_code == 503
    assert (await invoice(client, desk, inv["id"]))["payments"][0]["status"] == "pending"
    config = build_alchemy_config(settings, pooled=False)
    try:
        first = await replay_undelivered(config, app.state.payment_gateway)
        again = await replay_undelivered(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert first["applied"] >= 1
    assert again["applied"] == 0
    assert again["duplicate"] == sum(first.values())
    settled = await invoice(client, desk, inv["id"])
    assert (settled["status"], [p["status"] for p in settled["payments"]]) == ("paid", ["succeeded"])

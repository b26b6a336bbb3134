"""A PaymentIntent after creation, and Checkout's limits, as Stripe answers them: cancel only from the states
Stripe allows, confirm again with another card after a decline, update before confirming; expire only an open
session; `expires_at` exactly 30 minutes to 24 hours; errors replayed under their idempotency key.

Driven through the real SDK (`gateway.client`) so the error classes and codes are Stripe's own."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway


def intents(gateway: StripeGateway) -> Any:
    return gateway.client.v1.payment_intents


async def open_intent(gateway: StripeGateway, customer: str, key: str, **extra: Any) -> Any:
    params = {"amount": 3000, "currency": "usd", "customer": customer, "metadata": {"invoice_id": "inv-1"}, **extra}
    return await intents(gateway).create_async(params, {"idempotency_key": key})


async def paid_intent(gateway: StripeGateway, customer: str, key: str) -> Any:
    return await open_intent(gateway, customer, key, payment_method="pm_card_visa", confirm=True)


async def test_an_unpaid_intent_is_cancelled_with_its_event(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    pi = await open_intent(gateway, customer, "pi:cancel-1")

    cancelled = await intents(gateway).cancel_async(
        pi.id, {"cancellation_reason": "abandoned"}, {"idempotency_key": "cancel:1"}
    )

    assert (cancelled.status, cancelled.cancellation_reason) == ("canceled", "abandoned")
    assert cancelled.canceled_at is not None
    assert [event["data"]["object"]["id"] for event in sandbox.events("payment_intent.canceled")] == [pi.id]


async def test_a_succeeded_intent_cannot_be_cancelled(gateway: StripeGateway, customer: str) -> None:
    pi = await paid_intent(gateway, customer, "pi:paid-1")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await intents(gateway).cancel_async(pi.id, options={"idempotency_key": "cancel:paid-1"})

    assert caught.value.http_status == 400
    assert caught.value.code == "payment_intent_unexpected_state"
    assert "status of succeeded" in str(caught.value.user_message)


async def test_a_cancelled_intent_cannot_be_cancelled_again_or_confirmed(gateway: StripeGateway, customer: str) -> None:
    pi = await open_intent(gateway, customer, "pi:cancel-twice")
    await intents(gateway).cancel_async(pi.id, options={"idempotency_key": "cancel:twice-1"})

    with pytest.raises(stripe.InvalidRequestError) as again:
        await intents(gateway).cancel_async(pi.id, options={"idempotency_key": "cancel:twice-2"})
    with pytest.raises(stripe.InvalidRequestError) as confirm:
        await intents(gateway).confirm_async(
            pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "confirm:cancelled"}
        )

    assert again.value.code == confirm.value.code == "payment_intent_unexpected_state"


async def test_a_declined_intent_is_confirmed_again_with_another_card_and_succeeds(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    pi = await open_intent(gateway, customer, "pi:retry")
    with pytest.raises(stripe.CardError):
        await intents(gateway).confirm_async(
            pi.id, {"payment_method": "pm_card_chargeDeclined"}, {"idempotency_key": "confirm:retry-1"}
        )
    declined = await intents(gateway).retrieve_async(pi.id)

    paid = await intents(gateway).confirm_async(
        pi.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": "confirm:retry-2"}
    )

    assert declined.status == "requires_payment_method"
    assert (paid.status, paid.amount_received) == ("succeeded", 3000)
    mine = [event["type"] for event in sandbox.events() if event["data"]["object"].get("id") == pi.id]
    assert mine == ["payment_intent.created", "payment_intent.payment_failed", "payment_intent.succeeded"]
    charges = [charge for charge in sandbox.objects("charge") if charge["payment_intent"] == pi.id]
    assert [charge["status"] for charge in charges] == ["failed", "succeeded"]


async def test_an_intent_is_updated_before_it_is_confirmed(gateway: StripeGateway, customer: str) -> None:
    pi = await open_intent(gateway, customer, "pi:update")

    updated = await intents(gateway).update_async(
        pi.id,
        {
            "amount": 4500,
            "description": "Deposit, 90-minute massage",
            "metadata": {"invoice_id": "", "appointment_id": "appt-9"},
            "payment_method": "pm_card_visa",
        },
        {"idempotency_key": "update:1"},
    )

    assert (updated.amount, updated.description, updated.status) == (
        4500,
        "Deposit, 90-minute massage",
        "requires_confirmation",
    )
    assert updated.metadata.to_dict() == {"appointment_id": "appt-9"}
    confirmed = await intents(gateway).confirm_async(pi.id, options={"idempotency_key": "confirm:updated"})
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 4500)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await intents(gateway).update_async(pi.id, {"amount": 100}, {"idempotency_key": "update:late"})
    assert caught.value.code == "payment_intent_unexpected_state"


async def test_an_error_is_replayed_under_its_key_and_not_executed_again(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    pi = await paid_intent(gateway, customer, "pi:replayed-error")
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await intents(gateway).cancel_async(pi.id, options={"idempotency_key": "cancel:replayed"})
        assert caught.value.code == "payment_intent_unexpected_state"

    answered = [(r.status, r.replayed) for r in sandbox.requests if r.idempotency_key == "cancel:replayed"]
    assert answered == [(400, False), (400, True)]


async def test_a_request_refused_while_reading_its_parameters_stores_nothing_under_its_key(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await intents(gateway).create_async({"amount": 3000, "customer": customer}, {"idempotency_key": "pi:fixed"})

    fixed = await open_intent(gateway, customer, "pi:fixed")  # the same key, now with a currency: executes

    assert fixed.status == "requires_payment_method"
    assert [r.replayed for r in sandbox.requests if r.idempotency_key == "pi:fixed"] == [False, False]


async def checkout_params(expires_at: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "http://testserver.local/done",
        "line_items": [
            {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 3000, "product_data": {"name": "Deposit"}}}
        ],
    }
    if expires_at is not None:
        params["expires_at"] = expires_at
    return params


@pytest.mark.parametrize(
    ("seconds_from_now", "accepted"),
    [(30 * 60 - 1, False), (30 * 60 + 5, True), (24 * 3600 - 5, True), (24 * 3600 + 10, False)],
)
async def test_a_checkout_session_lives_exactly_30_minutes_to_24_hours(
    gateway: StripeGateway, seconds_from_now: int, accepted: bool
) -> None:
    params = await checkout_params(int(time.time()) + seconds_from_now)
    sessions = gateway.client.v1.checkout.sessions
    if accepted:
        assert (await sessions.create_async(params)).status == "open"
        return
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sessions.create_async(params)
    assert caught.value.param == "expires_at"


@pytest.mark.parametrize("ending", ["expired", "complete"])
async def test_only_an_open_session_can_be_expired(gateway: StripeGateway, sandbox: StripeSandbox, ending: str) -> None:
    sessions = gateway.client.v1.checkout.sessions
    session = await sessions.create_async(await checkout_params())
    if ending == "expired":
        await sessions.expire_async(session.id, options={"idempotency_key": "expire:first"})
    else:
        sandbox.complete_checkout(session.id, "pm_card_visa")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sessions.expire_async(session.id, options={"idempotency_key": "expire:again"})

    assert caught.value.http_status == 400
    assert caught.value.error is not None
    assert caught.value.error.type == "invalid_request_error"
    assert caught.value.user_message == 'Only Checkout Sessions with a status in ["open"] can be expired.'
    assert len(sandbox.events("checkout.session.expired")) == (1 if ending == "expired" else 0)

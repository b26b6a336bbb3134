"""Checkout through the sandbox: a hosted page that takes a deposit and saves the card for later off-session
charges, or only saves a card; declines and 3-D Secure on the page; expiry of an abandoned session."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from billing.gateway import AuthenticationRequired, CheckoutSession, PaymentRejected
from billing.sandbox import CheckoutNeedsAuthentication, StripeApiError, StripeSandbox
from billing.stripe_gateway import StripeGateway


async def deposit_session(gateway: StripeGateway, customer: str, *, save_card: bool = True) -> CheckoutSession:
    return await gateway.create_checkout_session(
        "deposit:appt-1",
        customer=customer,
        amount=3000,
        currency="USD",
        description="Deposit for a 60-minute massage",
        success_url="http://testserver.local/p/demo/book/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver.local/p/demo/book",
        metadata={"appointment_id": "appt-1", "kind": "deposit"},
        save_card=save_card,
    )


async def test_a_deposit_session_opens_on_the_hosted_page(gateway: StripeGateway, customer: str) -> None:
    session = await deposit_session(gateway, customer)

    assert session.url == f"http://testserver.local/sandbox/checkout/{session.id}"
    assert (session.status, session.payment_status, session.amount_total, session.currency) == (
        "open",
        "unpaid",
        3000,
        "usd",
    )
    assert session.metadata == {"appointment_id": "appt-1", "kind": "deposit"}
    assert await deposit_session(gateway, customer) == session  # same key: same session


async def test_paying_a_deposit_saves_the_card_for_off_session_charges(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer)

    sandbox.complete_checkout(session.id, "pm_card_authenticationRequiredSetupForOffSession", authenticated=True)
    paid = await gateway.retrieve_checkout_session(session.id)

    assert paid.paid
    assert (paid.card_brand, paid.card_last4) == ("visa", "3155")
    intent = await gateway.retrieve_payment_intent(paid.payment_intent_id or "")
    assert (intent.status, intent.amount_received) == ("succeeded", 3000)
    assert intent.metadata == {"appointment_id": "appt-1", "kind": "deposit"}
    assert [card.payment_method_id for card in await gateway.list_saved_cards(customer)] == [paid.payment_method_id]
    later = await gateway.charge_saved_card(
        "charge:later", customer=customer, payment_method=paid.payment_method_id or "", amount=9000, currency="usd"
    )
    assert later.succeeded
    types = [event["type"] for event in sandbox.events()]
    assert types.index("payment_intent.succeeded") < types.index("checkout.session.completed")


async def test_the_same_card_merely_attached_still_needs_authentication_off_session(
    gateway: StripeGateway, customer: str
) -> None:
    card = await gateway.attach_card(
        "card:3155", customer=customer, payment_method="pm_card_authenticationRequiredSetupForOffSession"
    )
    with pytest.raises(AuthenticationRequired):
        await gateway.charge_saved_card(
            "charge:3155", customer=customer, payment_method=card.payment_method_id, amount=9000, currency="usd"
        )


async def test_a_deposit_without_saving_keeps_no_card(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer, save_card=False)
    sandbox.complete_checkout(session.id, "pm_card_visa")

    assert (await gateway.retrieve_checkout_session(session.id)).paid
    assert await gateway.list_saved_cards(customer) == []


async def test_a_setup_session_only_saves_a_card(gateway: StripeGateway, sandbox: StripeSandbox, customer: str) -> None:
    session = await gateway.create_checkout_session(
        "card-setup:client-1",
        customer=customer,
        amount=None,
        currency="usd",
        description="Save a card",
        success_url="http://testserver.local/done",
        cancel_url="http://testserver.local/back",
        mode="setup",
    )
    sandbox.complete_checkout(session.id, "pm_card_mastercard")
    done = await gateway.retrieve_checkout_session(session.id)

    assert (done.status, done.payment_status, done.mode) == ("complete", "no_payment_required", "setup")
    assert done.setup_intent_id is not None
    assert (done.card_brand, done.card_last4) == ("mastercard", "4444")
    assert sandbox.objects("payment_intent") == []
    assert [card.last4 for card in await gateway.list_saved_cards(customer)] == ["4444"]


async def test_a_declined_card_on_the_page_leaves_the_session_open(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer)

    with pytest.raises(StripeApiError) as caught:
        sandbox.complete_checkout(session.id, "pm_card_chargeDeclinedInsufficientFunds")

    assert caught.value.status == 402
    assert caught.value.error["decline_code"] == "insufficient_funds"
    assert (await gateway.retrieve_checkout_session(session.id)).status == "open"
    sandbox.complete_checkout(session.id, "pm_card_visa")
    paid = await gateway.retrieve_checkout_session(session.id)
    assert paid.paid
    assert paid.card_last4 == "4242"
    # One payment intent per session, as Stripe does: the retry confirmed it with the new card.
    assert [pi["status"] for pi in sandbox.objects("payment_intent")] == ["succeeded"]


async def test_a_3ds_card_on_the_page_asks_the_cardholder_first(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer)

    with pytest.raises(CheckoutNeedsAuthentication):
        sandbox.complete_checkout(session.id, "pm_card_authenticationRequired")
    assert sandbox.objects("payment_intent") == []

    sandbox.complete_checkout(session.id, "pm_card_authenticationRequired", authenticated=True)
    assert (await gateway.retrieve_checkout_session(session.id)).paid


async def test_an_expired_session_can_no_longer_be_paid(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer)

    expired = await gateway.expire_checkout_session("expire:first", session.id)
    again = await gateway.expire_checkout_session("expire:second", session.id)

    assert expired.status == again.status == "expired"
    with pytest.raises(StripeApiError):
        sandbox.complete_checkout(session.id, "pm_card_visa")
    assert len(sandbox.events("checkout.session.expired")) == 1


async def test_a_paid_session_is_not_expired_and_says_it_was_paid(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    session = await deposit_session(gateway, customer)
    sandbox.complete_checkout(session.id, "pm_card_visa")

    answer = await gateway.expire_checkout_session(f"expire:{session.id}", session.id)

    assert (answer.status, answer.paid) == ("complete", True)
    assert sandbox.events("checkout.session.expired") == []


async def test_a_session_must_live_between_30_minutes_and_a_day(gateway: StripeGateway, customer: str) -> None:
    with pytest.raises(PaymentRejected) as caught:
        await gateway.create_checkout_session(
            "deposit:short",
            customer=customer,
            amount=3000,
            currency="usd",
            description="Deposit",
            success_url="http://testserver.local/done",
            cancel_url="http://testserver.local/back",
            expires_in_seconds=60,
        )
    assert caught.value.param == "expires_at"


async def test_a_session_closing_at_a_fixed_instant_is_replayed_by_a_later_retry_with_its_key(
    gateway: StripeGateway, customer: str, sandbox: StripeSandbox
) -> None:
    """A deposit link opened twice, seconds apart, sends the same `expires_at`: one session, not an
    idempotency error (a lifetime in seconds from now would differ between the two)."""
    closes = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=50)

    async def open_once() -> CheckoutSession:
        return await gateway.create_checkout_session(
            "deposit:appt-fixed",
            customer=customer,
            amount=3000,
            currency="usd",
            description="Deposit for a 60-minute massage",
            success_url="http://testserver.local/p/demo/checkout/return?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver.local/p/demo/book",
            save_card=True,
            expires_at=closes,
        )

    first = await open_once()
    await asyncio.sleep(1.1)
    again = await open_once()
    assert again == first
    assert sandbox.checkout_session(first.id)["expires_at"] == int(closes.timestamp())  # type: ignore[index]
    assert len(sandbox.objects("checkout.session")) == 1

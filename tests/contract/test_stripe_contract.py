"""The gateway contract, run through the real Stripe SDK against the sandbox: charges, declines, 3-D Secure,
idempotency (replay and misuse), refunds, Checkout, and the faults a network produces (500, 429, timeouts)."""

from __future__ import annotations

import pytest

from billing.gateway import (
    AuthenticationRequired,
    CardDeclined,
    ChargeResult,
    GatewayUnavailable,
    IdempotencyConflict,
    PaymentGateway,
    PaymentRejected,
)
from billing.sandbox import Fault, StripeSandbox
from billing.stripe_gateway import StripeGateway


def payment_intents(sandbox: StripeSandbox) -> list[dict[str, object]]:
    return sandbox.objects("payment_intent")


def succeeded_charges(sandbox: StripeSandbox) -> list[dict[str, object]]:
    return [charge for charge in sandbox.objects("charge") if charge["status"] == "succeeded"]


async def charge(
    gateway: StripeGateway, customer: str, key: str = "charge:p1", amount: int = 12000, card: str = "pm_card_visa"
) -> ChargeResult:
    return await gateway.charge_saved_card(
        key, customer=customer, payment_method=card, amount=amount, currency="usd", metadata={"payment_id": key}
    )


def test_stripe_gateway_satisfies_the_payment_gateway_protocol(gateway: StripeGateway) -> None:
    assert isinstance(gateway, PaymentGateway)
    assert gateway.is_sandbox


async def test_charging_a_saved_card_succeeds_with_brand_and_last4(gateway: StripeGateway, customer: str) -> None:
    result = await charge(gateway, customer)

    assert result.succeeded
    assert (result.amount, result.amount_received, result.currency) == (12000, 12000, "usd")
    assert (result.card_brand, result.card_last4) == ("visa", "4242")
    assert result.customer_id == customer
    assert result.metadata == {"payment_id": "charge:p1"}
    assert (await gateway.retrieve_payment_intent(result.payment_intent_id)).status == "succeeded"


async def test_the_same_customer_key_gives_the_same_customer(gateway: StripeGateway, customer: str) -> None:
    again = await gateway.ensure_customer("customer:client-1", email="ada@example.test", name="Ada Client")
    assert again == customer


async def test_off_session_charge_on_a_3ds_card_needs_the_client(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    with pytest.raises(AuthenticationRequired) as caught:
        await charge(gateway, customer, card="pm_card_authenticationRequired")

    error = caught.value
    assert error.payment_intent_id is not None
    assert error.client_secret is not None
    assert error.client_secret.startswith(error.payment_intent_id)
    assert error.to_problem()["code"] == "authentication_required"
    assert error.status == 402
    assert (await gateway.retrieve_payment_intent(error.payment_intent_id)).status == "requires_payment_method"
    assert succeeded_charges(sandbox) == []


async def test_insufficient_funds_is_a_decline_with_its_reason(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    with pytest.raises(CardDeclined) as caught:
        await charge(gateway, customer, card="pm_card_chargeDeclinedInsufficientFunds")

    assert caught.value.stripe_code == "card_declined"
    assert caught.value.decline_code == "insufficient_funds"
    assert caught.value.message == "Your card has insufficient funds."
    assert caught.value.to_problem() == {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "stripe_code": "card_declined",
    }
    assert succeeded_charges(sandbox) == []


async def test_a_card_that_saves_fine_can_still_be_declined_generically(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    saved = await gateway.attach_card("card:c1", customer=customer, payment_method="pm_card_chargeCustomerFail")
    assert saved.last4 == "0341"

    with pytest.raises(CardDeclined) as caught:
        await charge(gateway, customer, card=saved.payment_method_id)

    assert caught.value.decline_code == "generic_decline"
    assert caught.value.payment_intent_id is not None
    assert succeeded_charges(sandbox) == []


async def test_a_declining_card_cannot_be_saved(gateway: StripeGateway, customer: str) -> None:
    with pytest.raises(CardDeclined):
        await gateway.attach_card("card:c2", customer=customer, payment_method="pm_card_chargeDeclined")
    assert await gateway.list_saved_cards(customer) == []


async def test_retrying_with_the_same_key_replays_the_first_charge(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    first = await charge(gateway, customer)
    second = await charge(gateway, customer)

    assert second == first
    assert len(payment_intents(sandbox)) == 1
    replays = [request for request in sandbox.requests if request.idempotency_key == "charge:p1"]
    assert [request.replayed for request in replays] == [False, True]


async def test_a_decline_is_replayed_too_and_charges_nothing(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    for _ in range(2):
        with pytest.raises(CardDeclined):
            await charge(gateway, customer, card="pm_card_chargeDeclinedInsufficientFunds")
    assert len(payment_intents(sandbox)) == 1


async def test_reusing_a_key_with_another_amount_is_a_conflict_not_a_charge(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    await charge(gateway, customer, amount=12000)

    with pytest.raises(IdempotencyConflict) as caught:
        await charge(gateway, customer, amount=9000)

    assert caught.value.status == 409
    assert [pi["amount"] for pi in payment_intents(sandbox)] == [12000]


async def test_partial_refunds_then_the_rest_then_nothing_more(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    paid = await charge(gateway, customer, amount=10000)

    part = await gateway.refund("refund:r1", payment_intent=paid.payment_intent_id, amount=2500)
    again = await gateway.refund("refund:r1", payment_intent=paid.payment_intent_id, amount=2500)
    rest = await gateway.refund("refund:r2", payment_intent=paid.payment_intent_id)

    assert (part.amount, part.status, part.payment_intent_id) == (2500, "succeeded", paid.payment_intent_id)
    assert again == part
    assert rest.amount == 7500
    [charge_row] = sandbox.objects("charge")
    assert (charge_row["amount_refunded"], charge_row["refunded"]) == (10000, True)
    with pytest.raises(PaymentRejected) as caught:
        await gateway.refund("refund:r3", payment_intent=paid.payment_intent_id, amount=1)
    assert caught.value.stripe_code == "charge_already_refunded"


async def test_refunding_more_than_is_left_is_refused(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    paid = await charge(gateway, customer, amount=10000)

    with pytest.raises(PaymentRejected) as caught:
        await gateway.refund("refund:big", payment_intent=paid.payment_intent_id, amount=10001)

    assert (caught.value.stripe_code, caught.value.param) == ("amount_too_large", "amount")
    assert sandbox.objects("refund") == []


async def test_a_500_is_retried_by_the_sdk_with_the_same_key_and_charges_once(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.SERVER_ERROR, path="/v1/payment_intents")

    result = await charge(gateway, customer)

    assert result.succeeded
    attempts = [(r.status, r.idempotency_key) for r in sandbox.requests if r.path == "/v1/payment_intents"]
    assert attempts == [(500, "charge:p1"), (200, "charge:p1")]
    assert len(succeeded_charges(sandbox)) == 1


async def test_500s_beyond_the_sdk_retries_surface_and_our_retry_charges_once(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.SERVER_ERROR, times=3, path="/v1/payment_intents")

    with pytest.raises(GatewayUnavailable):
        await charge(gateway, customer)
    assert payment_intents(sandbox) == []

    assert (await charge(gateway, customer)).succeeded
    assert len(succeeded_charges(sandbox)) == 1


async def test_a_rate_limit_surfaces_as_unavailable_and_moves_no_money(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.RATE_LIMIT, path="/v1/payment_intents")

    with pytest.raises(GatewayUnavailable):
        await charge(gateway, customer)

    assert payment_intents(sandbox) == []


async def test_a_timeout_after_stripe_charged_is_healed_by_the_sdk_retry(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.TIMEOUT_AFTER, path="/v1/payment_intents")

    result = await charge(gateway, customer)

    assert result.succeeded
    assert len(succeeded_charges(sandbox)) == 1
    attempts = [(r.fault, r.replayed) for r in sandbox.requests if r.path == "/v1/payment_intents"]
    assert attempts == [(Fault.TIMEOUT_AFTER, False), (None, True)]


async def test_charged_but_every_response_lost_then_our_retry_with_the_same_key_charges_once(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.TIMEOUT_AFTER, times=3, path="/v1/payment_intents")

    with pytest.raises(GatewayUnavailable) as caught:
        await charge(gateway, customer)
    assert caught.value.retryable
    assert len(succeeded_charges(sandbox)) == 1  # Stripe did charge; we just never heard

    result = await charge(gateway, customer)

    assert result.succeeded
    assert len(succeeded_charges(sandbox)) == 1
    assert [pi["id"] for pi in payment_intents(sandbox)] == [result.payment_intent_id]


async def test_a_timeout_before_arrival_is_retried_and_charges_once(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    sandbox.faults.inject(Fault.TIMEOUT_BEFORE, path="/v1/payment_intents")

    assert (await charge(gateway, customer)).succeeded
    assert len(succeeded_charges(sandbox)) == 1


async def test_unknown_payment_method_is_rejected(gateway: StripeGateway, customer: str) -> None:
    with pytest.raises(PaymentRejected) as caught:
        await charge(gateway, customer, card="pm_does_not_exist")
    assert caught.value.stripe_code == "resource_missing"


async def test_another_customers_card_cannot_be_charged(gateway: StripeGateway, customer: str) -> None:
    other = await gateway.ensure_customer("customer:client-2", email="bo@example.test", name="Bo")
    card = await gateway.attach_card("card:other", customer=other, payment_method="pm_card_visa")

    with pytest.raises(PaymentRejected):
        await charge(gateway, customer, card=card.payment_method_id)


def test_metadata_takes_ids_and_amounts_but_no_prose(gateway: StripeGateway) -> None:
    from billing.gateway import check_metadata

    assert check_metadata({"invoice_id": "0190-ab", "amount": "1200"}) == {"invoice_id": "0190-ab", "amount": "1200"}
    with pytest.raises(ValueError, match="ids and amounts only"):
        check_metadata({"note": "lower back pain"})
    with pytest.raises(ValueError, match="ids and amounts only"):
        check_metadata({"Diagnosis Code": "M54"})


async def test_an_unfinished_intent_is_canceled_once_and_a_succeeded_one_says_so(
    gateway: StripeGateway, sandbox: StripeSandbox, customer: str
) -> None:
    with pytest.raises(AuthenticationRequired) as caught:
        await charge(gateway, customer, key="charge:3ds", card="pm_card_authenticationRequired")
    unfinished = caught.value.payment_intent_id
    assert unfinished is not None

    canceled = await gateway.cancel_payment_intent("cancel:p1", unfinished)
    again = await gateway.cancel_payment_intent("cancel:p1", unfinished)

    assert canceled.status == again.status == "canceled"
    assert len(sandbox.events("payment_intent.canceled")) == 1
    paid = await charge(gateway, customer, key="charge:paid")
    # Stripe answers 400 payment_intent_unexpected_state: the gateway reads the intent back instead of raising.
    answer = await gateway.cancel_payment_intent("cancel:p2", paid.payment_intent_id)
    assert (answer.status, answer.succeeded) == ("succeeded", True)
    assert [r.status for r in sandbox.requests if r.path.endswith("/cancel")][-1] == 400

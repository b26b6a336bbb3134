"""The same contract against real Stripe test mode. Runs only with CAREBOOK_STRIPE_SECRET_KEY=sk_test_… (and
network access); everywhere else these are skipped and the sandbox suite stands in for them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from billing.gateway import AuthenticationRequired, CardDeclined, IdempotencyConflict
from billing.gateway_factory import build_gateway
from billing.stripe_gateway import StripeGateway
from scheduler.settings import Settings

LIVE_KEY = os.environ.get("CAREBOOK_STRIPE_SECRET_KEY", "")

pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.skipif(not LIVE_KEY.startswith("sk_test_"), reason="needs CAREBOOK_STRIPE_SECRET_KEY=sk_test_…"),
]


@pytest.fixture
async def live() -> AsyncIterator[StripeGateway]:
    settings = Settings(
        database_url="sqlite+aiosqlite://",
        secret_key="live-contract",
        stripe_secret_key=LIVE_KEY,
        stripe_webhook_secret=os.environ.get("CAREBOOK_STRIPE_WEBHOOK_SECRET") or "whsec_unused_by_these_tests",
        stripe_api_base=os.environ.get("CAREBOOK_STRIPE_API_BASE") or None,
    )
    gateway = build_gateway(settings)
    assert not gateway.is_sandbox
    yield gateway
    await gateway.close()


@pytest.fixture
def run() -> str:
    """Stripe keeps idempotency keys for 24 hours: every run uses fresh ones."""
    return uuid.uuid4().hex


async def test_live_charge_replay_and_partial_refund(live: StripeGateway, run: str) -> None:
    customer = await live.ensure_customer(f"customer:{run}", email="contract@example.test", name="Contract Test")
    card = await live.attach_card(f"card:{run}", customer=customer, payment_method="pm_card_visa")

    first = await live.charge_saved_card(
        f"charge:{run}", customer=customer, payment_method=card.payment_method_id, amount=1200, currency="usd"
    )
    again = await live.charge_saved_card(
        f"charge:{run}", customer=customer, payment_method=card.payment_method_id, amount=1200, currency="usd"
    )
    refund = await live.refund(f"refund:{run}", payment_intent=first.payment_intent_id, amount=200)

    assert first.succeeded
    assert again.payment_intent_id == first.payment_intent_id
    assert refund.amount == 200
    with pytest.raises(IdempotencyConflict):
        await live.charge_saved_card(
            f"charge:{run}", customer=customer, payment_method=card.payment_method_id, amount=1300, currency="usd"
        )


async def test_live_declines_and_authentication(live: StripeGateway, run: str) -> None:
    customer = await live.ensure_customer(f"customer:{run}", email="contract@example.test", name="Contract Test")
    with pytest.raises(CardDeclined) as declined:
        await live.charge_saved_card(
            f"charge:{run}:nsf",
            customer=customer,
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            amount=1200,
            currency="usd",
        )
    assert declined.value.decline_code == "insufficient_funds"
    with pytest.raises(AuthenticationRequired) as auth:
        await live.charge_saved_card(
            f"charge:{run}:3ds",
            customer=customer,
            payment_method="pm_card_authenticationRequired",
            amount=1200,
            currency="usd",
        )
    assert auth.value.payment_intent_id


async def test_live_checkout_session_opens_on_stripe(live: StripeGateway, run: str) -> None:
    customer = await live.ensure_customer(f"customer:{run}", email="contract@example.test", name="Contract Test")
    session = await live.create_checkout_session(
        f"deposit:{run}",
        customer=customer,
        amount=3000,
        currency="usd",
        description="Deposit",
        success_url="https://example.test/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://example.test/back",
        save_card=True,
    )
    assert session.url is not None
    assert session.url.startswith("https://checkout.stripe.com/")
    assert (await live.expire_checkout_session(f"expire:{run}", session.id)).status == "expired"

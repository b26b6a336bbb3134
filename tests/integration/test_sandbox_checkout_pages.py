"""The sandbox's hosted checkout page inside the app: a client pays (or is declined, or confirms 3-D Secure),
the signed webhooks reach the app's own webhook route before the redirect, and the page is only there when
no Stripe key is configured."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from litestar import Litestar, Request, post
from litestar.testing import AsyncTestClient

from billing.gateway import CheckoutSession, WebhookEvent
from billing.stripe_gateway import StripeGateway
from scheduler.app import create_app
from scheduler.settings import Settings

CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
HTML = {"Accept": "text/html"}
HOOK_PATH = "/webhooks/sandbox-test"


@dataclass
class Received:
    events: list[WebhookEvent] = field(default_factory=list)

    def types(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def gateway(app: Litestar) -> StripeGateway:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    return gateway


@pytest.fixture
def received(app: Litestar, gateway: StripeGateway) -> Received:
    """A webhook route of the test's own (the billing route verifies the same way), fed by the sandbox."""
    inbox = Received()

    @post(HOOK_PATH, status_code=200)
    async def hook(request: Request[object, object, object]) -> None:
        inbox.events.append(gateway.construct_event(await request.body(), request.headers.get("stripe-signature")))

    app.register(hook)
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.url = "http://testserver.local" + HOOK_PATH
    return inbox


async def open_deposit(gateway: StripeGateway, *, key: str = "deposit:a1") -> CheckoutSession:
    customer = await gateway.ensure_customer("customer:c1", email="client@example.test", name="Client One")
    return await gateway.create_checkout_session(
        key,
        customer=customer,
        amount=3000,
        currency="usd",
        description="Deposit for a 60-minute massage",
        success_url="http://testserver.local/p/demo/booked?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver.local/p/demo/book",
        metadata={"appointment_id": "a1"},
        save_card=True,
    )


async def page_token(client: AsyncTestClient[Litestar], session: CheckoutSession) -> str:
    page = await client.get(f"/sandbox/checkout/{session.id}", headers=HTML)
    assert page.status_code == 200
    found = CSRF_RE.search(page.text)
    assert found is not None
    return found.group(1)


async def pay(
    client: AsyncTestClient[Litestar], session: CheckoutSession, card: str, **extra: str
) -> tuple[int, str, str]:
    token = await page_token(client, session)
    response = await client.post(
        f"/sandbox/checkout/{session.id}/pay",
        data={"card": card, "_csrf_token": token, **extra},
        headers=HTML,
        follow_redirects=False,
    )
    return response.status_code, response.headers.get("location", ""), response.text


async def test_the_hosted_page_shows_the_amount_and_the_test_cards(
    client: AsyncTestClient[Litestar], gateway: StripeGateway
) -> None:
    session = await open_deposit(gateway)

    page = await client.get(f"/sandbox/checkout/{session.id}", headers=HTML)

    assert page.status_code == 200
    assert "$30.00" in page.text
    assert "Deposit for a 60-minute massage" in page.text
    assert "pm_card_chargeDeclinedInsufficientFunds" in page.text


async def test_paying_delivers_signed_webhooks_then_returns_to_the_practice(
    client: AsyncTestClient[Litestar], gateway: StripeGateway, received: Received
) -> None:
    session = await open_deposit(gateway)

    status, location, _ = await pay(client, session, "pm_card_visa")

    assert status == 303
    assert location == f"http://testserver.local/p/demo/booked?session={session.id}"
    assert {"payment_intent.succeeded", "checkout.session.completed"} <= set(received.types())
    [completed] = [event for event in received.events if event.type == "checkout.session.completed"]
    assert completed.data["metadata"] == {"appointment_id": "a1"}
    assert completed.data["payment_status"] == "paid"
    assert (await gateway.retrieve_checkout_session(session.id)).paid
    assert [event.id for event in await gateway.list_undelivered_events()] == []


async def test_a_declined_card_shows_the_reason_and_keeps_the_page_open(
    client: AsyncTestClient[Litestar], gateway: StripeGateway, received: Received
) -> None:
    session = await open_deposit(gateway)

    status, _, text = await pay(client, session, "pm_card_chargeDeclinedInsufficientFunds")

    assert status == 402
    assert "Your card has insufficient funds." in text
    assert (await gateway.retrieve_checkout_session(session.id)).status == "open"
    assert "checkout.session.completed" not in received.types()


async def test_a_3ds_card_asks_the_cardholder_to_confirm_before_paying(
    client: AsyncTestClient[Litestar], gateway: StripeGateway, received: Received
) -> None:
    session = await open_deposit(gateway)

    status, _, text = await pay(client, session, "pm_card_authenticationRequired")
    assert status == 200
    assert "Confirm this payment" in text
    assert not (await gateway.retrieve_checkout_session(session.id)).paid

    status, location, _ = await pay(client, session, "pm_card_authenticationRequired", authenticated="1")
    assert status == 303
    assert location.endswith(session.id)
    assert (await gateway.retrieve_checkout_session(session.id)).paid


async def test_cancel_goes_back_without_paying(client: AsyncTestClient[Litestar], gateway: StripeGateway) -> None:
    session = await open_deposit(gateway)
    token = await page_token(client, session)

    response = await client.post(
        f"/sandbox/checkout/{session.id}/cancel", data={"_csrf_token": token}, headers=HTML, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver.local/p/demo/book"
    assert (await gateway.retrieve_checkout_session(session.id)).status == "open"


async def test_a_paid_or_unknown_checkout_cannot_be_paid_again(
    client: AsyncTestClient[Litestar], gateway: StripeGateway, received: Received
) -> None:
    session = await open_deposit(gateway)
    await pay(client, session, "pm_card_visa")

    again = await client.get(f"/sandbox/checkout/{session.id}", headers=HTML)
    missing = await client.get("/sandbox/checkout/cs_test_nope", headers=HTML)

    assert "This checkout is complete" in again.text
    assert 'id="pay"' not in again.text
    assert missing.status_code == 404


async def test_a_dispute_opened_from_the_dashboard_reaches_the_app(
    client: AsyncTestClient[Litestar], gateway: StripeGateway, received: Received
) -> None:
    session = await open_deposit(gateway)
    await pay(client, session, "pm_card_visa")
    paid = await gateway.retrieve_checkout_session(session.id)
    dashboard = await client.get("/sandbox/", headers=HTML)
    found = CSRF_RE.search(dashboard.text)
    assert found is not None
    assert paid.payment_intent_id in dashboard.text

    response = await client.post(
        f"/sandbox/payments/{paid.payment_intent_id}/dispute",
        data={"_csrf_token": found.group(1)},
        headers=HTML,
        follow_redirects=False,
    )

    assert response.status_code == 303
    [dispute] = [event for event in received.events if event.type == "charge.dispute.created"]
    assert dispute.data["payment_intent"] == paid.payment_intent_id


@pytest.fixture
async def app_with_stripe_key(settings: Settings) -> AsyncIterator[Litestar]:
    keyed = Settings(
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        base_url=settings.base_url,
        stripe_secret_key="sk_test_not_a_real_key",
        stripe_webhook_secret="whsec_configured",
    )
    application = create_app(keyed)
    yield application
    await application.state.alchemy.get_engine().dispose()


async def test_with_a_stripe_key_there_is_no_sandbox(app_with_stripe_key: Litestar) -> None:
    gateway: StripeGateway = app_with_stripe_key.state.payment_gateway
    assert not gateway.is_sandbox
    assert gateway.webhook_secret == "whsec_configured"
    async with AsyncTestClient(app=app_with_stripe_key, base_url="http://testserver.local") as client:
        assert (await client.get("/sandbox/checkout/cs_test_x", headers=HTML)).status_code == 404

"""Webhooks: the gateway verifies Stripe's signature scheme on the raw body, and the sandbox sends events the
way Stripe does (signed, possibly late, repeated, reordered or failed, and listed until delivered)."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from billing.gateway import InvalidWebhook
from billing.sandbox import StripeSandbox, sign
from billing.stripe_gateway import StripeGateway


async def charged(gateway: StripeGateway, key: str = "charge:w1") -> str:
    customer = await gateway.ensure_customer(f"customer:{key}", email="ada@example.test", name="Ada")
    result = await gateway.charge_saved_card(
        key, customer=customer, payment_method="pm_card_visa", amount=5000, currency="usd"
    )
    return result.payment_intent_id


def event_payload(sandbox: StripeSandbox, event_type: str) -> bytes:
    [event] = sandbox.events(event_type)
    return sandbox.event_payload(event["id"])


class Inbox:
    """Stands in for the app's webhook route: keeps what arrived, answers 200."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = status

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.received.append((body, headers))
        return self.status

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body, _ in self.received]


async def test_a_sandbox_event_verifies_and_reads_back(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    pi = await charged(gateway)
    body = event_payload(sandbox, "payment_intent.succeeded")

    event = gateway.construct_event(body, sign(body, gateway.webhook_secret))

    assert event.type == "payment_intent.succeeded"
    assert event.object_id == pi
    assert event.data["amount_received"] == 5000
    assert event.id.startswith("evt_")


async def test_the_sdks_own_signature_verifies(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    await charged(gateway)
    body = event_payload(sandbox, "charge.succeeded")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), gateway.webhook_secret)

    assert gateway.construct_event(body, header).type == "charge.succeeded"


async def test_a_signature_made_with_another_secret_is_refused(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    await charged(gateway)
    body = event_payload(sandbox, "charge.succeeded")

    with pytest.raises(InvalidWebhook) as caught:
        gateway.construct_event(body, sign(body, "whsec_someone_else"))
    assert caught.value.status == 400


async def test_a_stale_timestamp_is_refused(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    await charged(gateway)
    body = event_payload(sandbox, "charge.succeeded")
    stale = int(time.time()) - 301

    with pytest.raises(InvalidWebhook, match="tolerance"):
        gateway.construct_event(body, sign(body, gateway.webhook_secret, timestamp=stale))


async def test_a_changed_body_is_refused(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    await charged(gateway)
    body = event_payload(sandbox, "charge.succeeded")
    header = sign(body, gateway.webhook_secret)

    with pytest.raises(InvalidWebhook):
        gateway.construct_event(body.replace(b"5000", b"9000"), header)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=notanumber,v1=abc"])
def test_a_missing_or_malformed_signature_header_is_refused(gateway: StripeGateway, header: str | None) -> None:
    body = b'{"id": "evt_1", "object": "event", "type": "x", "created": 1, "data": {"object": {}}}'
    with pytest.raises(InvalidWebhook):
        gateway.construct_event(body, header)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"\xff\xfe", b"[1, 2]", b'{"object": "charge", "id": "ch_1"}', b'{"object": "event"}'],
)
def test_a_correctly_signed_body_that_is_not_an_event_is_refused(gateway: StripeGateway, body: bytes) -> None:
    header = f"t={int(time.time())},v1=" + sign(body, gateway.webhook_secret).split("v1=")[1]
    with pytest.raises(InvalidWebhook):
        gateway.construct_event(body, header)


async def test_undelivered_events_are_listed_oldest_first_until_delivered(
    gateway: StripeGateway, sandbox: StripeSandbox
) -> None:
    await charged(gateway)

    pending = await gateway.list_undelivered_events()

    assert [event.type for event in pending] == [
        "customer.created",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    sandbox.webhooks.poster = Inbox()
    await sandbox.webhooks.deliver(pending[0].id)
    assert [event.id for event in await gateway.list_undelivered_events()] == [event.id for event in pending[1:]]


async def test_listing_undelivered_events_pages_through_all_of_them(gateway: StripeGateway) -> None:
    for number in range(105):
        await gateway.ensure_customer(f"customer:many-{number}", email=None, name=None)

    pending = await gateway.list_undelivered_events(limit=500)

    assert len(pending) == 105
    assert len({event.id for event in pending}) == 105


async def test_held_events_arrive_late_reversed_and_repeated_each_signed(
    gateway: StripeGateway, sandbox: StripeSandbox
) -> None:
    inbox = Inbox()
    sandbox.webhooks.poster = inbox
    sandbox.webhooks.hold()
    await charged(gateway)
    assert inbox.received == []

    await sandbox.webhooks.release(reverse=True, times=3)

    assert inbox.types()[:3] == ["payment_intent.succeeded"] * 3
    assert inbox.types()[-1] == "customer.created"
    assert len(inbox.received) == 4 * 3
    for body, headers in inbox.received:
        gateway.construct_event(body, headers["Stripe-Signature"])
    assert await gateway.list_undelivered_events() == []


async def test_events_are_delivered_in_the_background_and_drain_waits_for_them(
    gateway: StripeGateway, sandbox: StripeSandbox
) -> None:
    inbox = Inbox()
    sandbox.webhooks.poster = inbox
    sandbox.webhooks.mode = "auto"

    await charged(gateway)
    await sandbox.webhooks.drain()

    assert sorted(inbox.types()) == sorted(
        ["customer.created", "payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    )


async def test_a_failed_delivery_stays_undelivered_until_redelivered(
    gateway: StripeGateway, sandbox: StripeSandbox
) -> None:
    sandbox.webhooks.poster = Inbox(status=500)
    sandbox.webhooks.mode = "auto"
    sandbox.webhooks.drop_next(1)

    await charged(gateway)
    await sandbox.webhooks.drain()

    assert len(await gateway.list_undelivered_events()) == 4
    assert [attempt.status for attempt in sandbox.webhooks.attempts].count(None) == 1
    inbox = Inbox()
    sandbox.webhooks.poster = inbox
    for event in await gateway.list_undelivered_events():
        assert await sandbox.webhooks.redeliver(event.id) == [200]
    assert await gateway.list_undelivered_events() == []


async def test_a_refund_and_a_dispute_emit_their_events(gateway: StripeGateway, sandbox: StripeSandbox) -> None:
    pi = await charged(gateway)
    await gateway.refund("refund:w1", payment_intent=pi, amount=1000)
    sandbox.open_dispute(pi)

    [refunded] = sandbox.events("charge.refunded")
    assert refunded["data"]["object"]["amount_refunded"] == 1000
    assert refunded["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    [dispute] = sandbox.events("charge.dispute.created")
    assert dispute["data"]["object"]["payment_intent"] == pi
    assert dispute["data"]["object"]["amount"] == 4000

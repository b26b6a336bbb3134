"""A deposit kept as account credit: the practice's policy keeps a late cancel's deposit as the client's credit
(`kept_deposit: credit`), the cancelled visit's invoice ends void with nothing paid for care, and the desk draws the
credit as a tender at the client's next checkout — once, never above the credit, printed on the receipt.

The practice asks a $30 deposit; Ann books online and pays it through the sandbox's hosted checkout. Stripe's side
is read from the sandbox; the e-mails from the outbox; the receipt from its PDF.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import ClientCredit
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.mail.models import OutboxMessage
from scheduler.practice.demo import DEMO_DESK
from scheduler.practice.models import Practice
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, open_deposit_link, pay, visit
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import pdf_text
from tests.integration.test_schedule_page import HTML, _sign_in

DEPOSIT = 3000
CREDIT_SENTENCE = "Your $30.00 deposit was kept as credit for your next visit."
REFUND_SENTENCE = "Your $30.00 deposit will be refunded to your card ending 4242 within 5–10 business days."  # noqa: RUF001


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # the checkout return page confirms the deposit; events are not needed
    return gateway.sandbox


async def practice_keeps_deposits_as_credit(client: Client, factory: Factory) -> Desk:
    desk = await desk_with_client(client, factory)
    answer = await client.put(
        "/api/v1/billing/policy",
        json={
            "deposit_kind": "fixed",
            "deposit_fixed": DEPOSIT,
            "hold_minutes": 20,
            "late_cancel_fee": 2500,
            "kept_deposit": "credit",
        },
        headers=desk.owner.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["kept_deposit"] == "credit"
    return desk


async def ann_books_and_pays(client: Client, sandbox: StripeSandbox) -> dict[str, Any]:
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(7), 11))
    )
    assert booked.status_code == 201, booked.text
    body = dict(booked.json())
    session_id = await open_deposit_link(client, body["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert returned.status_code == 200, returned.text
    return body


async def desk_cancels(client: Client, desk: Desk, booked: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(
        f"/api/v1/appointments/{booked['appointment']['id']}/cancel",
        json={"reason": "client called"},
        headers=desk.headers,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def window_covers_the_visit(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24 * 60))


async def mail(engine: AsyncEngine, kind: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OutboxMessage.body_text).where(OutboxMessage.kind == kind))).scalars())


async def credit_of(engine: AsyncEngine, client_id: str) -> int:
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(ClientCredit.amount), 0)).where(
                ClientCredit.client_id == uuid.UUID(client_id)
            )
        )
    return int(total or 0)


def stripe_refunds(sandbox: StripeSandbox) -> list[int]:
    return [int(r["amount"]) for r in sandbox.objects("refund")]


async def test_a_late_cancel_keeps_the_deposit_as_credit_and_the_next_checkout_draws_it_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await practice_keeps_deposits_as_credit(client, factory)
    booked = await ann_books_and_pays(client, sandbox)
    await window_covers_the_visit(engine)
    cancelled = await desk_cancels(client, desk, booked)
    assert cancelled["cancelled_late"] is True

    # The money stays with the practice: nothing goes back at Stripe, no fee is charged.
    assert stripe_refunds(sandbox) == []
    old = await checkout(client, desk, booked["appointment"]["id"])
    ann = dataclasses.replace(desk, client_id=old["client_id"])
    assert (old["status"], old["total"], old["paid"], old["balance"]) == ("void", 0, 0, 0)
    assert not [line for line in old["lines"] if line["kind"] == "fee"]
    receipt = await client.get(f"/api/v1/invoices/{old['id']}/receipt.pdf", headers=desk.headers)
    assert receipt.status_code == 404, "a visit that did not happen gets no receipt"
    assert await credit_of(engine, ann.client_id) == DEPOSIT
    [body] = await mail(engine, "visit_cancelled")
    assert CREDIT_SENTENCE in body
    assert await mail(engine, "fee_notice") == []

    # Ann's next visit: the desk sees the credit on the checkout page and uses it.
    appointment = await visit(client, ann, hour=14)
    inv = await checkout(client, ann, appointment)
    await _sign_in(client, DEMO_DESK)
    page = await client.get(f"/staff/invoices/{inv['id']}", headers=HTML)
    assert page.status_code == 200, page.text
    assert "Account credit $30.00 — use it" in page.text
    client_page = await client.get(f"/staff/clients/{ann.client_id}", headers=HTML)
    assert client_page.status_code == 200, client_page.text
    assert "Account credit $30.00 — use it at the next checkout." in client_page.text

    too_much = await pay(client, ann, inv["id"], "credit", DEPOSIT + 100)
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["field"] == "amount"
    assert "account credit of $30.00" in too_much.json()["detail"]

    key = {"Idempotency-Key": "credit-tender-1"}
    first = await client.post(
        f"/api/v1/invoices/{inv['id']}/payments",
        json={"method": "credit", "amount": DEPOSIT},
        headers=ann.headers | key,
    )
    assert first.status_code == 201, first.text
    retried = await client.post(
        f"/api/v1/invoices/{inv['id']}/payments",
        json={"method": "credit", "amount": DEPOSIT},
        headers=ann.headers | key,
    )
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == first.json()["id"], "the retry is answered with the first tender"
    assert await credit_of(engine, ann.client_id) == 0
    again = await pay(client, ann, inv["id"], "credit", 100)
    assert again.status_code == 422, "the credit is spent"
    assert again.json()["field"] == "amount"

    text = await pays_the_rest_and_reads_the_receipt(client, ann, inv["id"], appointment)
    assert "Account credit" in text
    assert "$30.00" in text
    assert stripe_refunds(sandbox) == [], "credit never becomes a refund at Stripe"


async def pays_the_rest_and_reads_the_receipt(client: Client, ann: Desk, invoice_id: str, appointment: str) -> str:
    after = await client.get(f"/api/v1/invoices/{invoice_id}", headers=ann.headers)
    assert after.json()["balance"] == ann.price - DEPOSIT, "the credit took $30 off the balance"
    assert [p["method"] for p in after.json()["payments"]] == ["credit"]
    assert (await pay(client, ann, invoice_id, "cash", ann.price - DEPOSIT)).status_code == 201
    done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=ann.headers)
    assert done.status_code == 200, done.text
    receipt = await client.get(f"/api/v1/invoices/{invoice_id}/receipt.pdf", headers=ann.headers)
    assert receipt.status_code == 200, receipt.text
    return pdf_text(receipt.content)


async def test_an_in_time_cancel_under_the_credit_policy_still_refunds_the_deposit(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await practice_keeps_deposits_as_credit(client, factory)
    booked = await ann_books_and_pays(client, sandbox)
    cancelled = await desk_cancels(client, desk, booked)
    assert cancelled["cancelled_late"] is False
    assert stripe_refunds(sandbox) == [DEPOSIT]
    old = await checkout(client, desk, booked["appointment"]["id"])
    assert (old["status"], old["paid"], old["balance"]) == ("void", 0, 0)
    assert await credit_of(engine, old["client_id"]) == 0
    [body] = await mail(engine, "visit_cancelled")
    assert REFUND_SENTENCE in body


async def test_the_policy_names_the_field_when_kept_deposit_is_unknown(client: Client, factory: Factory) -> None:
    desk = await desk_with_client(client, factory)
    refused = await client.put("/api/v1/billing/policy", json={"kept_deposit": "voucher"}, headers=desk.owner.headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "kept_deposit"
    shown = await client.get("/api/v1/billing/policy", headers=desk.headers)
    assert shown.json()["kept_deposit"] == "fee", "nothing was written; the default keeps deposits as the fee"

"""A late success is never lost, and retries are answers: issue 14's money races, over HTTP, through the real
Stripe SDK and the offline sandbox (its hosted page, its faults and its webhook sender).

- a pay link paid after the desk took cash is recorded, refunded in full and told to the client and the desk;
- settling an invoice expires its other pay links, so they can no longer be paid;
- a charge whose answer was lost, followed by another tender, is refunded when its success arrives — however
  often and in whatever order the events come, and through `carebook stripe reconcile` too;
- the desk's retry of a tender a webhook settled meanwhile answers 200 with that payment;
- a declined card on the deposit checkout is not the end: the next card books the visit;
- an event our database refuses is parked (200), listed for owners, and replayed by reconcile once fixed.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import ParkedWebhookEvent, Payment, Refund
from billing.reconcile import reconcile
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.db import build_alchemy_config
from scheduler.format import format_date
from scheduler.mail.models import OutboxMessage
from scheduler.settings import Settings
from tests.integration.billing_helpers import (
    Desk,
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
from tests.integration.clinical_helpers import sign_in
from tests.integration.conftest import Factory

BASE = "http://testserver.local"
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # each test delivers the events itself: late, reordered, repeated
    return gateway.sandbox


async def _pay_on_hosted_page(client: Client, session_id: str, card: str) -> Any:
    """What the client does on Stripe's page: choose a card and press Pay (no redirect followed)."""
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


async def _rows(engine: AsyncEngine, *columns: Any, where: Any = None) -> list[Any]:
    async with engine.connect() as conn:
        stmt = select(*columns)
        if where is not None:
            stmt = stmt.where(where)
        return list((await conn.execute(stmt)).all())


def _stripe_net(sandbox: StripeSandbox, payment_intent: str) -> int:
    """What the client is out of pocket at Stripe for one payment intent: charged less refunded."""
    charged = sum(
        int(c["amount"])
        for c in sandbox.objects("charge")
        if c["payment_intent"] == payment_intent and c["status"] == "succeeded"
    )
    refunded = sum(int(r["amount"]) for r in sandbox.objects("refund") if r["payment_intent"] == payment_intent)
    return charged - refunded


async def _three_d_secure_card_then_pay_link(client: Client, factory: Factory) -> tuple[Desk, dict[str, Any], str]:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_authenticationRequired")
    inv = await checkout(client, desk, await visit(client, desk))
    declined = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert declined.status_code == 402, declined.text
    assert declined.json()["code"] == "authentication_required"
    session_id = declined.json()["pay_url"].rsplit("/", 1)[-1]
    assert session_id.startswith("cs_")
    return desk, inv, session_id


async def _assert_refunded_once(
    engine: AsyncEngine, sandbox: StripeSandbox, payment_id: str, amount: int
) -> dict[str, Any]:
    [(key, refund_amount, status, overpayment)] = await _rows(
        engine, Refund.idempotency_key, Refund.amount, Refund.status, Refund.overpayment
    )
    assert (key, refund_amount, status, overpayment) == (f"overpayment_refund:{payment_id}", amount, "succeeded", True)
    [(intent,)] = await _rows(engine, Payment.gateway_payment_intent, where=Payment.id == _uuid(payment_id))
    [refund] = sandbox.objects("refund")
    assert (refund["payment_intent"], refund["amount"]) == (intent, amount)
    assert _stripe_net(sandbox, intent) == 0
    [(subject, body)] = await _rows(
        engine, OutboxMessage.subject, OutboxMessage.body_text, where=OutboxMessage.kind == "overpayment_refund"
    )
    assert "you paid twice" in subject
    return {"body": body, "intent": intent}


def _uuid(raw: str) -> uuid.UUID:
    return uuid.UUID(raw)


async def test_pay_link_paid_after_cash_is_refunded_automatically(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk, inv, session_id = await _three_d_secure_card_then_pay_link(client, factory)
    # Stripe cannot be reached when the desk settles the invoice, so the pay link stays open: the race is real.
    sandbox.faults.inject("server_error", times=10, method="POST", path="/expire")
    cash = await pay(client, desk, inv["id"], "cash", desk.price)
    assert cash.status_code == 201, cash.text
    sandbox.faults.clear()
    assert (await invoice(client, desk, inv["id"]))["status"] == "paid"

    paid = await _pay_on_hosted_page(client, session_id, "pm_card_visa")
    assert paid.status_code == 303, paid.text
    returned = await client.get(paid.headers["location"].removeprefix(BASE))
    assert returned.status_code == 200
    assert 'data-testid="paid-twice"' in returned.text
    assert "$120.00 is on its way back" in returned.text

    after = await invoice(client, desk, inv["id"])
    assert (after["status"], after["total"], after["paid"], after["balance"], after["overpaid"]) == (
        "paid",
        desk.price,
        desk.price,
        0,
        0,
    )
    assert [(p["method"], p["status"]) for p in after["payments"]] == [
        ("card_on_file", "failed"),
        ("pay_link", "succeeded"),
        ("cash", "succeeded"),
    ]
    link = after["payments"][1]
    assert link["refunded"] == desk.price
    assert_totals_match(after)
    sent = await _assert_refunded_once(engine, sandbox, link["id"], desk.price)
    assert "$120.00 is on its way back to your Visa •••• 4242" in sent["body"]

    # Every event Stripe sent, late, in reverse and three times over: still one refund, nothing else moves.
    await sandbox.webhooks.release(reverse=True, times=3)
    await sandbox.webhooks.drain()
    assert all(a.status == 200 for a in sandbox.webhooks.attempts), sandbox.webhooks.attempts
    await _assert_refunded_once(engine, sandbox, link["id"], desk.price)
    assert (await invoice(client, desk, inv["id"]))["paid"] == desk.price

    # The desk sees what happened.
    await sign_in(client, desk.staff.user.email)
    page = await client.get(f"/staff/invoices/{inv['id']}", headers=HTML)
    assert page.status_code == 200
    today = format_date(dt.datetime.now(ZoneInfo("America/New_York")).date())
    assert f"Paid twice — $120.00 refunded on {today}" in page.text


async def test_settling_an_invoice_expires_its_open_pay_link(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk, inv, session_id = await _three_d_secure_card_then_pay_link(client, factory)
    cash = await pay(client, desk, inv["id"], "cash", desk.price)
    assert cash.status_code == 201, cash.text

    assert sandbox.checkout_session(session_id)["status"] == "expired"  # type: ignore[index]
    after = await invoice(client, desk, inv["id"])
    expire_calls = [r for r in sandbox.requests if r.path.endswith(f"/{session_id}/expire")]
    assert [r.idempotency_key for r in expire_calls] == [f"expire:{_pay_link_id(after)}"]
    assert [(p["method"], p["status"], p["failure_code"]) for p in after["payments"]] == [
        ("card_on_file", "failed", "authentication_required"),
        ("pay_link", "failed", "superseded"),
        ("cash", "succeeded", None),
    ]
    # The client who opens the e-mailed link later finds it closed: no 500, no charge.
    late = await client.get(f"/sandbox/checkout/{session_id}", headers=HTML)
    assert late.status_code == 200
    assert "This checkout is expired" in late.text
    assert 'name="card"' not in late.text
    assert [c for c in sandbox.objects("charge") if c["status"] == "succeeded"] == []
    await sandbox.webhooks.release(times=2)
    await sandbox.webhooks.drain()
    assert all(a.status == 200 for a in sandbox.webhooks.attempts)
    assert (await invoice(client, desk, inv["id"]))["payments"][1]["failure_code"] == "superseded"


def _pay_link_id(inv: dict[str, Any]) -> str:
    [link] = [p for p in inv["payments"] if p["method"] == "pay_link"]
    return str(link["id"])


async def test_a_charge_whose_answer_was_lost_then_cash_is_refunded_when_its_success_arrives(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    lost = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert lost.status_code == 503
    cash = await pay(client, desk, inv["id"], "cash", desk.price)
    assert cash.status_code == 201, cash.text
    lost_payment = (await invoice(client, desk, inv["id"]))["payments"][0]
    assert (lost_payment["method"], lost_payment["status"], lost_payment["failure_code"]) == (
        "card_on_file",
        "failed",
        "superseded",
    )

    # The success Stripe sent arrives late, repeated and after the events that followed it.
    await sandbox.webhooks.release(reverse=True, times=3)
    await sandbox.webhooks.drain()
    assert {a.status for a in sandbox.webhooks.attempts} == {200}, sandbox.webhooks.attempts
    after = await invoice(client, desk, inv["id"])
    assert [(p["method"], p["status"], p["refunded"]) for p in after["payments"]] == [
        ("card_on_file", "succeeded", desk.price),
        ("cash", "succeeded", 0),
    ]
    assert (after["status"], after["paid"], after["balance"], after["overpaid"]) == ("paid", desk.price, 0, 0)
    await _assert_refunded_once(engine, sandbox, lost_payment["id"], desk.price)


async def test_reconcile_applies_a_late_success_for_a_settled_invoice_and_refunds_it_once(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine, app: Litestar, settings: Settings
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.webhooks.mode = "off"  # every delivery fails: only reconciliation can tell us
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    assert (await pay(client, desk, inv["id"], "card_on_file", desk.price)).status_code == 503
    assert (await pay(client, desk, inv["id"], "cash", desk.price)).status_code == 201
    card = (await invoice(client, desk, inv["id"]))["payments"][0]

    config = build_alchemy_config(settings, pooled=False)
    try:
        first = await reconcile(config, app.state.payment_gateway)
        # The refund's own events (charge.refunded, …), undelivered too, apply on the next run; then nothing.
        again = await reconcile(config, app.state.payment_gateway)
        last = await reconcile(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert first["applied"] >= 1
    assert first["parked"] == again["parked"] == 0
    assert last["applied"] == 0
    assert last["followed_up"] == 0
    after = await invoice(client, desk, inv["id"])
    assert [(p["status"], p["refunded"]) for p in after["payments"]] == [("succeeded", desk.price), ("succeeded", 0)]
    await _assert_refunded_once(engine, sandbox, card["id"], desk.price)


async def test_a_desk_retry_after_the_webhook_settled_the_charge_answers_200_with_it(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    lost = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert lost.status_code == 503
    await sandbox.webhooks.release()
    await sandbox.webhooks.drain()
    settled = await invoice(client, desk, inv["id"])
    assert (settled["status"], settled["balance"]) == ("paid", 0)

    retry = await pay(client, desk, inv["id"], "card_on_file", desk.price)

    assert retry.status_code == 200, retry.text
    assert (retry.json()["id"], retry.json()["status"]) == (settled["payments"][0]["id"], "succeeded")
    assert len(sandbox.objects("payment_intent")) == 1
    assert len(await _rows(engine, Payment.id)) == 1
    # A genuinely new tender above the balance is still refused, naming the field.
    other = await pay(client, desk, inv["id"], "cash", 500)
    assert other.status_code == 422
    assert other.json()["field"] == "amount"


async def test_a_declined_card_then_a_good_one_on_the_deposit_checkout_books_the_visit(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
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
    session_id = await open_deposit_link(client, booked.json()["checkout_url"])

    declined = await _pay_on_hosted_page(client, session_id, "pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    # Stripe tells us of the decline before the client tries again.
    await sandbox.webhooks.release(resume=False)
    assert {a.status for a in sandbox.webhooks.attempts} == {200}
    [(status, failure)] = await _rows(engine, Payment.status, Payment.failure_code)
    assert (status, failure) == ("pending", "insufficient_funds")

    paid = await _pay_on_hosted_page(client, session_id, "pm_card_visa")
    assert paid.status_code == 303, paid.text
    returned = await client.get(paid.headers["location"].removeprefix(BASE))
    assert returned.status_code == 200
    assert "Payment received" in returned.text
    assert 'data-testid="visit-confirmed"' in returned.text
    await sandbox.webhooks.release(reverse=True, times=2)
    await sandbox.webhooks.drain()
    [(status, failure, amount)] = await _rows(engine, Payment.status, Payment.failure_code, Payment.amount)
    assert (status, failure) == ("succeeded", None)
    appointment = await client.get(f"/api/v1/appointments/{booked.json()['appointment']['id']}", headers=desk.headers)
    assert appointment.json()["status"] == "booked"
    inv = await checkout(client, desk, booked.json()["appointment"]["id"])
    # The desk sees the deposit paid: only the rest is owed.
    assert (inv["paid"], inv["balance"]) == (amount, desk.price - amount)


async def _freeze_payments(engine: AsyncEngine) -> None:
    """The database refuses every change to a payment (what an unexpected constraint does to a webhook)."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(
                text(
                    "CREATE FUNCTION test_freeze_payment() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'payments are frozen' USING ERRCODE = 'check_violation'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER test_freeze_payment BEFORE UPDATE ON payment "
                    "FOR EACH ROW EXECUTE FUNCTION test_freeze_payment()"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE TRIGGER test_freeze_payment BEFORE UPDATE ON payment "
                    "BEGIN SELECT RAISE(ABORT, 'payments are frozen'); END"
                )
            )


async def _thaw_payments(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("DROP TRIGGER IF EXISTS test_freeze_payment ON payment"))
            await conn.execute(text("DROP FUNCTION IF EXISTS test_freeze_payment()"))
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS test_freeze_payment"))


async def test_an_event_the_database_refuses_is_parked_with_200_and_reconcile_applies_it_once_fixed(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine, app: Litestar, settings: Settings
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    assert (await pay(client, desk, inv["id"], "card_on_file", desk.price)).status_code == 503
    [succeeded] = sandbox.events("payment_intent.succeeded")

    await _freeze_payments(engine)
    try:
        answers = await sandbox.webhooks.redeliver(succeeded["id"], times=2)
    finally:
        await _thaw_payments(engine)
    assert answers == [200, 200]  # Stripe stops retrying; the follow-up is ours
    assert (await invoice(client, desk, inv["id"]))["payments"][0]["status"] == "pending"

    listed = await client.get("/api/v1/billing/parked-events", headers=desk.owner.headers)
    assert listed.status_code == 200, listed.text
    [parked] = listed.json()["items"]
    assert (parked["event_id"], parked["type"], parked["resolved_at"]) == (
        succeeded["id"],
        "payment_intent.succeeded",
        None,
    )
    assert "payments are frozen" in parked["reason"]
    assert parked["attempts"] == 2
    desk_view = await client.get("/api/v1/billing/parked-events", headers=desk.headers)
    assert desk_view.status_code == 403
    await sign_in(client, desk.owner.user.email)
    page = await client.get("/staff/billing/parked-events", headers=HTML)
    assert page.status_code == 200
    assert f'data-event-id="{succeeded["id"]}" data-resolved="no"' in page.text
    assert "payments are frozen" in page.text

    config = build_alchemy_config(settings, pooled=False)
    try:
        first = await reconcile(config, app.state.payment_gateway)
        again = await reconcile(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert (first["resolved"], first["still_parked"]) == (1, 0)
    assert (again["resolved"], again["still_parked"]) == (0, 0)
    settled = await invoice(client, desk, inv["id"])
    assert (settled["status"], settled["payments"][0]["status"]) == ("paid", "succeeded")
    [(resolved_at,)] = await _rows(engine, ParkedWebhookEvent.resolved_at)
    assert resolved_at is not None
    page = await client.get("/staff/billing/parked-events", headers=HTML)
    assert f'data-event-id="{succeeded["id"]}" data-resolved="yes"' in page.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Refund))).scalar_one() == 0


async def test_money_for_a_payment_not_on_record_is_parked_for_the_owner_not_dropped(
    client: Client, factory: Factory, sandbox: StripeSandbox, app: Litestar
) -> None:
    desk = await desk_with_client(client, factory)
    gateway: StripeGateway = app.state.payment_gateway
    customer = await gateway.ensure_customer("customer:stray", email="stray@example.test", name="Stray")
    await gateway.charge_saved_card(
        "charge:stray",
        customer=customer,
        payment_method="pm_card_visa",
        amount=4500,
        currency="usd",
        metadata={"practice_id": str(desk.staff.practice.id), "payment_id": str(uuid.uuid4())},
    )
    [succeeded] = sandbox.events("payment_intent.succeeded")

    assert await sandbox.webhooks.redeliver(succeeded["id"]) == [200]

    [parked] = (await client.get("/api/v1/billing/parked-events", headers=desk.owner.headers)).json()["items"]
    assert (parked["event_id"], parked["object_id"]) == (succeeded["id"], succeeded["data"]["object"]["id"])
    assert "not on record" in parked["reason"]

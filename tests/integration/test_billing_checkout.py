"""The desk checks a visit out: lines, split tender, saved card, declines, pay links, refunds, fees."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import Payment
from scheduler.mail.models import OutboxMessage
from tests.integration.billing_helpers import (
    assert_totals_match,
    checkout,
    desk_with_client,
    fake,
    invoice,
    pay,
    save_card,
    visit,
)
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.fake_gateway import FakeGateway

__all__ = ["fake"]


async def _count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_checkout_opens_the_visit_invoice_with_its_service_line(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    assert inv["status"] == "open"
    assert inv["currency"] == "USD"
    assert [(line["kind"], line["amount"], line["fsa_eligible"]) for line in inv["lines"]] == [
        ("service", desk.price, True)
    ]
    assert (inv["total"], inv["paid"], inv["balance"]) == (desk.price, 0, desk.price)
    again = await checkout(client, desk, appointment)
    assert again["id"] == inv["id"]
    assert len(again["lines"]) == 1


async def test_lines_default_their_fsa_flag_from_their_kind_and_totals_are_the_sum_of_lines(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/lines"
    for line in (
        {"kind": "addon", "description": "Hot stones", "amount": 1500},
        {"kind": "retail", "description": "Arnica gel", "amount": 1299, "quantity": 2},
        {"kind": "tip", "description": "Tip", "amount": 2000},
        {"kind": "discount", "description": "First visit", "amount": -1000},
        {"kind": "retail", "description": "Foam roller", "amount": 3000, "fsa_eligible": True},
    ):
        response = await client.post(url, json=line, headers=desk.headers)
        assert response.status_code == 201, response.text
    inv = await invoice(client, desk, inv["id"])
    assert [(line["kind"], line["fsa_eligible"]) for line in inv["lines"]] == [
        ("service", True),
        ("addon", True),
        ("retail", False),
        ("tip", False),
        ("discount", False),
        ("retail", True),
    ]
    assert inv["total"] == desk.price + 1500 + 2598 + 2000 - 1000 + 3000
    assert_totals_match(inv)


async def test_bad_lines_are_refused_naming_the_field(client: Client, factory: Factory, fake: FakeGateway) -> None:
    desk = await desk_with_client(client, factory)
    inv = await checkout(client, desk, await visit(client, desk))
    url = f"/api/v1/invoices/{inv['id']}/lines"
    for body, field in (
        ({"kind": "gift", "description": "x", "amount": 100}, "kind"),
        ({"kind": "retail", "description": " ", "amount": 100}, "description"),
        ({"kind": "retail", "description": "Gel", "amount": 0}, "amount"),
        ({"kind": "discount", "description": "Off", "amount": 500}, "amount"),
        ({"kind": "retail", "description": "Gel", "amount": 100, "quantity": 0}, "quantity"),
        ({"kind": "retail", "description": "Gel", "amount": 1.5}, "amount"),
    ):
        response = await client.post(url, json=body, headers=desk.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field
    assert (await invoice(client, desk, inv["id"]))["lines"] == inv["lines"]


async def test_split_tender_cash_then_saved_card_pays_the_invoice(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    cash = await pay(client, desk, inv["id"], "cash", 5000)
    assert cash.status_code == 201, cash.text
    assert cash.json()["status"] == "succeeded"
    too_much = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "exceeds_balance"
    card = await pay(client, desk, inv["id"], "card_on_file", desk.price - 5000)
    assert card.status_code == 201, card.text
    assert (card.json()["status"], card.json()["card_brand"], card.json()["card_last4"]) == (
        "succeeded",
        "visa",
        "4242",
    )
    inv = await invoice(client, desk, inv["id"])
    assert (inv["status"], inv["paid"], inv["balance"]) == ("paid", desk.price, 0)
    assert_totals_match(inv)
    assert len(fake.charges) == 1


async def test_a_declined_card_answers_402_with_the_reason_and_changes_no_balance(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_chargeDeclinedInsufficientFunds")
    inv = await checkout(client, desk, await visit(client, desk))
    declined = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert declined.status_code == 402
    assert declined.headers["content-type"].startswith("application/problem+json")
    assert declined.json()["code"] == "card_declined"
    assert declined.json()["decline_code"] == "insufficient_funds"
    after = await invoice(client, desk, inv["id"])
    assert (after["paid"], after["balance"]) == (0, desk.price)
    assert [(p["status"], p["failure_code"]) for p in after["payments"]] == [("failed", "insufficient_funds")]
    # a new card, a new attempt: not a replay of the decline
    await save_card(client, desk, "pm_card_visa")
    assert (await pay(client, desk, inv["id"], "card_on_file", desk.price)).status_code == 201


async def test_authentication_required_sends_the_client_a_pay_link(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_authenticationRequired")
    inv = await checkout(client, desk, await visit(client, desk))
    response = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert response.status_code == 402
    problem = response.json()
    assert problem["code"] == "authentication_required"
    assert problem["pay_url"].startswith("https://checkout.fake/")
    after = await invoice(client, desk, inv["id"])
    assert [(p["method"], p["status"]) for p in after["payments"]] == [
        ("card_on_file", "failed"),
        ("pay_link", "pending"),
    ]
    async with engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.kind, OutboxMessage.body_text))).all()
    assert [kind for kind, _ in mails] == ["pay_link"]
    assert problem["pay_url"] in mails[0][1]


async def test_gateway_timeout_after_the_charge_is_retried_with_the_same_key_and_recorded_once(
    client: Client, factory: Factory, fake: FakeGateway, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    fake.timeout_after_charge = 1
    lost = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert lost.status_code == 503
    assert lost.json()["code"] == "gateway_unavailable"
    pending = await invoice(client, desk, inv["id"])
    assert [(p["status"], p["amount"]) for p in pending["payments"]] == [("pending", desk.price)]
    assert pending["balance"] == desk.price
    retry = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == pending["payments"][0]["id"]
    assert retry.json()["status"] == "succeeded"
    assert len(fake.charges) == 1
    assert await _count(engine, Payment) == 1
    assert (await invoice(client, desk, inv["id"]))["status"] == "paid"


async def test_refunding_a_retail_line_keeps_the_balance_and_credits_the_line(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    added = await client.post(
        f"/api/v1/invoices/{inv['id']}/lines",
        json={"kind": "retail", "description": "Arnica gel", "amount": 1800},
        headers=desk.headers,
    )
    retail = added.json()["lines"][-1]
    charged = (await pay(client, desk, inv["id"], "card_on_file", desk.price + 1800)).json()
    over = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds", json={"amount": desk.price + 1801}, headers=desk.headers
    )
    assert over.status_code == 422
    assert over.json()["code"] == "exceeds_refundable"
    refund = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds",
        json={"amount": 1800, "reason": "returned unopened", "line_id": retail["id"]},
        headers=desk.headers,
    )
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["status"] == "succeeded"
    after = body["invoice"]
    assert (after["total"], after["paid"], after["balance"], after["status"]) == (desk.price, desk.price, 0, "paid")
    credit = after["lines"][-1]
    assert (credit["kind"], credit["amount"], credit["credits_line_id"]) == ("retail", -1800, retail["id"])
    assert after["payments"][0]["refunded"] == 1800
    assert_totals_match(after)
    assert len(fake.refunds) == 1


async def test_no_show_charges_the_policy_fee_to_the_saved_card_once(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    policy = await client.put("/api/v1/billing/policy", json={"no_show_fee": 4000}, headers=desk.owner.headers)
    assert policy.status_code == 200, policy.text
    appointment = await visit(client, desk)
    first = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert first.status_code == 200, first.text
    again = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert again.status_code == 200
    inv = await checkout(client, desk, appointment)
    fees = [line for line in inv["lines"] if line["kind"] == "fee"]
    assert [(f["description"], f["amount"]) for f in fees] == [("No-show fee", 4000)]
    assert [(p["purpose"], p["status"], p["amount"]) for p in inv["payments"]] == [("no_show_fee", "succeeded", 4000)]
    assert len(fake.charges) == 1
    assert_totals_match(inv)


async def test_a_declined_no_show_fee_still_marks_the_no_show(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_chargeCustomerFail")
    await client.put("/api/v1/billing/policy", json={"no_show_fee": 4000}, headers=desk.owner.headers)
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200
    assert marked.json()["status"] == "no_show"
    inv = await checkout(client, desk, appointment)
    assert [(p["status"], p["failure_code"]) for p in inv["payments"]] == [("failed", "generic_decline")]
    # Only the fee is owed: the massage that did not happen is never billed.
    assert [line["kind"] for line in inv["lines"]] == ["fee"]
    assert inv["balance"] == 4000


async def test_a_late_cancel_by_the_desk_charges_the_late_cancel_fee(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    await client.put("/api/v1/billing/policy", json={"late_cancel_fee": 2500}, headers=desk.owner.headers)
    appointment = await visit(client, desk, past=True)
    cancelled = await client.post(
        f"/api/v1/appointments/{appointment}/cancel", json={"reason": "called in sick"}, headers=desk.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_late"] is True
    assert len(fake.charges) == 1

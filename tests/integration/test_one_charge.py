"""One way to charge a saved card: a no-show fee or a series visit's charge is sent only once the visit's status
change has committed, a charge whose answer was lost is settled once by the sweep, and a refused series charge
leaves the visit's invoice open for the desk. Through the real Stripe SDK and the offline sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import card_charges
from billing.models import Payment
from billing.reconcile import reconcile
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.booking.models import Appointment
from scheduler.db import build_alchemy_config
from scheduler.settings import Settings
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, pay, save_card, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.test_billing_plans import plan_for, plan_visit


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    return gateway.sandbox


def _watch_charges(
    app: Litestar, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str | None, str | None]]:
    """What another connection reads at the moment each saved-card charge goes to Stripe: the charge's key, its
    payment row's status and its visit's status — committed data only, so a call made inside the status
    change's transaction would see neither the row nor the new status."""
    gateway: StripeGateway = app.state.payment_gateway
    charge = gateway.charge_saved_card
    seen: list[tuple[str, str | None, str | None]] = []

    async def looking(key: str, **params: Any) -> Any:
        async with engine.connect() as conn:
            payment = (
                await conn.execute(select(Payment.status, Payment.invoice_id).where(Payment.idempotency_key == key))
            ).first()
            visit_status = None
            if ":" in key and not key.startswith("charge:"):
                visit_status = await conn.scalar(
                    select(Appointment.status).where(Appointment.id == key.split(":", 1)[1])
                )
        seen.append((key, payment.status.value if payment else None, visit_status.value if visit_status else None))
        return await charge(key, **params)

    monkeypatch.setattr(gateway, "charge_saved_card", looking)
    return seen


async def _no_show(client: Client, desk: Desk, fee: int = 4000) -> str:
    policy = await client.put("/api/v1/billing/policy", json={"no_show_fee": fee}, headers=desk.owner.headers)
    assert policy.status_code == 200, policy.text
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "no_show"
    return appointment


async def test_a_no_show_fee_is_charged_after_the_no_show_committed_and_the_desk_sees_it_paid(
    client: Client,
    app: Litestar,
    factory: Factory,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    seen = _watch_charges(app, engine, monkeypatch)
    appointment = await _no_show(client, desk)
    assert seen == [(f"no_show_fee:{appointment}", "pending", "no_show")]
    inv = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"], p["amount"]) for p in inv["payments"]] == [("no_show_fee", "succeeded", 4000)]
    assert len(sandbox.objects("payment_intent")) == 1


async def test_a_series_charge_is_sent_after_the_completion_committed(
    client: Client,
    app: Litestar,
    factory: Factory,
    sandbox: StripeSandbox,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    await save_card(client, desk)
    mode = await client.put(
        "/api/v1/billing/plans", json={"plan_id": plan, "mode": "auto_charge"}, headers=desk.headers
    )
    assert mode.status_code == 200, mode.text
    appointment = await plan_visit(client, factory, desk, plan, hour=9)
    seen = _watch_charges(app, engine, monkeypatch)
    done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert done.status_code == 200, done.text
    assert seen == [(f"visit:{appointment}", "pending", "completed")]
    inv = await checkout(client, desk, appointment)
    assert (inv["status"], inv["balance"]) == ("paid", 0)
    assert [(p["purpose"], p["status"]) for p in inv["payments"]] == [("plan_visit", "succeeded")]


async def test_a_fee_whose_answer_was_lost_stays_pending_and_the_sweep_settles_it_once(
    client: Client, app: Litestar, factory: Factory, sandbox: StripeSandbox, settings: Settings
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    sandbox.webhooks.mode = "off"  # no event reaches us: only the sweep can find out
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    appointment = await _no_show(client, desk)  # Stripe charged; the answer never came back

    lost = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"]) for p in lost["payments"]] == [("no_show_fee", "pending")]
    assert lost["balance"] == 4000  # the fee only: the massage that did not happen is never billed
    assert len(sandbox.objects("payment_intent")) == 1

    config = build_alchemy_config(settings, pooled=False)
    try:
        swept = await card_charges.send_held_charges(config)
        again = await card_charges.send_held_charges(config)
        counts = await reconcile(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert (swept, again, counts["card_charges"], counts["parked"]) == (1, 0, 0, 0)
    after = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"], p["amount"]) for p in after["payments"]] == [("no_show_fee", "succeeded", 4000)]
    assert (after["balance"], after["status"]) == (0, "paid")
    listed = await client.get(f"/api/v1/invoices/{after['id']}/documents", headers=desk.headers)
    assert [d["kind"] for d in listed.json()["items"]] == ["fee_notice"], "the sweep's settlement issued it, once"
    intents = sandbox.objects("payment_intent")
    assert [(i["amount"], i["status"]) for i in intents] == [(4000, "succeeded")]


async def test_reconcile_sends_a_fee_stripe_never_saw(
    client: Client, app: Litestar, factory: Factory, sandbox: StripeSandbox, settings: Settings
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    sandbox.faults.inject("timeout_before", times=3, method="POST", path="/v1/payment_intents")
    appointment = await _no_show(client, desk)
    assert sandbox.objects("payment_intent") == []
    assert [p["status"] for p in (await checkout(client, desk, appointment))["payments"]] == ["pending"]

    config = build_alchemy_config(settings, pooled=False)
    try:
        first = await reconcile(config, app.state.payment_gateway)
        second = await reconcile(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert (first["card_charges"], second["card_charges"]) == (1, 0)
    await sandbox.webhooks.drain()
    after = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"]) for p in after["payments"]] == [("no_show_fee", "succeeded")]
    assert len(sandbox.objects("payment_intent")) == 1


async def test_a_declined_series_charge_leaves_the_visit_open_for_the_desk(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    await save_card(client, desk, "pm_card_chargeCustomerFail")
    await client.put("/api/v1/billing/plans", json={"plan_id": plan, "mode": "auto_charge"}, headers=desk.headers)
    appointment = await plan_visit(client, factory, desk, plan, hour=9)
    done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"

    inv = await checkout(client, desk, appointment)
    assert (inv["status"], inv["balance"]) == ("open", desk.price)
    assert [(p["purpose"], p["status"], p["failure_code"]) for p in inv["payments"]] == [
        ("plan_visit", "failed", "generic_decline")
    ]
    # Completing it again sends nothing more; the desk takes the payment instead.
    again = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert again.status_code == 200
    cash = await pay(client, desk, inv["id"], "cash", desk.price)
    assert cash.status_code == 201, cash.text
    paid = await checkout(client, desk, appointment)
    assert (paid["status"], paid["balance"]) == ("paid", 0)
    assert [i["status"] for i in sandbox.objects("payment_intent")] == ["requires_payment_method"]


async def test_a_resend_stripe_refuses_as_a_key_conflict_stays_pending_and_the_charge_is_recorded_once(
    client: Client, app: Litestar, factory: Factory, sandbox: StripeSandbox, settings: Settings
) -> None:
    """The fee's first send charged but its answer was lost; the client's card was replaced before the sweep, so
    the resend under the same key carries other parameters and Stripe refuses it (`idempotency_error`). That is
    not a refusal of the charge: the fee stays pending (never "not charged, due at your next visit"), and the
    charge Stripe made is recorded once its event arrives."""
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    sandbox.webhooks.mode = "off"
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/payment_intents")
    appointment = await _no_show(client, desk)
    await save_card(client, desk, "pm_card_mastercard")

    config = build_alchemy_config(settings, pooled=False)
    try:
        assert await card_charges.send_held_charges(config) == 0
        pending = await checkout(client, desk, appointment)
        assert [(p["purpose"], p["status"]) for p in pending["payments"]] == [("no_show_fee", "pending")]
        listed = await client.get(f"/api/v1/invoices/{pending['id']}/documents", headers=desk.headers)
        assert listed.json()["items"] == [], "no fee notice saying the fee was not charged"
        counts = await reconcile(config, app.state.payment_gateway)
    finally:
        await config.get_engine().dispose()
    assert counts["applied"] >= 1
    after = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"], p["amount"]) for p in after["payments"]] == [("no_show_fee", "succeeded", 4000)]
    assert (after["balance"], after["status"]) == (0, "paid")
    assert [(i["amount"], i["status"]) for i in sandbox.objects("payment_intent")] == [(4000, "succeeded")]

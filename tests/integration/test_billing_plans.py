"""Paying for a treatment plan's series: the saved card charged once per completed occurrence, or a session
drawn from the package bought for the plan.

The visits are the plan's own (`Appointment.plan_id`, as a committed series writes it)."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from scheduler.booking.models import Appointment
from scheduler.db import session_scope, unscoped
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, fake, pay, save_card
from tests.integration.billing_helpers import visit as plain_visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.fake_gateway import FakeGateway
from tests.integration.plan_helpers import make_plan

__all__ = ["fake"]


async def plan_for(factory: Factory, desk: Desk) -> str:
    return await make_plan(
        factory,
        desk.staff.practice,
        client_id=desk.client_id,
        therapist_id=desk.therapist_id,
        service_id=desk.service_id,
    )


async def plan_visit(client: Client, factory: Factory, desk: Desk, plan_id: str, *, hour: int) -> str:
    """A visit of the plan: booked at the desk, then linked to the plan as a series occurrence is."""
    appointment = await plain_visit(client, desk, hour=hour)
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            await session.execute(
                update(Appointment).where(Appointment.id == uuid.UUID(appointment)).values(plan_id=uuid.UUID(plan_id))
            )
    return appointment


async def test_auto_charge_plan_charges_each_completed_occurrence_once(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    await save_card(client, desk)
    policy = await client.put(
        "/api/v1/billing/plans", json={"plan_id": plan, "mode": "auto_charge"}, headers=desk.headers
    )
    assert policy.status_code == 200, policy.text
    first = await plan_visit(client, factory, desk, plan, hour=9)
    second = await plan_visit(client, factory, desk, plan, hour=11)
    for appointment in (first, second, first):
        done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
        assert done.status_code == 200, done.text
    assert len(fake.charges) == 2
    for appointment in (first, second):
        inv = await checkout(client, desk, appointment)
        assert (inv["status"], inv["balance"]) == ("paid", 0)
        assert [(p["purpose"], p["status"]) for p in inv["payments"]] == [("plan_visit", "succeeded")]
    assert {key.split(":")[0] for key in fake.charges} == {"visit"}


async def test_a_series_charge_on_a_card_stripe_forgot_leaves_the_visit_for_the_desk_and_clears_the_card(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    await save_card(client, desk)
    await client.put("/api/v1/billing/plans", json={"plan_id": plan, "mode": "auto_charge"}, headers=desk.headers)
    appointment = await plan_visit(client, factory, desk, plan, hour=9)
    [customer] = fake.cards
    fake.forget_customer(customer)
    done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert done.status_code == 200, done.text
    inv = await checkout(client, desk, appointment)
    assert inv["balance"] == desk.price
    assert [(p["status"], p["failure_code"]) for p in inv["payments"]] == [("failed", "card_not_on_file")]
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    assert (billing["has_saved_card"], billing["card_last4"]) == (False, None)
    assert fake.charges == []


async def test_package_plan_draws_one_session_per_completed_occurrence(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    package = (
        await client.post(
            "/api/v1/billing/packages",
            json={"name": "Plan pack", "sessions": 2, "price": 20000},
            headers=desk.owner.headers,
        )
    ).json()
    sale = await checkout(client, desk, await plain_visit(client, desk, hour=9))
    await client.post(
        f"/api/v1/invoices/{sale['id']}/packages", json={"package_id": package["id"]}, headers=desk.headers
    )
    assert (await pay(client, desk, sale["id"], "cash", desk.price + 20000)).status_code == 201
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    purchase = billing["packages"][0]["id"]
    chosen = await client.put(
        "/api/v1/billing/plans",
        json={"plan_id": plan, "mode": "package", "package_purchase_id": purchase},
        headers=desk.headers,
    )
    assert chosen.status_code == 200, chosen.text
    visits = [await plan_visit(client, factory, desk, plan, hour=h) for h in (11, 13, 15)]
    for appointment in [*visits, visits[0]]:
        assert (
            await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
        ).status_code == 200
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    assert billing["sessions_remaining"] == 0
    paid = [await checkout(client, desk, a) for a in visits]
    assert [inv["status"] for inv in paid] == ["paid", "paid", "open"]  # the third is left for the desk
    assert fake.charges == []


async def test_plan_billing_refuses_bad_input(client: Client, factory: Factory, fake: FakeGateway) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    for body, field, status in (
        ({"plan_id": "nope", "mode": "auto_charge"}, "plan_id", 400),
        ({"plan_id": str(uuid.uuid4()), "mode": "auto_charge"}, "plan_id", 404),
        ({"plan_id": plan, "mode": "sometimes"}, "mode", 400),
        ({"plan_id": plan, "mode": "package"}, "package_purchase_id", 400),
    ):
        response = await client.put("/api/v1/billing/plans", json=body, headers=desk.headers)
        assert response.status_code == status, response.text
        assert response.json()["field"] == field

"""Paying for a treatment plan's series: the saved card charged once per completed occurrence, or a session
drawn from the package bought for the plan.

Until the series branch gives `Appointment` its `plan_id`, the tests say which plan a visit belongs to by
replacing `billing.plans.plan_of` (the one place billing asks)."""

from __future__ import annotations

import uuid

import pytest

from billing import plans
from tests.integration.billing_helpers import checkout, desk_with_client, fake, pay, save_card, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.fake_gateway import FakeGateway

__all__ = ["fake"]
PLAN = uuid.uuid4()


@pytest.fixture
def in_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "plan_of", lambda _appointment: PLAN)


async def test_auto_charge_plan_charges_each_completed_occurrence_once(
    client: Client, factory: Factory, fake: FakeGateway, in_plan: None
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    policy = await client.put(
        "/api/v1/billing/plans", json={"plan_id": str(PLAN), "mode": "auto_charge"}, headers=desk.headers
    )
    assert policy.status_code == 200, policy.text
    first, second = await visit(client, desk, hour=9), await visit(client, desk, hour=11)
    for appointment in (first, second, first):
        done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
        assert done.status_code == 200, done.text
    assert len(fake.charges) == 2
    for appointment in (first, second):
        inv = await checkout(client, desk, appointment)
        assert (inv["status"], inv["balance"]) == ("paid", 0)
        assert [(p["purpose"], p["status"]) for p in inv["payments"]] == [("plan_visit", "succeeded")]
    assert {key.split(":")[0] for key in fake.charges} == {"visit"}


async def test_package_plan_draws_one_session_per_completed_occurrence(
    client: Client, factory: Factory, fake: FakeGateway, in_plan: None
) -> None:
    desk = await desk_with_client(client, factory)
    package = (
        await client.post(
            "/api/v1/billing/packages",
            json={"name": "Plan pack", "sessions": 2, "price": 20000},
            headers=desk.owner.headers,
        )
    ).json()
    sale = await checkout(client, desk, await visit(client, desk, hour=9))
    await client.post(
        f"/api/v1/invoices/{sale['id']}/packages", json={"package_id": package["id"]}, headers=desk.headers
    )
    assert (await pay(client, desk, sale["id"], "cash", desk.price + 20000)).status_code == 201
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    purchase = billing["packages"][0]["id"]
    chosen = await client.put(
        "/api/v1/billing/plans",
        json={"plan_id": str(PLAN), "mode": "package", "package_purchase_id": purchase},
        headers=desk.headers,
    )
    assert chosen.status_code == 200, chosen.text
    visits = [await visit(client, desk, hour=h) for h in (11, 13, 15)]
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
    for body, field in (
        ({"plan_id": "nope", "mode": "auto_charge"}, "plan_id"),
        ({"plan_id": str(PLAN), "mode": "sometimes"}, "mode"),
        ({"plan_id": str(PLAN), "mode": "package"}, "package_purchase_id"),
    ):
        response = await client.put("/api/v1/billing/plans", json=body, headers=desk.headers)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field

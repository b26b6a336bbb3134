"""Packages: sold at the desk, usable once paid, redeemed one session per visit, never below zero."""

from __future__ import annotations

import asyncio

from tests.integration.billing_helpers import checkout, desk_with_client, fake, pay, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory
from tests.integration.fake_gateway import FakeGateway

__all__ = ["fake"]


async def _balance(client: Client, headers: dict[str, str], client_id: str) -> int:
    billing = await client.get(f"/api/v1/clients/{client_id}/billing", headers=headers)
    assert billing.status_code == 200, billing.text
    return int(billing.json()["sessions_remaining"])


async def test_a_package_sold_at_the_desk_is_redeemed_per_visit_and_never_goes_negative(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    created = await client.post(
        "/api/v1/billing/packages",
        json={"name": "Two massages", "sessions": 2, "price": 20000, "service_id": desk.service_id},
        headers=desk.owner.headers,
    )
    assert created.status_code == 201, created.text
    package = created.json()
    first = await checkout(client, desk, await visit(client, desk, hour=9))
    sold = await client.post(
        f"/api/v1/invoices/{first['id']}/packages", json={"package_id": package["id"]}, headers=desk.headers
    )
    assert sold.status_code == 201, sold.text
    assert sold.json()["total"] == desk.price + 20000
    assert await _balance(client, desk.headers, desk.client_id) == 0  # not paid yet
    assert (await pay(client, desk, first["id"], "cash", 20000)).status_code == 201
    redeem = await pay(client, desk, first["id"], "package", desk.price)
    assert redeem.status_code == 422  # the package is not usable until its invoice is paid
    assert redeem.json()["code"] == "no_package_sessions"
    assert (await pay(client, desk, first["id"], "cash", desk.price)).status_code == 201
    assert await _balance(client, desk.headers, desk.client_id) == 2

    second = await checkout(client, desk, await visit(client, desk, hour=11))
    third = await checkout(client, desk, await visit(client, desk, hour=13))
    fourth = await checkout(client, desk, await visit(client, desk, hour=15))
    answers = await asyncio.gather(
        *(pay(client, desk, inv["id"], "package", desk.price) for inv in (second, third, fourth))
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 422]
    assert await _balance(client, desk.headers, desk.client_id) == 0
    paid = [a.json() for a in answers if a.status_code == 201]
    assert all(p["method"] == "package" and p["status"] == "succeeded" for p in paid)
    refund = await client.post(f"/api/v1/payments/{paid[0]['id']}/refunds", json={"amount": 100}, headers=desk.headers)
    assert refund.status_code == 422


async def test_package_catalogue_refuses_bad_input(client: Client, factory: Factory, fake: FakeGateway) -> None:
    desk = await desk_with_client(client, factory)
    for body, field in (
        ({"name": "", "sessions": 2, "price": 100}, "name"),
        ({"name": "Ten", "sessions": 0, "price": 100}, "sessions"),
        ({"name": "Ten", "sessions": 10, "price": -1}, "price"),
        ({"name": "Ten", "sessions": 10, "price": 100, "service_id": "nope"}, "service_id"),
    ):
        response = await client.post("/api/v1/billing/packages", json=body, headers=desk.owner.headers)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field
    desk_try = await client.post(
        "/api/v1/billing/packages", json={"name": "Ten", "sessions": 10, "price": 100}, headers=desk.headers
    )
    assert desk_try.status_code == 403

"""Helpers for billing tests: a fake gateway installed on the app, a visit to check out, webhooks to post."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar

from billing.runtime import set_gateway
from scheduler.practice.models import Role
from tests.integration.booking_helpers import NEW_YORK, Client, at, load_demo, weekday_ahead
from tests.integration.conftest import Factory, Staff
from tests.integration.fake_gateway import FakeGateway, event_body, sign


@pytest.fixture
def fake(app: Litestar) -> FakeGateway:
    gateway = FakeGateway()
    set_gateway(gateway)
    return gateway


DEPOSIT_LINK_RE = re.compile(r"^http://testserver\.local/p/demo/deposit/[\w.-]+$")


async def open_deposit_link(client: Client, checkout_url: str) -> str:
    """Open the booking's deposit link as the client's browser does: a 303 to the hosted checkout page, whose
    Stripe Checkout Session id this returns."""
    assert DEPOSIT_LINK_RE.match(checkout_url), checkout_url
    opened = await client.get(checkout_url.removeprefix("http://testserver.local"), follow_redirects=False)
    assert opened.status_code == 303, opened.text
    location = opened.headers["location"]
    assert "/checkout/cs_" in location, location
    return location.rsplit("/", 1)[-1]


@dataclass
class Desk:
    staff: Staff
    owner: Staff
    client_id: str
    service_id: str
    therapist_id: str
    price: int

    @property
    def headers(self) -> dict[str, str]:
        return self.staff.headers


async def desk_with_client(client: Client, factory: Factory, email: str = "kim@example.test") -> Desk:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": "Kim", "last_name": "Park", "email": email, "phone": "212-555-0199"},
        headers=desk.headers,
    )
    assert created.status_code == 201, created.text
    return Desk(
        staff=desk,
        owner=owner,
        client_id=str(created.json()["id"]),
        service_id=demo.massage,
        therapist_id=demo.therapist,
        price=int(demo.services["60"]["price"]),
    )


def past_weekday(days: int = 7) -> dt.date:
    day = dt.datetime.now(NEW_YORK).date() - dt.timedelta(days=days)
    while day.weekday() > 4:
        day -= dt.timedelta(days=1)
    return day


async def visit(client: Client, desk: Desk, *, past: bool = True, hour: int = 10) -> str:
    day = past_weekday() if past else weekday_ahead()
    created = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": desk.client_id,
            "service_id": desk.service_id,
            "therapist_id": desk.therapist_id,
            "start": at(day, hour),
        },
        headers=desk.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def checkout(client: Client, desk: Desk, appointment_id: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/appointments/{appointment_id}/checkout", headers=desk.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def save_card(client: Client, desk: Desk, card: str = "pm_card_visa") -> None:
    saved = await client.post(
        f"/api/v1/clients/{desk.client_id}/card", json={"payment_method": card}, headers=desk.headers
    )
    assert saved.status_code == 201, saved.text


async def invoice(client: Client, desk: Desk, invoice_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/invoices/{invoice_id}", headers=desk.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def pay(client: Client, desk: Desk, invoice_id: str, method: str, amount: int) -> Any:
    return await client.post(
        f"/api/v1/invoices/{invoice_id}/payments", json={"method": method, "amount": amount}, headers=desk.headers
    )


async def post_event(client: Client, event_id: str, event_type: str, obj: dict[str, Any]) -> Any:
    body = event_body(event_id, event_type, obj)
    return await client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"}
    )


def assert_totals_match(inv: dict[str, Any]) -> None:
    """Acceptance 5: the total is the sum of the lines; the balance is total less paid."""
    assert inv["total"] == sum(line["amount"] * line["quantity"] for line in inv["lines"])
    assert inv["balance"] == inv["total"] - inv["paid"]

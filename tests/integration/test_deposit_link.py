"""The deposit link an online booking hands out: booking calls no payment processor (it runs under the
practice's calendar lock); following the link opens the Stripe Checkout Session, once however often and
however many tabs open it; after payment it leads to the confirmation, after the hold is gone to a page
saying the time was not kept, and a forged, foreign or expired link opens nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.documents.links import DEPOSIT_CHECKOUT, PURPOSE, make_token, read_token
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.booking.models import Appointment
from scheduler.settings import Settings
from tests.integration.billing_helpers import Desk, desk_with_client, open_deposit_link
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory

BASE = "http://testserver.local"
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # nothing is delivered behind the test's back
    return gateway.sandbox


async def _ask_deposits(client: Client, factory: Factory) -> Desk:
    desk = await desk_with_client(client, factory)
    policy = await client.put(
        "/api/v1/billing/policy",
        json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 20},
        headers=desk.owner.headers,
    )
    assert policy.status_code == 200, policy.text
    return desk


async def _book(client: Client, hour: int = 11, email: str = "ann@example.test") -> dict[str, Any]:
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings",
        json=booking(demo.massage, demo.therapist, at(weekday_ahead(), hour), email=email),
    )
    assert booked.status_code == 201, booked.text
    body: dict[str, Any] = booked.json()
    assert body["appointment"]["status"] == "pending_payment"
    return body


def _path(link: str) -> str:
    assert link.startswith(f"{BASE}/p/demo/deposit/"), link
    return link.removeprefix(BASE)


def _checkout_sessions(sandbox: StripeSandbox) -> list[dict[str, Any]]:
    return sandbox.objects("checkout.session")


async def _hold_runs_out(engine: AsyncEngine, appointment_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(appointment_id))
            .values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )


async def test_booking_with_a_deposit_calls_no_payment_processor_and_the_link_opens_once_it_is_back(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    await _ask_deposits(client, factory)
    before = len(sandbox.requests)
    sandbox.faults.inject("timeout_before", times=1000)  # Stripe is unreachable while the client books
    body = await _book(client)
    assert len(sandbox.requests) == before  # not even tried: nothing went over the network
    assert _checkout_sessions(sandbox) == []

    down = await client.get(_path(body["checkout_url"]), headers=HTML, follow_redirects=False)
    assert down.status_code == 503
    assert "try again in a minute" in down.text
    assert "still held" in down.text
    assert down.headers["cache-control"] == "no-store"
    assert down.headers["referrer-policy"] == "no-referrer"

    sandbox.faults.clear()
    session_id = await open_deposit_link(client, body["checkout_url"])
    [opened] = _checkout_sessions(sandbox)
    assert opened["id"] == session_id
    assert opened["amount_total"] == 3000  # 25 % of the $120.00 massage
    assert opened["metadata"]["appointment_id"] == body["appointment"]["id"]
    # The hold is still the one the booking made.
    held = await client.get(f"/api/v1/practices/demo/manage/{body['manage_url'].rsplit('/', 1)[-1]}")
    assert held.json()["appointment"]["status"] == "pending_payment"


async def test_opening_the_link_twice_and_at_once_opens_one_checkout_session(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    await _ask_deposits(client, factory)
    body = await _book(client)
    path = _path(body["checkout_url"])
    answers = await asyncio.gather(*(client.get(path, follow_redirects=False) for _ in range(4)))
    assert [a.status_code for a in answers] == [303] * 4
    locations = {a.headers["location"] for a in answers}
    assert len(locations) == 1
    [location] = locations
    assert location.startswith(f"{BASE}/sandbox/checkout/cs_")
    assert all(a.headers["cache-control"] == "no-store" for a in answers)
    assert all(a.headers["referrer-policy"] == "no-referrer" for a in answers)

    creates = [r for r in sandbox.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]
    again = await client.get(path, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == location
    # The later opening found the session on the payment and asked Stripe nothing.
    assert [r for r in sandbox.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"] == creates
    assert [s["id"] for s in _checkout_sessions(sandbox)] == [location.rsplit("/", 1)[-1]]


async def test_a_forged_or_foreign_link_is_not_found_and_an_expired_one_is_gone(
    client: Client, factory: Factory, sandbox: StripeSandbox, settings: Settings
) -> None:
    await _ask_deposits(client, factory)
    ann = await _book(client, hour=11)
    bea = await _book(client, hour=14, email="bea@example.test")
    ann_token = _path(ann["checkout_url"]).rsplit("/", 1)[-1]
    bea_token = _path(bea["checkout_url"]).rsplit("/", 1)[-1]
    ann_payment = read_token(settings.secret_key, DEPOSIT_CHECKOUT, ann_token, dt.datetime.now(dt.UTC))
    ann_id, ann_expiry, ann_mac = ann_token.split(".")
    _, _, bea_mac = bea_token.split(".")
    in_a_day = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    forged = {
        "tampered": f"{ann_id}.{ann_expiry}.{ann_mac[:-2]}{'AA' if ann_mac[-2:] != 'AA' else 'BB'}",
        "longer life": f"{ann_id}.{int(ann_expiry) + 3600}.{ann_mac}",
        "another booking's signature": f"{ann_id}.{ann_expiry}.{bea_mac}",
        "a download link's signature": make_token(settings.secret_key, PURPOSE, ann_payment, in_a_day),
        "another key": make_token("not-the-secret-key-0123456789", DEPOSIT_CHECKOUT, ann_payment, in_a_day),
        "junk": "not-a-token",
        "no payment": make_token(settings.secret_key, DEPOSIT_CHECKOUT, uuid.uuid4(), in_a_day),
    }
    for name, token in forged.items():
        answer = await client.get(f"/p/demo/deposit/{token}", headers=HTML, follow_redirects=False)
        assert answer.status_code == 404, name
        assert answer.headers["cache-control"] == "no-store", name
    # A genuine link under another practice's address finds nothing: each practice sees only its own payments.
    await factory.practice(slug="other-place")
    elsewhere = await client.get(f"/p/other-place/deposit/{ann_token}", headers=HTML, follow_redirects=False)
    assert elsewhere.status_code == 404
    assert _checkout_sessions(sandbox) == []

    expired = make_token(settings.secret_key, DEPOSIT_CHECKOUT, ann_payment, dt.datetime.now(dt.UTC))
    gone = await client.get(f"/p/demo/deposit/{expired}", headers=HTML, follow_redirects=False)
    assert gone.status_code == 410
    assert "not kept" in gone.text
    assert _checkout_sessions(sandbox) == []

    # Each genuine link opens its own booking's checkout, never the other's.
    ann_session = await open_deposit_link(client, ann["checkout_url"])
    bea_session = await open_deposit_link(client, bea["checkout_url"])
    assert ann_session != bea_session
    assert sandbox.checkout_session(ann_session)["metadata"]["appointment_id"] == ann["appointment"]["id"]  # type: ignore[index]
    assert sandbox.checkout_session(bea_session)["metadata"]["appointment_id"] == bea["appointment"]["id"]  # type: ignore[index]


async def test_the_link_after_payment_leads_to_the_confirmation(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    await _ask_deposits(client, factory)
    body = await _book(client)
    session_id = await open_deposit_link(client, body["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")
    returned = await client.get(f"/p/demo/checkout/return?session_id={session_id}")  # Stripe's success redirect
    assert returned.status_code == 200

    again = await client.get(_path(body["checkout_url"]), follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == f"{BASE}/p/demo/checkout/return?session_id={session_id}"
    page = await client.get(again.headers["location"].removeprefix(BASE))
    assert page.status_code == 200
    assert 'data-testid="visit-confirmed"' in page.text
    assert len(_checkout_sessions(sandbox)) == 1


async def test_the_link_after_the_hold_ran_out_says_the_time_was_not_kept(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _ask_deposits(client, factory)
    body = await _book(client)
    path = _path(body["checkout_url"])
    await _hold_runs_out(engine, body["appointment"]["id"])
    ran_out = await client.get(path, headers=HTML, follow_redirects=False)
    assert ran_out.status_code == 410  # past its time, even before anything released it

    # The desk's next booking releases the hold; the link still opens nothing.
    answer = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": desk.client_id,
            "service_id": desk.service_id,
            "therapist_id": desk.therapist_id,
            "start": at(weekday_ahead(), 15),
        },
        headers=desk.headers,
    )
    assert answer.status_code == 201, answer.text
    released = await client.get(path, headers=HTML, follow_redirects=False)
    assert released.status_code == 410
    assert "not kept" in released.text
    assert 'href="/p/demo/book"' in released.text
    assert released.headers["cache-control"] == "no-store"
    assert released.headers["referrer-policy"] == "no-referrer"
    assert _checkout_sessions(sandbox) == []


async def test_the_booking_pages_send_the_client_through_the_deposit_link_to_the_checkout(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    await _ask_deposits(client, factory)
    demo = await load_demo(client)
    start = at(weekday_ahead(), 11)
    choice = {"service_id": demo.massage, "therapist_id": demo.therapist, "start": start}
    form_page = await client.get(f"/p/demo/book/details?{urlencode(choice)}", headers=HTML)
    assert form_page.status_code == 200, form_page.text
    csrf = CSRF_RE.search(form_page.text)
    assert csrf
    form = choice | {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.test",
        "phone": "+1 212 555 0100",
        "_csrf_token": csrf.group(1),
    }
    before = len(sandbox.requests)
    booked = await client.post("/p/demo/book/details", data=form, headers=HTML, follow_redirects=False)
    assert booked.status_code == 303, booked.text
    assert booked.headers["location"].startswith(f"{BASE}/p/demo/deposit/")
    assert len(sandbox.requests) == before
    session_id = await open_deposit_link(client, booked.headers["location"])
    page = await client.get(f"/sandbox/checkout/{session_id}", headers=HTML)
    assert page.status_code == 200
    assert "$30.00" in page.text

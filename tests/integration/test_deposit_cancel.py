"""What happens to a deposit when its visit does not happen — cancelled by the desk or the client, its hold
released, paid after the cancellation, missed — and that no such visit keeps an open invoice with a balance.

The practice asks a $30 deposit; Ann books online and pays it through the sandbox's hosted checkout (which
saves her Visa ending 4242). Everything is driven over HTTP; Stripe's side is read from the sandbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import Invoice, InvoiceStatus, Refund
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from billing.visits import send_held_refunds
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Practice
from tests.integration.billing_helpers import Desk, desk_with_client, open_deposit_link
from tests.integration.booking_helpers import Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import Factory
from tests.integration.test_schedule_page import DEMO_DESK, HTML, _post_form, _sign_in

DEPOSIT = 3000
REFUND_SENTENCE = "Your $30.00 deposit will be refunded to your card ending 4242 within 5–10 business days."  # noqa: RUF001


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    gateway.sandbox.webhooks.hold()  # the checkout return page confirms the deposit; events are not needed
    return gateway.sandbox


async def _practice_asks_a_deposit(client: Client, factory: Factory, **policy: Any) -> Desk:
    desk = await desk_with_client(client, factory)
    answer = await client.put(
        "/api/v1/billing/policy",
        json={"deposit_kind": "fixed", "deposit_fixed": DEPOSIT, "hold_minutes": 20, **policy},
        headers=desk.owner.headers,
    )
    assert answer.status_code == 200, answer.text
    return desk


async def _ann_books(client: Client, hour: int = 11, days: int = 7) -> tuple[dict[str, Any], str]:
    """Ann books online; the visit is held for its deposit. Returns the booking and the checkout session id."""
    demo = await load_demo(client)
    booked = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(days), hour))
    )
    assert booked.status_code == 201, booked.text
    body = dict(booked.json())
    assert body["appointment"]["status"] == "pending_payment"
    return body, await open_deposit_link(client, body["checkout_url"])


async def _pays(client: Client, sandbox: StripeSandbox, session_id: str) -> None:
    sandbox.complete_checkout(session_id, "pm_card_visa")
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert returned.status_code == 200, returned.text


async def _booked_and_paid(client: Client, sandbox: StripeSandbox, hour: int = 11) -> dict[str, Any]:
    body, session_id = await _ann_books(client, hour)
    await _pays(client, sandbox, session_id)
    assert await _status(client, body) == "booked"
    return body


async def _status(client: Client, booked: dict[str, Any]) -> str:
    token = booked["manage_url"].rsplit("/", 1)[-1]
    answer = await client.get(f"/api/v1/practices/demo/manage/{token}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["appointment"]["status"])


async def _desk_cancels(client: Client, desk: Desk, booked: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(
        f"/api/v1/appointments/{booked['appointment']['id']}/cancel",
        json={"reason": "client called"},
        headers=desk.headers,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _invoice_of(client: Client, desk: Desk, appointment_id: str) -> dict[str, Any]:
    """The visit's invoice as the desk opens it: checkout shows a cancelled visit's invoice as it stands."""
    opened = await client.post(f"/api/v1/appointments/{appointment_id}/checkout", headers=desk.headers)
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


async def _mail(engine: AsyncEngine, kind: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(OutboxMessage.body_text).where(OutboxMessage.kind == kind))).scalars())


def _refunds(sandbox: StripeSandbox) -> list[int]:
    return [int(r["amount"]) for r in sandbox.objects("refund")]


async def assert_no_visit_that_did_not_happen_owes_a_balance(engine: AsyncEngine) -> None:
    """Acceptance 5, over the whole database: no cancelled or released visit has an open invoice with a
    balance, and every such invoice's total is what its lines say."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Invoice.status, Invoice.total, Invoice.paid)
                .join(Appointment, Appointment.id == Invoice.appointment_id)
                .where(Appointment.status.in_([AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW]))
            )
        ).all()
    assert rows, "the test made at least one visit that did not happen"
    for status, total, paid in rows:
        assert not (status == InvoiceStatus.OPEN and total != paid), rows
        assert total >= 0, rows
        if status == InvoiceStatus.VOID:
            assert (total, paid) == (0, 0), rows


async def test_a_desk_cancellation_days_ahead_refunds_the_deposit_voids_the_invoice_and_says_so(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, late_cancel_fee=2500)
    booked = await _booked_and_paid(client, sandbox)
    cancelled = await _desk_cancels(client, desk, booked)
    assert cancelled["cancelled_late"] is False
    assert _refunds(sandbox) == [DEPOSIT], "refunded in full, once, at Stripe"
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("void", 0, 0, 0)
    [deposit] = invoice["payments"]
    assert (deposit["purpose"], deposit["refunded"], deposit["refundable"]) == ("deposit", DEPOSIT, 0)
    assert [line["description"] for line in invoice["lines"]][-1].startswith("Cancelled: ")
    [body] = await _mail(engine, "visit_cancelled")
    assert REFUND_SENTENCE in body
    assert await _mail(engine, "fee_notice") == []
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_refund_stripe_cannot_take_stays_pending_and_the_cancellation_still_succeeds(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked = await _booked_and_paid(client, sandbox)
    # Stripe makes the refund but every answer is lost on the way back (the SDK retries twice).
    sandbox.faults.inject("timeout_after", times=3, method="POST", path="/v1/refunds")
    await _desk_cancels(client, desk, booked)
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["balance"]) == ("void", 0)
    async with engine.connect() as conn:
        refund_status = (await conn.execute(select(Refund.status))).scalar_one()
    assert refund_status == "pending", "left for the next sweep, not failed and not lost"
    # The next sweep (as after any later response) sends it with the same key: one refund at Stripe.
    await send_held_refunds(factory.alchemy)
    assert _refunds(sandbox) == [DEPOSIT]
    await send_held_refunds(factory.alchemy)
    assert _refunds(sandbox) == [DEPOSIT]


async def _window_covers_the_visit(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24 * 60))


async def test_a_late_cancellation_keeps_the_deposit_as_the_fee_refunds_the_rest_and_the_invoice_is_paid(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, late_cancel_fee=2500)
    booked = await _booked_and_paid(client, sandbox)
    await _window_covers_the_visit(engine)
    # Inside the window the client's link refuses and says whom to call (the practice's rule)...
    token = booked["manage_url"].rsplit("/", 1)[-1]
    refused = await client.post(f"/api/v1/practices/demo/manage/{token}/cancel", json={"reason": "sick"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "inside_cancellation_window"
    assert _refunds(sandbox) == []
    # ...and the desk records the client's late cancellation on the phone.
    cancelled = await _desk_cancels(client, desk, booked)
    assert cancelled["cancelled_late"] is True
    assert _refunds(sandbox) == [500], "only what the fee does not use goes back"
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("paid", 2500, 2500, 0)
    assert [p["purpose"] for p in invoice["payments"]] == ["deposit"], "the card is not charged again"
    assert sum(line["total"] for line in invoice["lines"] if line["kind"] == "fee") == 2500
    [body] = await _mail(engine, "visit_cancelled")
    assert "$25.00 of your $30.00 deposit was kept as the late-cancellation fee" in body
    assert "the other $5.00 will be refunded to your card ending 4242" in body
    [notice] = await _mail(engine, "fee_notice")
    assert "late-cancellation fee of $25.00" in notice
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_late_cancellation_fee_as_large_as_the_deposit_keeps_it_whole(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, late_cancel_fee=DEPOSIT)
    booked = await _booked_and_paid(client, sandbox)
    await _window_covers_the_visit(engine)
    await _desk_cancels(client, desk, booked)
    assert _refunds(sandbox) == []
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["balance"]) == ("paid", 0)
    [body] = await _mail(engine, "visit_cancelled")
    assert "Your $30.00 deposit was kept as the late-cancellation fee." in body
    assert len(await _mail(engine, "fee_notice")) == 1


async def test_the_client_cancelling_through_the_link_in_time_gets_the_deposit_back(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, late_cancel_fee=2500)
    booked = await _booked_and_paid(client, sandbox)
    token = booked["manage_url"].rsplit("/", 1)[-1]
    answer = await client.post(f"/api/v1/practices/demo/manage/{token}/cancel", json={"reason": ""})
    assert answer.status_code == 200, answer.text
    assert _refunds(sandbox) == [DEPOSIT]
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["balance"]) == ("void", 0)
    [body] = await _mail(engine, "visit_cancelled")
    assert REFUND_SENTENCE in body
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_an_expired_hold_has_its_invoice_voided(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked, _ = await _ann_books(client)
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(booked["appointment"]["id"]))
            .values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    # The next booking releases every hold whose time ran out.
    demo = await load_demo(client)
    other = await client.post(
        "/api/v1/practices/demo/bookings",
        json=booking(demo.massage, demo.therapist, at(weekday_ahead(), 14), email="bo@example.test"),
    )
    assert other.status_code == 201, other.text
    assert await _status(client, booked) == "cancelled"
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("void", 0, 0, 0)
    assert _refunds(sandbox) == []
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_late_deposit_for_a_taken_time_is_refunded_and_leaves_no_open_balance(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked, session_id = await _ann_books(client)
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(booked["appointment"]["id"]))
            .values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    taken = await client.post(
        "/api/v1/appointments",
        json={
            "client_id": desk.client_id,
            "service_id": desk.service_id,
            "therapist_id": desk.therapist_id,
            "start": booked["appointment"]["start"],
        },
        headers=desk.headers,
    )
    assert taken.status_code == 201, taken.text
    await _pays(client, sandbox, session_id)
    assert await _status(client, booked) == "cancelled"
    assert _refunds(sandbox) == [DEPOSIT]
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("void", 0, 0, 0)
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_late_deposit_for_a_free_time_books_the_visit_with_its_service_owed_again(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked, session_id = await _ann_books(client)
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(booked["appointment"]["id"]))
            .values(hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    await _pays(client, sandbox, session_id)
    assert await _status(client, booked) == "booked"
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["paid"], invoice["balance"]) == ("open", DEPOSIT, desk.price - DEPOSIT)
    assert _refunds(sandbox) == []


async def test_a_deposit_paid_after_the_visit_was_cancelled_is_refunded_with_a_notice(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked, session_id = await _ann_books(client)
    token = booked["manage_url"].rsplit("/", 1)[-1]
    cancelled = await client.post(f"/api/v1/practices/demo/manage/{token}/cancel", json={"reason": ""})
    assert cancelled.status_code == 200, cancelled.text
    # The checkout was still open in another tab: she pays it anyway.
    await _pays(client, sandbox, session_id)
    assert await _status(client, booked) == "cancelled"
    assert _refunds(sandbox) == [DEPOSIT]
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("void", 0, 0, 0)
    [notice] = await _mail(engine, "deposit_refunded")
    assert "after your visit had been cancelled" in notice
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_the_desk_can_refund_a_deposit_kept_on_a_cancelled_visit(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, late_cancel_fee=DEPOSIT)
    booked = await _booked_and_paid(client, sandbox)
    await _window_covers_the_visit(engine)
    await _desk_cancels(client, desk, booked)
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    [deposit] = invoice["payments"]
    # The practice waives the fee: the desk refunds the deposit from the cancelled visit's invoice.
    refunded = await client.post(
        f"/api/v1/payments/{deposit['id']}/refunds", json={"amount": DEPOSIT, "reason": "waived"}, headers=desk.headers
    )
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["status"] == "succeeded"
    assert _refunds(sandbox) == [DEPOSIT]
    after = refunded.json()["invoice"]
    assert (after["status"], after["paid"], after["balance"]) == ("void", 0, 0)
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_no_show_counts_the_deposit_toward_the_no_show_fee(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory, no_show_fee=5000)
    booked = await _booked_and_paid(client, sandbox)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    async with engine.begin() as conn:
        await conn.execute(
            update(Appointment)
            .where(Appointment.id == uuid.UUID(booked["appointment"]["id"]))
            .values(
                start_at=start,
                end_at=start + dt.timedelta(hours=1),
                block_start=start,
                block_end=start + dt.timedelta(hours=1),
            )
        )
    missed = await client.post(f"/api/v1/appointments/{booked['appointment']['id']}/no-show", headers=desk.headers)
    assert missed.status_code == 200, missed.text
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("paid", 5000, 5000, 0)
    assert sorted((p["purpose"], p["amount"]) for p in invoice["payments"]) == [
        ("deposit", DEPOSIT),
        ("no_show_fee", 2000),
    ], "the saved card pays only what the deposit does not"
    assert _refunds(sandbox) == []
    [notice] = await _mail(engine, "fee_notice")
    assert "$20.00 was charged to your Visa ending 4242." in notice
    assert "$30.00 was kept from your deposit." in notice
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_the_desk_cancelling_from_the_staff_page_refunds_the_deposit_and_opens_the_void_invoice(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    await _practice_asks_a_deposit(client, factory)
    booked = await _booked_and_paid(client, sandbox)
    await _sign_in(client, DEMO_DESK)
    path = f"/staff/appointments/{booked['appointment']['id']}"
    cancelled = await _post_form(client, f"{path}/cancel", {"reason": "Client has the flu"}, csrf_from=path)
    assert cancelled.status_code == 303, cancelled.text
    assert _refunds(sandbox) == [DEPOSIT]
    [body] = await _mail(engine, "visit_cancelled")
    assert REFUND_SENTENCE in body
    # The cancelled visit's page leads to its invoice, void, with the refund on the deposit.
    opened = await _post_form(client, f"{path}/checkout", csrf_from=path)
    assert opened.status_code == 303, opened.text
    page = await client.get(opened.headers["location"], headers=HTML)
    assert page.status_code == 200, page.text
    assert "void" in page.text.lower()
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)


async def test_a_deposit_the_desk_refunded_before_cancelling_is_not_credited_twice(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await _practice_asks_a_deposit(client, factory)
    booked = await _booked_and_paid(client, sandbox)
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    [deposit] = invoice["payments"]
    refunded = await client.post(
        f"/api/v1/payments/{deposit['id']}/refunds", json={"amount": DEPOSIT, "reason": ""}, headers=desk.headers
    )
    assert refunded.status_code == 201, refunded.text
    await _desk_cancels(client, desk, booked)
    assert _refunds(sandbox) == [DEPOSIT], "nothing more is refunded"
    invoice = await _invoice_of(client, desk, booked["appointment"]["id"])
    assert (invoice["status"], invoice["total"], invoice["paid"], invoice["balance"]) == ("void", 0, 0, 0)
    [body] = await _mail(engine, "visit_cancelled")
    assert "deposit" not in body, "no deposit was left to tell about"
    await assert_no_visit_that_did_not_happen_owes_a_balance(engine)

"""A saved card is trusted only while Stripe still has it (issue 14), over HTTP through the real Stripe SDK and the
offline sandbox, whose account can lose a customer (deleted in the dashboard) or everything (a fresh account, or
the key switched from test to live).

- the desk's charge of a forgotten card answers 409 `card_not_on_file` with our sentence, never Stripe's;
- the card is cleared from the client and the desk's invoice page;
- the next card save makes a fresh customer under a fresh key, and that card charges;
- a no-show fee on a forgotten card stays on the invoice, and the no-show is marked (no 5xx);
- a pay link naming a forgotten customer answers the same 409, and the next one works.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import StripeCustomer
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, pay, save_card, visit
from tests.integration.booking_helpers import Client
from tests.integration.clinical_helpers import sign_in
from tests.integration.conftest import Factory

NOT_ON_FILE = "The saved card is no longer on file — ask the client for a new one."
HTML = {"Accept": "text/html"}


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    return gateway.sandbox


async def _link(engine: AsyncEngine, desk: Desk) -> Any:
    """The client's customer link as stored: `customer_id`, `generation`, `card_last4`."""
    async with engine.connect() as conn:
        stmt = select(StripeCustomer.customer_id, StripeCustomer.generation, StripeCustomer.card_last4).where(
            StripeCustomer.client_id == uuid.UUID(desk.client_id)
        )
        return (await conn.execute(stmt)).one()


async def _billing(client: Client, desk: Desk) -> dict[str, object]:
    answer = await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _assert_not_on_file(answer: object) -> None:
    status = getattr(answer, "status_code", None)
    body = answer.json()  # type: ignore[attr-defined]
    assert status == 409, body
    assert body["code"] == "card_not_on_file"
    assert body["detail"] == NOT_ON_FILE
    assert "No such" not in answer.text  # type: ignore[attr-defined]


async def test_charging_a_card_stripe_forgot_answers_409_clears_it_and_a_new_card_charges(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    first_customer = (await _link(engine, desk)).customer_id
    assert first_customer is not None
    inv = await checkout(client, desk, await visit(client, desk))
    # The customer was deleted at Stripe; the key that created it still replays it there.
    sandbox.store.forget(first_customer)

    _assert_not_on_file(await pay(client, desk, inv["id"], "card_on_file", desk.price))

    billing = await _billing(client, desk)
    assert (billing["has_saved_card"], billing["card_brand"], billing["card_last4"]) == (False, None, None)
    await sign_in(client, desk.staff.user.email)
    page = await client.get(f"/staff/invoices/{inv['id']}", headers=HTML)
    assert page.status_code == 200, page.text
    assert "No saved card." in page.text
    assert "4242" not in page.text
    assert NOT_ON_FILE in page.text  # the failed attempt says why
    again = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert (again.status_code, again.json()["code"]) == (422, "no_saved_card"), again.text

    await save_card(client, desk, "pm_card_mastercard")
    link = await _link(engine, desk)
    assert link.customer_id not in (None, first_customer)
    assert (link.generation, link.card_last4) == (1, "4444")
    paid = await pay(client, desk, inv["id"], "card_on_file", desk.price)
    assert paid.status_code == 201, paid.text
    assert (paid.json()["status"], paid.json()["card_last4"]) == ("succeeded", "4444")
    [intent] = [pi for pi in sandbox.objects("payment_intent") if pi["status"] == "succeeded"]
    assert intent["customer"] == link.customer_id


async def test_the_desk_page_says_the_card_is_gone_instead_of_stripes_error(
    client: Client, factory: Factory, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    sandbox.store.clear()  # a fresh sandbox account: every customer and card is gone
    await sign_in(client, desk.staff.user.email)
    page = await client.get(f"/staff/invoices/{inv['id']}", headers=HTML)
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = await client.post(
        f"/staff/invoices/{inv['id']}/payments",
        data={"method": "card_on_file", "amount": f"{desk.price / 100:.2f}", "_csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 409, answer.text
    assert NOT_ON_FILE in answer.text
    assert "No such" not in answer.text
    assert 'id="saved-card"' not in answer.text


async def test_a_no_show_fee_on_a_card_stripe_forgot_stays_on_the_invoice(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    policy = await client.put("/api/v1/billing/policy", json={"no_show_fee": 4000}, headers=desk.owner.headers)
    assert policy.status_code == 200, policy.text
    appointment = await visit(client, desk)
    sandbox.store.clear()

    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "no_show"

    inv = await checkout(client, desk, appointment)
    assert [(line["description"], line["amount"]) for line in inv["lines"] if line["kind"] == "fee"] == [
        ("No-show fee", 4000)
    ]
    assert [(p["purpose"], p["status"], p["failure_code"], p["failure_message"]) for p in inv["payments"]] == [
        ("no_show_fee", "failed", "card_not_on_file", NOT_ON_FILE)
    ]
    assert inv["balance"] == 4000, "only the fee is owed, never the massage that did not happen"
    billing = await _billing(client, desk)
    assert billing["has_saved_card"] is False
    link = await _link(engine, desk)
    assert (link.customer_id, link.generation) == (None, 1)

    await save_card(client, desk)
    paid = await pay(client, desk, inv["id"], "card_on_file", inv["balance"])
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"


async def test_a_pay_link_naming_a_customer_stripe_forgot_answers_409_and_the_next_link_works(
    client: Client, factory: Factory, sandbox: StripeSandbox, engine: AsyncEngine
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    inv = await checkout(client, desk, await visit(client, desk))
    customer = (await _link(engine, desk)).customer_id
    assert customer is not None
    sandbox.store.forget(customer)

    _assert_not_on_file(await pay(client, desk, inv["id"], "pay_link", desk.price))
    link = await pay(client, desk, inv["id"], "pay_link", desk.price)
    assert link.status_code == 201, link.text
    assert link.json()["checkout_url"]
    fresh = (await _link(engine, desk)).customer_id
    assert fresh not in (None, customer)
    [session] = [s for s in sandbox.objects("checkout.session") if s["customer"] == fresh]
    assert session["url"] == link.json()["checkout_url"]

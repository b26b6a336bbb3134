"""FSA/HSA money on issued documents: the eligible amount is money paid for eligible care. Discounts are on
the lines they reduce, a package visit is receipted at the session's share, a correction says so, and every
tender carries its date. Each document is read back from its PDF, through the desk's own API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.integration.billing_helpers import (
    Desk,
    checkout,
    desk_with_client,
    fake,
    invoice,
    pay,
    save_card,
    visit,
)
from tests.integration.booking_helpers import NEW_YORK, Client
from tests.integration.clinical_helpers import post_form, sign_in
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import pdf_text as pdf_lines
from tests.integration.fake_gateway import FakeGateway
from tests.integration.test_billing_plans import plan_for, plan_visit
from tests.integration.test_mail_and_portal import HTML

__all__ = ["fake"]

MONEY = r"(-?)\$([\d,]+\.\d\d)"


def pdf_text(pdf: bytes) -> str:
    """The PDF's text on one line: a narrow table cell wraps where the words do not."""
    return " ".join(pdf_lines(pdf).split())


def amount_after(text: str, label: str) -> int:
    """The first amount printed after `label` on the PDF's text, in cents (a leading '-' kept)."""
    found = re.search(re.escape(label) + r"\s*" + MONEY, text)
    assert found is not None, f"{label!r} not in:\n{text}"
    cents = int(found.group(2).replace(",", "").replace(".", ""))
    return -cents if found.group(1) else cents


def today_text() -> str:
    day = dt.datetime.now(NEW_YORK).date()
    return f"{day:%b} {day.day}, {day.year}"


async def add_line(client: Client, desk: Desk, invoice_id: str, **line: Any) -> dict[str, Any]:
    added = await client.post(f"/api/v1/invoices/{invoice_id}/lines", json=line, headers=desk.headers)
    assert added.status_code == 201, added.text
    return dict(added.json())


def service_line(inv: dict[str, Any]) -> dict[str, Any]:
    return next(line for line in inv["lines"] if line["kind"] == "service")


async def complete(client: Client, desk: Desk, appointment: str) -> None:
    done = await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    assert done.status_code == 200, done.text


async def receipt_text(client: Client, desk: Desk, invoice_id: str) -> str:
    receipt = await client.get(f"/api/v1/invoices/{invoice_id}/receipt.pdf", headers=desk.headers)
    assert receipt.status_code == 200, receipt.text
    return pdf_text(receipt.content)


def assert_eligible_is_paid_money(text: str) -> None:
    eligible = amount_after(text, "Eligible subtotal")
    assert eligible <= amount_after(text, "Amount paid")
    assert eligible <= amount_after(text, "Total charged")


async def test_a_visit_discount_is_off_the_eligible_amount_so_a_120_visit_paid_100_claims_100(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    await add_line(
        client,
        desk,
        inv["id"],
        kind="discount",
        description="Loyalty discount",
        amount=-2000,
        applies_to_line_id=service_line(inv)["id"],
    )
    assert (await pay(client, desk, inv["id"], "cash", desk.price - 2000)).status_code == 201
    await complete(client, desk, appointment)

    text = await receipt_text(client, desk, inv["id"])
    assert amount_after(text, "Eligible subtotal") == desk.price - 2000
    assert amount_after(text, "Amount paid") == desk.price - 2000
    assert "less $20.00 loyalty discount" in text
    assert "Not eligible" not in text  # the discount is no line of its own
    assert_eligible_is_paid_money(text)


async def test_an_invoice_wide_discount_is_spread_pro_rata_over_service_retail_and_tip(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    assert desk.price == 12000
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    await add_line(client, desk, inv["id"], kind="retail", description="Arnica gel", amount=5000)
    await add_line(client, desk, inv["id"], kind="tip", description="Gratuity", amount=2000)
    after = await add_line(client, desk, inv["id"], kind="discount", description="Spring offer", amount=-1900)
    assert after["total"] == 17100
    assert (await pay(client, desk, inv["id"], "cash", 17100)).status_code == 201
    await complete(client, desk, appointment)

    text = await receipt_text(client, desk, inv["id"])
    # $19 over $120 + $50 + $20 is $12, $5 and $2: each line after its share
    assert amount_after(text, "Eligible subtotal") == 10800
    assert amount_after(text, "Not eligible subtotal") == 4500 + 1800
    assert amount_after(text, "Total charged") == 17100
    assert "list $120.00, less $12.00 discount" in text
    assert "list $50.00, less $5.00 discount" in text
    assert_eligible_is_paid_money(text)
    listed = await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)
    receipt = next(d for d in listed.json()["items"] if d["kind"] == "receipt")
    assert receipt["eligible_subtotal"] == 10800 <= receipt["paid"]


async def test_a_refund_before_and_after_the_receipt_keeps_eligible_within_paid_and_the_credit_note_is_dated(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    await add_line(client, desk, inv["id"], kind="discount", description="First visit", amount=-2000)
    charged = (await pay(client, desk, inv["id"], "card_on_file", desk.price - 2000)).json()
    before = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds", json={"amount": 1000, "reason": "Ran late"}, headers=desk.headers
    )
    assert before.status_code == 201, before.text
    await complete(client, desk, appointment)

    text = await receipt_text(client, desk, inv["id"])
    assert amount_after(text, "Eligible subtotal") == desk.price - 2000 - 1000
    assert amount_after(text, "Amount paid") == desk.price - 2000 - 1000
    assert f"Paid {today_text()} · Visa ending 4242" in text
    assert_eligible_is_paid_money(text)

    after = await client.post(
        f"/api/v1/payments/{charged['id']}/refunds",
        json={"amount": 2500, "reason": "Session cut short"},
        headers=desk.headers,
    )
    assert after.status_code == 201, after.text
    listed = (await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)).json()["items"]
    note = next(d for d in listed if d["kind"] == "credit_note")
    note_text = pdf_text((await client.get(note["pdf_url"], headers=desk.headers)).content)
    assert "Refund against receipt R-000001" in note_text
    assert f"Refunded to Visa ending 4242 on {today_text()}" in note_text
    assert amount_after(note_text, "Eligible amount credited") == -2500
    assert "Correction" not in note_text  # money moved: this is a refund


async def test_a_correction_with_no_money_moved_reads_correction_not_refund(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    assert (await pay(client, desk, inv["id"], "cash", desk.price)).status_code == 201
    await complete(client, desk, appointment)
    listed = (await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)).json()["items"]
    receipt = next(d for d in listed if d["kind"] == "receipt")

    made = await client.post(
        f"/api/v1/documents/{receipt['id']}/credit-notes",
        json={"amount": 500, "reason": "price typed wrong"},
        headers=desk.headers,
    )
    assert made.status_code == 201, made.text
    text = pdf_text((await client.get(made.json()["pdf_url"], headers=desk.headers)).content)
    assert "Correction to receipt R-000001: price typed wrong" in text
    assert "No money was refunded" in text
    assert "Refund against receipt" not in text
    assert "Refunded to" not in text


async def _package(
    client: Client, desk: Desk, *, sessions: int, price: int, service_id: str | None, name: str = "Three massages"
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/billing/packages",
        json={"name": name, "sessions": sessions, "price": price, "service_id": service_id},
        headers=desk.owner.headers,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _buy(client: Client, desk: Desk, package: dict[str, Any], hour: int) -> None:
    """The package sold on a visit's invoice that is paid before the visit: acknowledged as PA-000001."""
    first = await checkout(client, desk, await visit(client, desk, hour=hour))
    sold = await client.post(
        f"/api/v1/invoices/{first['id']}/packages", json={"package_id": package["id"]}, headers=desk.headers
    )
    assert sold.status_code == 201, sold.text
    assert (await pay(client, desk, first["id"], "cash", sold.json()["total"])).status_code == 201


async def test_a_package_visit_is_receipted_at_the_sessions_share_with_the_package_named_and_sessions_left(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    package = await _package(client, desk, sessions=3, price=25000, service_id=desk.service_id)
    await _buy(client, desk, package, hour=9)
    shares = []
    for hour in (11, 13, 15):
        appointment = await visit(client, desk, hour=hour)
        inv = await checkout(client, desk, appointment)
        redeemed = await pay(client, desk, inv["id"], "package", desk.price)
        assert redeemed.status_code == 201, redeemed.text
        shares.append(redeemed.json()["amount"])  # the desk's tender records the share, not the list price
        assert (await invoice(client, desk, inv["id"]))["balance"] == 0
        await complete(client, desk, appointment)
        text = await receipt_text(client, desk, inv["id"])
        assert amount_after(text, "Eligible subtotal") == shares[-1]
        assert_eligible_is_paid_money(text)
        assert f"Package Three massages, bought {today_text()}, PA-000001" in text
        assert f"Sessions remaining: {3 - len(shares)}" in text
        billing = await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)
        assert billing.json()["sessions_remaining"] == 3 - len(shares)  # repricing the visit sold no package
    assert shares == [8333, 8333, 8334]  # $250 / 3, the cent left over on the last session


async def test_the_desk_skips_a_package_for_another_service_and_uses_one_that_covers_the_visit_at_its_share(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    services = (await client.get("/api/v1/practices/demo/services")).json()["items"]
    other = next(s for s in services if s["id"] != desk.service_id)
    wrong = await _package(client, desk, sessions=2, price=16000, service_id=other["id"], name="Two chair massages")
    await _buy(client, desk, wrong, hour=9)
    inv = await checkout(client, desk, await visit(client, desk, hour=11))
    refused = await pay(client, desk, inv["id"], "package", desk.price)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "no_package_sessions"
    assert (await invoice(client, desk, inv["id"]))["total"] == desk.price  # nothing repriced

    anything = await _package(client, desk, sessions=2, price=19000, service_id=None, name="Any two")
    await _buy(client, desk, anything, hour=13)
    redeemed = await pay(client, desk, inv["id"], "package", desk.price)
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["amount"] == 9500  # the newer package, for any service, at its share
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    assert billing["sessions_remaining"] == 2 + 1  # the chair massages are untouched


async def test_a_payment_acknowledgement_dates_its_tender(client: Client, factory: Factory, fake: FakeGateway) -> None:
    desk = await desk_with_client(client, factory)
    inv = await checkout(client, desk, await visit(client, desk))
    assert (await pay(client, desk, inv["id"], "cash", desk.price)).status_code == 201
    listed = (await client.get(f"/api/v1/invoices/{inv['id']}/documents", headers=desk.headers)).json()["items"]
    ack = next(d for d in listed if d["kind"] == "payment_ack")
    text = pdf_text((await client.get(ack["pdf_url"], headers=desk.headers)).content)
    assert f"Paid {today_text()} · Cash" in text


async def test_the_desks_line_form_has_an_fsa_switch_defaulting_to_the_kind_and_a_discount_target(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    inv = await checkout(client, desk, appointment)
    page_path = f"/staff/invoices/{inv['id']}"
    await sign_in(client, desk.staff.user.email)
    page = await client.get(page_path, headers=HTML)
    assert 'name="fsa_eligible"' in page.text
    assert "As the kind says (add-on yes; retail, tip, discount, fee no)" in page.text

    for form in (
        {"kind": "addon", "description": "Aromatherapy", "amount": "10", "fsa_eligible": "no"},  # comfort, not care
        {"kind": "addon", "description": "Hot stones", "amount": "15", "fsa_eligible": ""},  # the kind's default
        {"kind": "tip", "description": "Gratuity", "amount": "10", "fsa_eligible": ""},
        {
            "kind": "discount",
            "description": "Visit discount",
            "amount": "20",
            "applies_to_line_id": service_line(inv)["id"],
        },
    ):
        posted = await post_form(client, f"{page_path}/lines", form, csrf_from=page_path)
        assert posted.status_code == 303, posted.text
    refused = await post_form(
        client,
        f"{page_path}/lines",
        {"kind": "tip", "description": "x", "amount": "1", "fsa_eligible": "maybe"},
        csrf_from=page_path,
    )
    assert refused.status_code == 400
    assert "Choose yes, no or the default for the kind." in refused.text

    lines = {line["description"]: line for line in (await invoice(client, desk, inv["id"]))["lines"]}
    assert lines["Aromatherapy"]["fsa_eligible"] is False
    assert lines["Hot stones"]["fsa_eligible"] is True
    assert lines["Gratuity"]["fsa_eligible"] is False
    assert lines["Visit discount"]["credits_line_id"] == service_line(inv)["id"]
    assert lines["Visit discount"]["amount"] == -2000

    assert (await pay(client, desk, inv["id"], "cash", desk.price + 1000 + 1500 + 1000 - 2000)).status_code == 201
    await complete(client, desk, appointment)
    text = await receipt_text(client, desk, inv["id"])
    # the visit's $20 is off the massage alone; the add-on switched off and the tip are not claimed
    assert amount_after(text, "Eligible subtotal") == desk.price - 2000 + 1500
    assert amount_after(text, "Not eligible subtotal") == 1000 + 1000
    assert_eligible_is_paid_money(text)


async def _plan_package(client: Client, factory: Factory, desk: Desk, plan: str, service_id: str) -> None:
    """A two-session $200 package for `service_id`, bought and named as the plan's way to pay."""
    package = await _package(client, desk, sessions=2, price=20000, service_id=service_id)
    await _buy(client, desk, package, hour=9)
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    chosen = await client.put(
        "/api/v1/billing/plans",
        json={"plan_id": plan, "mode": "package", "package_purchase_id": billing["packages"][0]["id"]},
        headers=desk.headers,
    )
    assert chosen.status_code == 200, chosen.text


async def test_the_plans_draw_uses_only_a_package_for_the_visits_service_and_at_its_share(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    services = (await client.get("/api/v1/practices/demo/services")).json()["items"]
    other = next(s for s in services if s["id"] != desk.service_id)
    await _plan_package(client, factory, desk, plan, other["id"])

    appointment = await plan_visit(client, factory, desk, plan, hour=11)
    await complete(client, desk, appointment)
    billing = (await client.get(f"/api/v1/clients/{desk.client_id}/billing", headers=desk.headers)).json()
    assert billing["sessions_remaining"] == 2  # a package of another service is not drawn
    left = await checkout(client, desk, appointment)
    assert (left["status"], left["balance"]) == ("open", desk.price)


async def test_the_plans_draw_pays_the_visit_at_the_sessions_share(
    client: Client, factory: Factory, fake: FakeGateway
) -> None:
    desk = await desk_with_client(client, factory)
    plan = await plan_for(factory, desk)
    await _plan_package(client, factory, desk, plan, desk.service_id)

    appointment = await plan_visit(client, factory, desk, plan, hour=11)
    await complete(client, desk, appointment)
    drawn = await checkout(client, desk, appointment)
    assert (drawn["status"], drawn["total"], drawn["paid"]) == ("paid", 10000, 10000)
    text = await receipt_text(client, desk, drawn["id"])
    assert amount_after(text, "Eligible subtotal") == 10000
    assert f"Package Three massages, bought {today_text()}, PA-000001" in text
    assert "Sessions remaining: 1" in text
    assert_eligible_is_paid_money(text)

"""A visit that did not happen bills its fee only, and the fee gets a numbered notice the client is e-mailed.

A no-show or a late cancellation is charged the practice's fee on the saved card (the offline Stripe sandbox,
through the real SDK path); the invoice then holds the fee and nothing for the massage that did not happen,
settles at the fee, and the desk is offered no payment. The client receives a fee notice FN-… (not a medical
receipt, not FSA/HSA-eligible) by a signed link in an e-mail with no health detail; there is no receipt,
superbill or statement line for the missed visit. A no-show with no fee owes nothing at all.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from litestar import Litestar

from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.mail import services as mail
from scheduler.settings import Settings
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, save_card, visit
from tests.integration.booking_helpers import Client
from tests.integration.clinical_helpers import sign_in
from tests.integration.conftest import Factory
from tests.integration.test_mail_and_portal import FakeSmtp, Received, with_smtp

HTML = {"Accept": "text/html"}
LINK_RE = re.compile(r"http://testserver\.local(/p/demo/documents/[\w.-]+)")
FEE = 5000
LATE_FEE = 2500


@pytest.fixture
def sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    return gateway.sandbox


@pytest.fixture
def smtp_server() -> Any:
    server = FakeSmtp()
    server.start()
    yield server
    server.stop()


def pdftotext(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF"), pdf[:40]
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(done.stdout.decode().split())


async def _policy(client: Client, desk: Desk, **fees: int) -> None:
    answer = await client.put("/api/v1/billing/policy", json=fees, headers=desk.owner.headers)
    assert answer.status_code == 200, answer.text


async def _mail(factory: Factory, settings: Settings, smtp: FakeSmtp) -> list[Received]:
    await mail.send_pending(factory.alchemy, with_smtp(settings, smtp.url()))
    return [r for r in smtp.received if "kim@example.test" in r.rcpt_to]


def _text(received: Received) -> str:
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def _fee_notice_pdf(client: Client, message: Received) -> str:
    """Follow the e-mail's link as the client would (no sign-in) and read the PDF back."""
    found = LINK_RE.search(_text(message))
    assert found, _text(message)
    pdf = await client.get(found.group(1))
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"].startswith("application/pdf")
    return pdftotext(pdf.content)


async def _documents(client: Client, desk: Desk, invoice_id: str) -> list[dict[str, Any]]:
    listed = await client.get(f"/api/v1/invoices/{invoice_id}/documents", headers=desk.headers)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


async def _nothing_medical_for(client: Client, desk: Desk, invoice_id: str, appointment: str, year: int) -> None:
    receipt = await client.get(f"/api/v1/invoices/{invoice_id}/receipt.pdf", headers=desk.headers)
    assert receipt.status_code == 404, receipt.text
    superbill = await client.get(f"/api/v1/appointments/{appointment}/superbill.pdf", headers=desk.headers)
    assert superbill.status_code == 404, superbill.text
    statement = await client.get(f"/api/v1/clients/{desk.client_id}/statements/{year}.pdf", headers=desk.headers)
    if statement.status_code == 200:
        text = pdftotext(statement.content)
        for never in ("No-show", "Late-cancel", "$120.00", "$50.00", "$25.00"):
            assert never not in text, (never, text)
    else:
        assert statement.status_code == 404, statement.text


async def _desk_page(client: Client, desk: Desk, invoice_id: str) -> str:
    await sign_in(client, desk.staff.user.email)
    page = await client.get(f"/staff/invoices/{invoice_id}", headers=HTML)
    assert page.status_code == 200, page.text
    return page.text


async def test_a_no_show_with_a_saved_card_bills_only_the_fee_and_sends_its_fee_notice(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    await _policy(client, desk, no_show_fee=FEE)
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    again = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert again.status_code == 200, again.text

    inv = await checkout(client, desk, appointment)  # the desk opens the visit's checkout afterwards
    assert [(line["kind"], line["description"], line["total"]) for line in inv["lines"]] == [
        ("fee", "No-show fee", FEE)
    ]
    assert (inv["status"], inv["total"], inv["paid"], inv["balance"]) == ("paid", FEE, FEE, 0)
    assert [(p["purpose"], p["status"], p["amount"]) for p in inv["payments"]] == [("no_show_fee", "succeeded", FEE)]
    [charged] = [pi for pi in sandbox.objects("payment_intent") if pi["status"] == "succeeded"]
    assert charged["amount"] == FEE

    [notice] = [d for d in await _documents(client, desk, inv["id"]) if d["kind"] == "fee_notice"]
    assert notice["number"] == "FN-000001"

    [message] = await _mail(factory, settings, smtp_server)
    body = _text(message)
    assert "no-show fee of $50.00" in body
    assert "$50.00 was charged to your Visa ending 4242." in body
    assert "FN-000001" in body
    assert "Therapeutic" not in body, "no service or health detail in the e-mail"
    assert message.message.get_content_type() == "text/plain", "the notice is linked, never attached"
    text = await _fee_notice_pdf(client, message)
    for said in (
        "FEE NOTICE",
        "FN-000001",
        "Not a medical receipt — not eligible for FSA/HSA",
        "No-show fee $50.00",
        "A visit missed without notice is charged a no-show fee of $50.00.",
        "Charged to Visa ending 4242 on",
        "Balance due $0.00",
        "Kim Park",
    ):
        assert said in text, (said, text)

    page = await _desk_page(client, desk, inv["id"])
    assert 'id="take-payment"' not in page
    assert "Take payment" not in page
    assert "Fee notice FN-000001" in page
    assert 'id="invoice-balance"><strong>$0.00' in page
    await _nothing_medical_for(client, desk, inv["id"], appointment, int(marked.json()["start"][:4]))


async def test_a_no_show_after_the_desk_opened_the_checkout_zeroes_the_massage_and_bills_the_fee(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    await _policy(client, desk, no_show_fee=FEE)
    appointment = await visit(client, desk)
    opened = await checkout(client, desk, appointment)
    assert opened["balance"] == desk.price
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    inv = await checkout(client, desk, appointment)
    care = sum(line["total"] for line in inv["lines"] if line["kind"] == "service")
    assert care == 0, "the massage's line is credited back in full"
    assert (inv["status"], inv["total"], inv["paid"], inv["balance"]) == ("paid", FEE, FEE, 0)
    [message] = await _mail(factory, settings, smtp_server)
    assert "Balance due $0.00" in await _fee_notice_pdf(client, message)
    page = await _desk_page(client, desk, inv["id"])
    assert "Take payment" not in page


async def test_a_late_cancel_bills_the_late_cancel_fee_only_with_its_fee_notice(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_mastercard")
    await _policy(client, desk, late_cancel_fee=LATE_FEE)
    appointment = await visit(client, desk)
    cancelled = await client.post(
        f"/api/v1/appointments/{appointment}/cancel", json={"reason": "called in sick"}, headers=desk.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_late"] is True
    inv = await checkout(client, desk, appointment)
    assert [(line["kind"], line["total"]) for line in inv["lines"]] == [("fee", LATE_FEE)]
    assert (inv["status"], inv["balance"]) == ("paid", 0)
    [notice] = [d for d in await _documents(client, desk, inv["id"]) if d["kind"] == "fee_notice"]
    messages = [m for m in await _mail(factory, settings, smtp_server) if "notice" in str(m.message["Subject"])]
    [message] = messages
    assert notice["number"] in _text(message)
    assert "called in sick" not in _text(message)
    text = await _fee_notice_pdf(client, message)
    for said in (
        notice["number"],
        "Not a medical receipt",
        "Late-cancel fee $25.00",
        "cancelled less than 24 hours before its start is charged a late-cancellation fee of $25.00",
        "Charged to Mastercard ending 4444",
    ):
        assert said in text, (said, text)
    page = await _desk_page(client, desk, inv["id"])
    assert "Take payment" not in page
    await _nothing_medical_for(client, desk, inv["id"], appointment, int(cancelled.json()["start"][:4]))


async def test_a_no_show_without_a_fee_owes_nothing_and_issues_nothing(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    inv = await checkout(client, desk, appointment)
    assert inv["lines"] == []
    assert (inv["status"], inv["total"], inv["balance"]) == ("void", 0, 0)
    assert await _documents(client, desk, inv["id"]) == []
    assert await _mail(factory, settings, smtp_server) == []
    assert list(sandbox.objects("payment_intent")) == []
    page = await _desk_page(client, desk, inv["id"])
    assert "Take payment" not in page
    await _nothing_medical_for(client, desk, inv["id"], appointment, int(marked.json()["start"][:4]))


async def test_a_declined_fee_is_noticed_as_due_at_the_next_visit_and_only_the_fee_is_owed(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp, sandbox: StripeSandbox
) -> None:
    desk = await desk_with_client(client, factory)
    await save_card(client, desk, "pm_card_chargeCustomerFail")
    await _policy(client, desk, no_show_fee=FEE)
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    inv = await checkout(client, desk, appointment)
    assert [line["kind"] for line in inv["lines"]] == ["fee"]
    assert (inv["status"], inv["balance"]) == ("open", FEE)
    [message] = await _mail(factory, settings, smtp_server)
    assert "$50.00 was not charged: it is due at your next visit." in _text(message)
    text = await _fee_notice_pdf(client, message)
    assert "Not charged: due at your next visit." in text
    assert "Due at your next visit $50.00" in text
    page = await _desk_page(client, desk, inv["id"])
    assert "Take payment" in page, "the fee itself can be taken at the desk"
    assert 'value="50.00"' in page

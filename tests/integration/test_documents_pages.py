"""Documents on pages: the checkout confirmation's signed link, and the front desk's client documents page."""

from __future__ import annotations

import re

from tests.integration.billing_helpers import checkout, desk_with_client, open_deposit_link, past_weekday, pay, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import PASSWORD, Factory
from tests.integration.documents_helpers import pdf_text
from tests.integration.test_billing_webhooks import _book_with_deposit, _deliver, _event, sandbox
from tests.integration.test_mail_and_portal import HTML, csrf_of

__all__ = ["sandbox"]


async def test_checkout_confirmation_links_the_deposit_acknowledgement_by_a_signed_link(
    client: Client, factory: Factory, sandbox: object
) -> None:
    booked, _ = await _book_with_deposit(client, factory)
    session_id = await open_deposit_link(client, booked["checkout_url"])
    sandbox.complete_checkout(session_id, "pm_card_visa")  # type: ignore[attr-defined]
    await _deliver(client, sandbox, _event(sandbox, "checkout.session.completed"))  # type: ignore[arg-type]
    returned = await client.get("/p/demo/checkout/return", params={"session_id": session_id})
    assert returned.status_code == 200
    link = re.search(
        r'href="http://testserver\.local(/p/demo/documents/[^"]+)">Download your Payment acknowledgement PA-000001',
        returned.text,
    )
    assert link, returned.text
    assert "PA-000001" not in link.group(1)
    pdf = await client.get(link.group(1))
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert "NOT A MEDICAL RECEIPT" in text
    assert "Visa ending 4242" in text


async def test_the_desk_opens_a_clients_receipts_and_statement_from_the_appointment_page(
    client: Client, factory: Factory
) -> None:
    desk = await desk_with_client(client, factory)
    appointment = await visit(client, desk)
    await client.post(f"/api/v1/appointments/{appointment}/complete", headers=desk.headers)
    inv = await checkout(client, desk, appointment)
    assert (await pay(client, desk, inv["id"], "cash", desk.price)).status_code == 201

    form = await client.get("/login")
    signed_in = await client.post(
        "/login",
        data={"email": desk.staff.user.email, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        headers=HTML,
    )
    assert signed_in.status_code in {200, 303}
    page = await client.get(f"/staff/appointments/{appointment}")
    assert f'href="/staff/clients/{desk.client_id}/documents"' in page.text
    documents = await client.get(f"/staff/clients/{desk.client_id}/documents")
    assert documents.status_code == 200
    assert "R-000001" in documents.text
    # Dates of service and of issue read 'Mar 2, 2027' (no zero-padded 'Mar 02').
    assert len(re.findall(r"<td>[A-Z][a-z]{2} [1-9]\d?, \d{4}</td>", documents.text)) == 2
    receipt_href = re.search(r'href="(/staff/documents/[0-9a-f-]+\.pdf)">R-000001', documents.text)
    assert receipt_href
    receipt = await client.get(receipt_href.group(1))
    assert receipt.headers["content-type"] == "application/pdf"
    assert "No. R-000001" in pdf_text(receipt.content)
    copy = await client.get(receipt_href.group(1) + "?copy=true")
    assert "COPY" in pdf_text(copy.content)
    statement = await client.get(f"/staff/clients/{desk.client_id}/statements/{past_weekday().year}.pdf")
    assert statement.status_code == 200
    assert "R-000001" in pdf_text(statement.content)
    invoice_page = await client.get(f"/staff/invoices/{inv['id']}/documents")
    assert "R-000001" in invoice_page.text
    # The checkout screen's "Receipt" link opens the receipt itself.
    link = await client.get(f"/staff/invoices/{inv['id']}/receipt", follow_redirects=False)
    assert link.status_code == 303
    assert link.headers["location"] == receipt_href.group(1)


async def test_the_receipt_link_before_completion_says_why_there_is_none(client: Client, factory: Factory) -> None:
    desk = await desk_with_client(client, factory)
    inv = await checkout(client, desk, await visit(client, desk))
    form = await client.get("/login")
    await client.post(
        "/login",
        data={"email": desk.staff.user.email, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        headers=HTML,
    )
    page = await client.get(f"/staff/invoices/{inv['id']}/receipt")
    assert page.status_code == 200
    assert "No receipt yet" in page.text

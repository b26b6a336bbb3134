"""Documents over HTTP: staff PDFs and lists, the client portal's page, signed links, tenancy."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from billing.documents import services
from billing.documents.links import make_download_token
from billing.documents.models import IssuedDocument
from scheduler.clients.models import Client
from scheduler.db import scope_session, session_scope
from scheduler.practice.models import Practice
from scheduler.settings import Settings
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import Clinic, clinic, pdf_text, sign_in_link, visit_charges
from tests.integration.portal_helpers import follow_sign_in_link

HttpClient = AsyncTestClient[Litestar]


async def _receipt(factory: Factory, place: Clinic, **kwargs: object) -> IssuedDocument:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        return await services.issue_for_invoice(session, practice, visit_charges(place, **kwargs))  # type: ignore[arg-type]


async def test_invoice_receipt_is_404_before_issue_then_the_same_bytes_every_time(
    client: HttpClient, factory: Factory
) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    missing = await client.get(f"/api/v1/invoices/{uuid.uuid4()}/receipt.pdf", headers=staff.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    receipt = await _receipt(factory, place)
    first = await client.get(f"/api/v1/invoices/{receipt.invoice_id}/receipt.pdf", headers=staff.headers)
    second = await client.get(f"/api/v1/invoices/{receipt.invoice_id}/receipt.pdf", headers=staff.headers)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/pdf"
    assert first.headers["x-document-number"] == "R-000001"
    assert first.content == second.content
    assert first.content.startswith(b"%PDF")
    copy = await client.get(f"/api/v1/invoices/{receipt.invoice_id}/receipt.pdf?copy=true", headers=staff.headers)
    assert "COPY" in pdf_text(copy.content)
    assert "COPY" not in pdf_text(first.content)


async def test_statement_superbill_and_credit_note_pdfs_for_staff(client: HttpClient, factory: Factory) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    from tests.integration.test_documents_issue import _appointment

    appointment_id = await _appointment(factory, place)
    no_superbill = await client.get(f"/api/v1/appointments/{appointment_id}/superbill.pdf", headers=staff.headers)
    assert no_superbill.status_code == 404
    receipt = await _receipt(factory, place, appointment_id=appointment_id)

    statement = await client.get(f"/api/v1/clients/{place.client.id}/statements/2026.pdf", headers=staff.headers)
    assert statement.status_code == 200
    assert "ST-000001" in pdf_text(statement.content)
    again = await client.get(f"/api/v1/clients/{place.client.id}/statements/2026.pdf", headers=staff.headers)
    assert again.content == statement.content

    superbill = await client.get(f"/api/v1/appointments/{appointment_id}/superbill.pdf", headers=staff.headers)
    assert superbill.status_code == 200
    assert "SB-000001" in pdf_text(superbill.content)

    created = await client.post(
        f"/api/v1/documents/{receipt.id}/credit-notes",
        json={"amount": 3000, "reason": "Cut short"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["number"] == "CN-000001"
    assert note["references_number"] == "R-000001"
    assert note["total"] == -3000
    pdf = await client.get(f"/api/v1/credit-notes/{note['id']}.pdf", headers=staff.headers)
    assert pdf.status_code == 200
    assert "Correction to receipt R-000001" in pdf_text(pdf.content)  # no money moved: a correction, not a refund
    as_credit_note = await client.get(f"/api/v1/credit-notes/{receipt.id}.pdf", headers=staff.headers)
    assert as_credit_note.status_code == 404  # a receipt is not a credit note

    listed = await client.get(f"/api/v1/clients/{place.client.id}/documents", headers=staff.headers)
    assert [(d["kind"], d["number"]) for d in listed.json()["items"]] == [
        ("receipt", "R-000001"),
        ("statement", "ST-000001"),
        ("superbill", "SB-000001"),
        ("credit_note", "CN-000001"),
    ]
    # These documents were issued without a billing invoice row: the invoice's list does not exist (the flow
    # tests list real invoices' documents).
    by_invoice = await client.get(f"/api/v1/invoices/{receipt.invoice_id}/documents", headers=staff.headers)
    assert by_invoice.status_code == 404


async def test_bad_inputs_get_clear_problems(client: HttpClient, factory: Factory) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    receipt = await _receipt(factory, place)
    bad_year = await client.get(f"/api/v1/clients/{place.client.id}/statements/20x6.pdf", headers=staff.headers)
    assert bad_year.status_code == 400
    assert bad_year.json()["field"] == "year"
    not_pdf = await client.get(f"/api/v1/clients/{place.client.id}/statements/2026.txt", headers=staff.headers)
    assert not_pdf.status_code == 404
    too_much = await client.post(
        f"/api/v1/documents/{receipt.id}/credit-notes", json={"amount": 999_999}, headers=staff.headers
    )
    assert too_much.status_code == 400
    assert too_much.json()["field"] == "amount"
    negative = await client.post(
        f"/api/v1/documents/{receipt.id}/credit-notes", json={"amount": -5}, headers=staff.headers
    )
    assert negative.status_code == 400
    unauthenticated = await client.get(f"/api/v1/invoices/{receipt.invoice_id}/receipt.pdf")
    assert unauthenticated.status_code == 401


async def test_another_practice_cannot_read_our_documents(client: HttpClient, factory: Factory) -> None:
    place = await clinic(factory)
    receipt = await _receipt(factory, place)
    other = await clinic(factory, client_email="zed@example.test")
    outsider = await factory.staff(other.practice)
    for path in [
        f"/api/v1/invoices/{receipt.invoice_id}/receipt.pdf",
        f"/api/v1/documents/{receipt.id}.pdf",
        f"/api/v1/clients/{place.client.id}/documents",
        f"/api/v1/clients/{place.client.id}/statements/2026.pdf",
    ]:
        assert (await client.get(path, headers=outsider.headers)).status_code == 404, path


async def test_signed_link_opens_one_document_until_it_expires(
    client: HttpClient, factory: Factory, settings: Settings
) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    receipt = await _receipt(factory, place)
    made = await client.post(f"/api/v1/documents/{receipt.id}/download-link", headers=staff.headers)
    assert made.status_code == 201
    url = made.json()["url"]
    assert receipt.number not in url
    path = url.removeprefix("http://testserver.local")
    opened = await client.get(path)
    assert opened.status_code == 200
    assert "R-000001" in pdf_text(opened.content)

    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get(path.replace(token, tampered))).status_code == 404
    expired = make_download_token(settings.secret_key, receipt.id, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert (await client.get(f"/p/{place.practice.slug}/documents/{expired}")).status_code == 404
    forged = make_download_token("not-the-secret", receipt.id, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert (await client.get(f"/p/{place.practice.slug}/documents/{forged}")).status_code == 404
    other = await clinic(factory, client_email="zed@example.test")
    assert (await client.get(f"/p/{other.practice.slug}/documents/{token}")).status_code == 404


async def test_client_sees_and_downloads_only_their_own_documents_in_the_portal(
    client: HttpClient, factory: Factory
) -> None:
    place = await clinic(factory)
    ours = await _receipt(factory, place)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        stranger = Client(first_name="Zed", last_name="Stranger", email="zed@example.test")
        session.add(stranger)
    theirs = await _receipt(factory, Clinic(practice=place.practice, therapist=place.therapist, client=stranger))

    signed_out = await client.get(f"/p/{place.practice.slug}/portal/documents/", follow_redirects=False)
    assert signed_out.status_code == 303

    assert (await follow_sign_in_link(client, await sign_in_link(factory, place))).status_code == 303
    page = await client.get(f"/p/{place.practice.slug}/portal/documents/")
    assert page.status_code == 200
    assert "R-000001" in page.text
    assert "R-000002" not in page.text
    assert "Date of service Mar 2, 2026 · issued " in page.text  # the US medium date, as Babel writes it
    link = re.search(r'href="(/p/[^"]+/documents/[0-9a-f-]+\.pdf)"', page.text)
    assert link
    own = await client.get(link.group(1))
    assert own.status_code == 200
    assert own.content == (await client.get(f"/p/{place.practice.slug}/portal/documents/{ours.id}.pdf")).content
    foreign = await client.get(f"/p/{place.practice.slug}/portal/documents/{theirs.id}.pdf")
    assert foreign.status_code == 404
    statement = await client.get(f"/p/{place.practice.slug}/portal/documents/statements/2026.pdf")
    assert statement.status_code == 200
    assert "Ada Lovelace" in pdf_text(statement.content)
    assert "Zed" not in pdf_text(statement.content)

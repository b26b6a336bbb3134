"""The FSA/HSA claim packet: one PDF per client and plan year, read back page by page.

A cover whose eligible total equals the eligible amounts of the receipts behind it minus the credit notes, the
letter of medical necessity as stored on the plan, then the very receipt and credit-note PDFs in number order.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from pypdf import PdfReader
from sqlalchemy import select

from billing.documents import claim_packet, services
from billing.documents.models import IssuedDocument
from billing.documents.snapshot import DocumentKind, DocumentLine, LineKind
from scheduler.db import scope_session, session_scope
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.practice.models import Service
from tests.integration.billing_helpers import desk_with_client, past_weekday
from tests.integration.booking_helpers import Client
from tests.integration.conftest import PASSWORD, Factory
from tests.integration.documents_helpers import Clinic, clinic, pdf_text, sign_in_link, visit_charges
from tests.integration.portal_helpers import follow_sign_in_link
from tests.integration.test_documents_delivery import _paid_visit
from tests.integration.test_mail_and_portal import HTML, csrf_of

TODAY = dt.date(2026, 12, 7)
MARCH, APRIL = dt.date(2026, 3, 2), dt.date(2026, 4, 6)
LAST_YEAR = dt.date(2025, 11, 3)


async def _year_of_documents(factory: Factory, place: Clinic) -> dict[str, IssuedDocument]:
    """Three receipts (March, April with a $20 discount, one from 2025), a $30 refund of March, and the LMN."""
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        service = Service(name="Therapeutic massage", duration_minutes=60, price=120_00, cpt_code="97124")
        session.add(service)
        await session.flush()
        plan = TreatmentPlan(
            client_id=place.client.id,
            therapist_id=place.therapist.id,
            service_id=service.id,
            sessions=12,
            first_start_local=dt.datetime(2026, 1, 20, 10),
        )
        session.add(plan)
        await session.flush()
        session.add(
            LetterOfMedicalNecessity(
                plan_id=plan.id,
                issuer_name="Dr. Grace Hopper",
                issuer_credential="DC",
                issuer_npi="1122334455",
                issuer_address="44 Harbor Road, Boston, MA 02110",
                signed_on=dt.date(2026, 1, 15),
                expires_on=dt.date(2027, 1, 14),
                condition="Chronic low back pain",
                frequency="Weekly, 60 minutes, for 12 weeks",
            )
        )
        practice = place.practice
        march = await services.issue_for_invoice(session, practice, visit_charges(place, day=MARCH))
        discount = DocumentLine(
            service_date=APRIL, description="Loyalty discount", amount=-20_00, kind=LineKind.DISCOUNT
        )
        april = await services.issue_for_invoice(session, practice, visit_charges(place, day=APRIL, extra=(discount,)))
        old = await services.issue_for_invoice(session, practice, visit_charges(place, day=LAST_YEAR))
        note = await services.issue_credit_note(session, practice, march, amount=30_00, reason="goodwill")
        return {"march": march, "april": april, "old": old, "note": note}


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


async def test_the_packet_is_a_cover_the_lmn_and_every_receipt_and_credit_note_of_the_year_in_number_order(
    factory: Factory,
) -> None:
    place = await clinic(factory)
    issued = await _year_of_documents(factory, place)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        packet = await claim_packet.issue_claim_packet(session, place.practice, place.client, 2026, today=TODAY)
        assert packet.number == "CP-000001"
        pdf = await services.document_pdf(session, packet)
        parts = {
            name: await services.document_pdf(session, await services.get_document(session, doc.id))
            for name, doc in issued.items()
        }
        again = await claim_packet.issue_claim_packet(session, place.practice, place.client, 2026, today=TODAY)
    assert again.id == packet.id, "asked again with nothing changed, the same packet"

    pages = _pages(pdf)
    receipts = [issued["march"], issued["april"]]
    eligible = sum(r.snapshot.eligible_subtotal for r in receipts) + issued["note"].snapshot.eligible_subtotal
    assert eligible == 120_00 + 100_00 - 30_00
    cover = pages[0]
    assert "FSA/HSA CLAIM PACKET" in cover.upper()
    assert "No. CP-000001" in cover
    assert re.search(r"Eligible total to claim \$190\.00 \$190\.00", cover), cover
    assert "Mar 2, 2026" in cover
    assert "Apr 6, 2026" in cover
    assert "EIN 12-3456789" in cover
    assert "NPI 1234567893" in cover
    assert "Dr. Grace Hopper, DC" in cover
    assert "Jan 15, 2026 to Jan 14, 2027" in cover
    assert "R-000003" not in cover, "a receipt dated in 2025 is not in the 2026 packet"
    lmn_at = next(i for i, page in enumerate(pages) if "Letter of medical necessity on file" in page)
    assert lmn_at == 1, "a cover of two visits fits on one page"
    lmn = pages[lmn_at]
    for stored in ("Chronic low back pain", "Weekly, 60 minutes, for 12 weeks", "44 Harbor Road", "1122334455"):
        assert stored in lmn

    expected = [parts["march"], parts["april"], parts["note"]]
    assert len(pages) == 2 + sum(len(_pages(part)) for part in expected)
    assert pages[2:] == [text for part in expected for text in _pages(part)], "the issued PDFs, in number order"
    numbers = [re.search(r"No\. ((?:R|CN)-\d{6})", page) for page in pages[2:]]
    assert [m.group(1) for m in numbers if m] == ["R-000001", "R-000002", "CN-000001"]


async def test_a_new_receipt_makes_a_new_packet_and_the_first_stays_as_issued(factory: Factory) -> None:
    place = await clinic(factory)
    await _year_of_documents(factory, place)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        first = await claim_packet.issue_claim_packet(session, place.practice, place.client, 2026, today=TODAY)
        first_pdf = await services.document_pdf(session, first)
        await services.issue_for_invoice(session, place.practice, visit_charges(place, day=dt.date(2026, 5, 4)))
        second = await claim_packet.issue_claim_packet(session, place.practice, place.client, 2026, today=TODAY)
        second_pdf = await services.document_pdf(session, second)
        assert await services.document_pdf(session, first) == first_pdf
    assert second.number == "CP-000002"
    assert "Eligible total to claim $310.00" in _pages(second_pdf)[0]
    assert "R-000004" not in pdf_text(first_pdf)


async def test_the_portal_and_the_desk_download_the_packet_and_an_empty_or_future_year_is_404(
    client: Client, factory: Factory
) -> None:
    place = await clinic(factory)
    await _year_of_documents(factory, place)
    assert (await follow_sign_in_link(client, await sign_in_link(factory, place))).status_code == 303
    portal = f"/p/{place.practice.slug}/portal/documents"
    page = await client.get(portal + "/")
    assert f'href="/p/{place.practice.slug}/portal/documents/claim-packets/2026.pdf"' in page.text
    this_year = dt.datetime.now(dt.UTC).year
    if this_year == 2026:
        downloaded = await client.get(portal + "/claim-packets/2026.pdf")
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.headers["content-type"] == "application/pdf"
        assert "No. CP-000001" in pdf_text(downloaded.content)

    empty = await client.get(portal + "/claim-packets/2024.pdf")
    assert empty.status_code == 404
    assert "no receipts or credit notes with a date of service in the 2024 plan year" in empty.json()["detail"]
    future = await client.get(portal + f"/claim-packets/{this_year + 1}.pdf")
    assert future.status_code == 404
    assert "has not started yet" in future.json()["detail"]
    last = await client.get(portal + "/claim-packets/9999.pdf")  # its plan year would end in year 10000
    assert last.status_code == 400
    assert last.json()["field"] == "year"
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        packets = await session.scalars(select(IssuedDocument).where(IssuedDocument.kind == DocumentKind.CLAIM_PACKET))
        assert len(list(packets)) == (1 if this_year == 2026 else 0), "a 404 is never a numbered document"


async def test_the_desk_downloads_a_clients_claim_packet(client: Client, factory: Factory) -> None:
    desk = await desk_with_client(client, factory)
    await _paid_visit(client, desk)
    form = await client.get("/login")
    signed_in = await client.post(
        "/login",
        data={"email": desk.staff.user.email, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        headers=HTML,
    )
    assert signed_in.status_code in {200, 303}
    year = past_weekday().year
    page = await client.get(f"/staff/clients/{desk.client_id}/documents")
    assert f'href="/staff/clients/{desk.client_id}/claim-packets/{year}.pdf"' in page.text
    packet = await client.get(f"/staff/clients/{desk.client_id}/claim-packets/{year}.pdf")
    assert packet.status_code == 200, packet.text
    text = pdf_text(packet.content)
    assert "No. CP-000001" in text
    assert "No. R-000001" in text
    assert "No letter of medical necessity on file for this plan year" in " ".join(text.split())

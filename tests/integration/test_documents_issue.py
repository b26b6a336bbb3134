"""Issuing receipts, acknowledgements, credit notes, statements and superbills; what their PDFs say."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.documents import services, statements
from billing.documents.models import DocumentImmutable, DocumentRendition, IssuedDocument
from billing.documents.snapshot import DocumentKind, DocumentLine, LineKind, Tender
from scheduler.db import scope_session, session_scope
from scheduler.errors import InvalidInput, NotFound
from scheduler.practice.models import Practice
from tests.integration.conftest import Factory
from tests.integration.documents_helpers import VISIT_DAY, Clinic, clinic, pdf_text, visit_charges


async def _pdf(factory: Factory, document: IssuedDocument, *, copy: bool = False) -> bytes:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, document.practice_id)
        return await services.document_pdf(session, document, copy=copy)


async def _text(factory: Factory, document: IssuedDocument) -> str:
    return pdf_text(await _pdf(factory, document))


async def _issue(factory: Factory, place: Clinic, **kwargs: object) -> IssuedDocument:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        return await services.issue_for_invoice(session, practice, visit_charges(place, **kwargs))  # type: ignore[arg-type]


async def test_receipt_pdf_prints_every_field_fsa_administrators_ask_for(factory: Factory) -> None:
    place = await clinic(factory)
    receipt = await _issue(factory, place)
    assert receipt.kind == DocumentKind.RECEIPT
    assert receipt.number == "R-000001"
    text_ = await _text(factory, receipt)
    for expected in [
        "Harbor Therapeutic Massage LLC",  # practice name as registered
        "120 Atlantic Avenue, Suite 4",
        "Boston, MA 02110",
        "Phone (617) 555-0142",
        "EIN 12-3456789",
        "NPI 1234567893",
        "Ada Lovelace",  # the person treated
        "9 Beacon Street",
        "Sam Rivera, LMT",
        "Licence MA MT-20417",
        "No. R-000001",
        "Mar 2, 2026",  # date of service on the line
        "Therapeutic massage, 60 min",
        "97124",
        "M54.50, M62.830",
        "$120.00",
        "Eligible subtotal",
        "Not eligible subtotal",
        "$43.00",  # tip + retail, apart
        "Visa ending 4242",
        "$163.00",
        "Balance due",
        "LMN on file, signed January 15, 2026 by Dr. Grace Hopper, DC",
    ]:
        assert expected in text_, expected
    assert "4242" in text_
    assert "4242 4242" not in text_
    # minutes 60 and 4 units by the 8-minute rule sit on the massage line
    massage_line = next(line for line in text_.splitlines() if "Therapeutic massage" in line)
    assert "60 97124 4" in massage_line
    assert await _pdf(factory, receipt) == await _pdf(factory, receipt)


async def test_a_reprint_is_marked_copy_and_stored_once(factory: Factory) -> None:
    place = await clinic(factory)
    receipt = await _issue(factory, place)
    original = await _pdf(factory, receipt)
    copy = await _pdf(factory, receipt, copy=True)
    assert copy != original
    assert await _pdf(factory, receipt, copy=True) == copy
    assert "COPY" in pdf_text(copy)
    assert "COPY" not in pdf_text(original)
    assert pdf_text(copy).replace("COPY · reprint of the original\n", "").replace("COPY\n", "") == pdf_text(original)


async def test_eligible_subtotal_leaves_out_tips_retail_and_gift_cards(factory: Factory) -> None:
    place = await clinic(factory)
    gift = DocumentLine(service_date=VISIT_DAY, description="Gift card", amount=50_00, kind=LineKind.GIFT_CARD)
    receipt = await _issue(factory, place, extra=(gift,))
    snapshot = receipt.snapshot
    assert snapshot.eligible_subtotal == 120_00
    assert snapshot.ineligible_subtotal == 93_00
    text_ = await _text(factory, receipt)
    eligible_part, ineligible_part = text_.split("NOT ELIGIBLE FOR FSA/HSA", 1)
    assert "Gratuity" not in eligible_part
    assert "Gratuity" in ineligible_part
    assert "Gift card" in ineligible_part
    assert "Eligible subtotal $120.00" in eligible_part


async def test_no_show_fee_never_appears_on_a_receipt_or_superbill(factory: Factory) -> None:
    place = await clinic(factory)
    fee = DocumentLine(service_date=VISIT_DAY, description="No-show fee", amount=60_00, kind=LineKind.NO_SHOW_FEE)
    receipt = await _issue(factory, place, extra=(fee,), paid=223_00, appointment_id=await _appointment(factory, place))
    assert "No-show" not in await _text(factory, receipt)
    assert all(line.kind != LineKind.NO_SHOW_FEE for line in receipt.snapshot.lines)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        superbill = await statements.issue_superbill(session, practice, place.client, receipt.appointment_id)  # type: ignore[arg-type]
    assert "No-show" not in await _text(factory, superbill)


async def test_package_purchase_gets_a_payment_acknowledgement_not_a_receipt(factory: Factory) -> None:
    place = await clinic(factory)
    charges = visit_charges(place)
    package = DocumentLine(
        service_date=VISIT_DAY, description="5 x Therapeutic massage, 60 min", amount=550_00, kind=LineKind.PACKAGE
    )
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        ack = await services.issue_for_invoice(
            session,
            practice,
            services.VisitCharges(
                invoice_id=uuid.uuid4(),
                client=place.client,
                lines=(package,),
                tenders=(Tender(method="card", amount=550_00, card_brand="mastercard", card_last4="4444"),),
            ),
        )
        visit = await services.issue_for_invoice(
            session,
            practice,
            services.VisitCharges(
                invoice_id=uuid.uuid4(),
                client=place.client,
                therapist=place.therapist,
                lines=(
                    DocumentLine(
                        service_date=VISIT_DAY,
                        description="Therapeutic massage, 60 min (package session)",
                        amount=110_00,
                        minutes=60,
                        cpt_code="97124",
                    ),
                ),
                tenders=(Tender(method="package", amount=110_00),),
                lmn=charges.lmn,
                package_sessions_remaining=4,
            ),
        )
    assert ack.kind == DocumentKind.PAYMENT_ACK
    assert ack.number == "PA-000001"
    assert "NOT A MEDICAL RECEIPT" in await _text(factory, ack)
    assert visit.number == "R-000001"
    visit_text = await _text(factory, visit)
    assert "Sessions remaining: 4" in visit_text
    assert "$110.00" in visit_text


async def test_settling_the_same_invoice_twice_issues_one_receipt(factory: Factory) -> None:
    place = await clinic(factory)
    charges = visit_charges(place)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        first = await services.issue_for_invoice(session, practice, charges)
        second = await services.issue_for_invoice(session, practice, charges)
    assert first.id == second.id


async def _appointment(factory: Factory, place: Clinic) -> uuid.UUID:
    from scheduler.booking.models import Appointment, AppointmentStatus
    from scheduler.practice.models import Service

    start = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        service = Service(name="Therapeutic massage", duration_minutes=60, price=120_00, cpt_code="97124")
        session.add(service)
        await session.flush()
        appointment = Appointment(
            client_id=place.client.id,
            therapist_id=place.therapist.id,
            service_id=service.id,
            start_at=start,
            end_at=start + dt.timedelta(hours=1),
            block_start=start,
            block_end=start + dt.timedelta(hours=1),
            status=AppointmentStatus.COMPLETED,
        )
        session.add(appointment)
        await session.flush()
        return appointment.id


async def test_two_first_downloads_at_once_store_one_pdf_and_both_serve_it(factory: Factory) -> None:
    place = await clinic(factory)
    receipt = await _issue(factory, place)
    first, second = await asyncio.gather(_pdf(factory, receipt), _pdf(factory, receipt))
    assert first == second
    assert first == await _pdf(factory, receipt)
    async with factory.alchemy.get_session() as session:
        scope_session(session, place.practice.id)
        renditions = list(await session.scalars(select(DocumentRendition.id)))
    assert len(renditions) == 1


# --- immutability -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE issued_document SET number = 'R-999999'",
        "UPDATE issued_document SET snapshot_json = '{}'",
        "UPDATE document_rendition SET is_copy = NOT is_copy",
        "DELETE FROM document_rendition",
        "DELETE FROM issued_document",
    ],
)
async def test_sql_changes_to_an_issued_receipt_are_refused_by_the_database(
    factory: Factory, engine: AsyncEngine, statement: str
) -> None:
    place = await clinic(factory)
    receipt = await _issue(factory, place)
    original = await _pdf(factory, receipt)
    with pytest.raises((IntegrityError, DBAPIError), match="immutable"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT number, snapshot_json FROM issued_document"))).one()
        stored = (await conn.execute(text("SELECT pdf FROM document_rendition"))).scalar_one()
    assert tuple(row) == ("R-000001", receipt.snapshot_json)
    assert stored == original


async def test_changing_or_deleting_an_issued_receipt_through_the_orm_is_refused(factory: Factory) -> None:
    place = await clinic(factory)
    await _issue(factory, place)
    async with factory.alchemy.get_session() as session:
        scope_session(session, place.practice.id)
        receipt = await session.scalar(select(IssuedDocument))
        assert receipt is not None
        receipt.snapshot_json = "{}"
        with pytest.raises(DocumentImmutable):
            await session.flush()
        await session.rollback()
        receipt = await session.scalar(select(IssuedDocument))
        assert receipt is not None
        await session.delete(receipt)
        with pytest.raises(DocumentImmutable):
            await session.flush()
        await session.rollback()


async def test_a_refund_issues_a_credit_note_and_leaves_the_receipt_untouched(factory: Factory) -> None:
    place = await clinic(factory)
    receipt = await _issue(factory, place)
    before = await _pdf(factory, receipt)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        note = await services.issue_credit_note(
            session,
            practice,
            receipt,
            amount=40_00,
            reason="Session cut short",
            tenders=(Tender(method="card", amount=-40_00, card_brand="visa", card_last4="4242"),),
        )
        with pytest.raises(InvalidInput) as too_much:
            await services.issue_credit_note(session, practice, receipt, amount=123_01, reason="")
        assert too_much.value.field == "amount"
    assert note.number == "CN-000001"
    assert note.references_id == receipt.id
    text_ = await _text(factory, note)
    assert "Credit note for receipt R-000001" in text_
    assert "-$40.00" in text_
    assert "Session cut short" in text_
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        again = await session.get_one(IssuedDocument, receipt.id)
        assert again.snapshot_json == receipt.snapshot_json
        assert again.number == "R-000001"
    assert await _pdf(factory, receipt) == before


# --- numbering ----------------------------------------------------------------------------------------------------


async def test_fifty_concurrent_settlements_get_fifty_consecutive_receipt_numbers(factory: Factory) -> None:
    place = await clinic(factory)
    other = await clinic(factory, client_email="other@example.test")

    async def settle(target: Clinic) -> str:
        async with session_scope(factory.alchemy) as session:
            scope_session(session, target.practice.id)
            practice = await session.get_one(Practice, target.practice.id)
            document = await services.issue_for_invoice(session, practice, visit_charges(target))
            return document.number

    numbers = await asyncio.gather(*(settle(place) for _ in range(50)), *(settle(other) for _ in range(3)))
    ours = sorted(numbers[:50])
    assert ours == [f"R-{n:06d}" for n in range(1, 51)]
    assert sorted(numbers[50:]) == ["R-000001", "R-000002", "R-000003"]  # another practice counts on its own


async def test_a_rolled_back_issue_leaves_no_gap(factory: Factory) -> None:
    place = await clinic(factory)
    async with factory.alchemy.get_session() as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        abandoned = await services.issue_for_invoice(session, practice, visit_charges(place))
        assert abandoned.number == "R-000001"
        await session.rollback()
    receipt = await _issue(factory, place)
    assert receipt.number == "R-000001"


# --- statements and superbills ---------------------------------------------------------------------------------


async def test_year_end_statement_lists_every_eligible_service_of_the_year(factory: Factory) -> None:
    place = await clinic(factory)
    await _issue(factory, place, day=dt.date(2025, 12, 30))
    first = await _issue(factory, place, day=dt.date(2026, 1, 20))
    await _issue(factory, place, day=dt.date(2026, 3, 2), paid=100_00)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        await services.issue_credit_note(session, practice, first, amount=20_00, reason="goodwill")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        statement = await statements.issue_statement(session, practice, place.client, 2026)
        again = await statements.issue_statement(session, practice, place.client, 2026)
    assert again.id == statement.id  # nothing changed: the same document, the same bytes
    snapshot = statement.snapshot
    assert [line.service_date for line in snapshot.lines] == [dt.date(2026, 1, 20)] * 2 + [dt.date(2026, 3, 2)]
    assert snapshot.total == 120_00 - 20_00 + 120_00
    # the March visit: $163 charged, $100 paid -> $63 owed, all of it on the eligible massage line
    assert snapshot.paid == 120_00 - 20_00 + 57_00
    text_ = await _text(factory, statement)
    for expected in [
        "FSA/HSA year-end statement",
        "ST-000001",
        "ELIGIBLE SERVICES IN 2026",
        "Jan 20, 2026",
        "Mar 2, 2026",
        "97124",
        "Sam Rivera, LMT",
        "R-000002",
        "CN-000001",
        "$220.00",
        "$157.00",
        "Date of birth May 17, 1980",
        "LMN on file, signed January 15, 2026 by Dr. Grace Hopper, DC",
        "Harbor Therapeutic Massage LLC",
        "EIN 12-3456789",
    ]:
        assert expected in text_, expected
    assert "Dec 30, 2025" not in text_
    assert "Gratuity" not in text_
    assert "lotion" not in text_


async def test_statement_after_a_new_visit_is_a_new_numbered_document(factory: Factory) -> None:
    place = await clinic(factory)
    await _issue(factory, place, day=dt.date(2026, 1, 20))
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        first = await statements.issue_statement(session, practice, place.client, 2026)
    await _issue(factory, place, day=dt.date(2026, 2, 20))
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        second = await statements.issue_statement(session, practice, place.client, 2026)
    assert (first.number, second.number) == ("ST-000001", "ST-000002")
    assert len(second.snapshot.lines) == 2


async def test_superbill_prints_the_cms_1500_fields(factory: Factory) -> None:
    place = await clinic(factory)
    appointment_id = await _appointment(factory, place)
    await _issue(factory, place, appointment_id=appointment_id)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        superbill = await statements.issue_superbill(session, practice, place.client, appointment_id)
    text_ = await _text(factory, superbill)
    for expected in [
        "Superbill",
        "SB-000001",
        "Ada Lovelace",
        "Date of birth May 17, 1980",
        "9 Beacon Street",
        "Sam Rivera, LMT",
        "NPI 1987654321",
        "Licence MA MT-20417",
        "Harbor Therapeutic Massage LLC",
        "Phone (617) 555-0142",
        "EIN 12-3456789",
        "Dr. Grace Hopper, DC",
        "NPI 1122334455",  # referring provider from the LMN (box 17)
        "A. M54.50",
        "B. M62.830",
        "03/02/2026 11 97124",
        "AB 4 $120.00",  # date, place of service, CPT ... pointer, units, charge
        "Total charge (28) $120.00",
        "Amount paid (29) $120.00",
        "Signature of rendering provider",
    ]:
        assert expected in text_, expected
    assert "Gratuity" not in text_


async def test_superbill_before_the_receipt_is_not_found(factory: Factory) -> None:
    place = await clinic(factory)
    appointment_id = await _appointment(factory, place)
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        with pytest.raises(NotFound):
            await statements.issue_superbill(session, practice, place.client, appointment_id)
